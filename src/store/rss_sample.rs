//! One sample of the watched process's resident memory.

use serde::Serialize;

/// Resident memory of the program, from /proc (KiB as the kernel reports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RssSample {
    /// Seconds since the program started (the trace's timeline).
    pub t_s: f64,
    /// VmRSS
    pub rss_kib: u64,
    /// RssAnon
    pub anon_kib: Option<u64>,
    /// RssFile
    pub file_kib: Option<u64>,
    /// LazyFree from smaps_rollup: freed with MADV_FREE, still counted in RSS
    /// until the kernel needs the memory.
    pub lazyfree_kib: Option<u64>,
}
