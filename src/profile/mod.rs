//! Heap profiles, pure: profile.proto decoded (`proto`, prost structs),
//! reduced to what the page needs per function and per call path
//! (`reduce`), two compared (`diff`), a bounded, thinned set kept (`store`),
//! and when to take the next one (`pace`). The fetching is in
//! `crate::input::pprof`.
//!
//! In: gzipped profile bytes, times. Out: reduced tables and diffs.
//! Never: touch I/O, or keep more than its bounds.

pub mod diff;
pub mod pace;
pub mod proto;
pub mod reduce;
pub mod store;

use serde::Serialize;

/// What the header says of the pprof endpoint.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PprofStatus {
    /// "searching" (looking at the program's ports), "found", "failing",
    /// "none" (the program exited and none of its ports served pprof).
    pub state: &'static str,
    /// "given" (`--pprof`) or "found" (discovered).
    pub how: Option<&'static str>,
    pub endpoint: Option<String>,
    pub every_s: f64,
    /// Profiles read so far.
    pub profiles: u64,
    /// The last failure, while failing.
    pub error: Option<String>,
}
