//! Heap profiles and goroutine counts from the program's `net/http/pprof`,
//! beside the GC trace: where the live heap grows, not only that it grows.
//!
//! What enters: the endpoint (given with `--pprof`, or found among the
//! program's own listening ports), and from it gzipped heap profiles and
//! goroutine totals. What leaves: a bounded store of reduced profiles and
//! counts in the hub, and the difference between two profiles. The pure
//! parts (decoding, reduction, diff, the bounded store, pacing) are in
//! `crate::profile`, and the parsers of [`discover`] touch no I/O;
//! [`sampler`] and [`http`] do, on their own task, and must never make the
//! program wait.

pub mod discover;
pub mod http;
pub mod sampler;
