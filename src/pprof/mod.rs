//! Heap profiles and goroutine counts from the program's `net/http/pprof`,
//! beside the GC trace: where the live heap grows, not only that it grows.
//!
//! What enters: the endpoint (given with `--pprof`, or found among the
//! program's own listening ports), and from it gzipped heap profiles and
//! goroutine totals. What leaves: a bounded store of reduced profiles and
//! counts in the hub, and the difference between two profiles. The pure
//! parts ([`proto`], [`reduce`], [`diff`], [`store`], [`pace`], the
//! parsers of [`discover`]) touch no I/O; [`sampler`] and [`http`] do, on
//! their own task, and must never make the program wait.

pub mod diff;
pub mod discover;
pub mod http;
pub mod pace;
pub mod proto;
pub mod reduce;
pub mod sampler;
pub mod store;

use serde::Serialize;

/// What the header says of the pprof endpoint.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PprofStatus {
    /// "searching" (looking at the program's ports), "found", "failing".
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
