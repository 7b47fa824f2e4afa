//! Where the bytes and samples come from: the watched program (`child`:
//! started with the trace on, its stderr pipe, signals), any byte stream
//! (`reader`), the threads that read and scan it into the hub (`ingest`),
//! the `--record` file (`record`), the program's RSS (`rss`) and Go version
//! (`buildinfo`), and its heap profiles (`pprof`).
//!
//! In: file descriptors, /proc, HTTP to the program's own pprof. Out:
//! records and samples published to `crate::store`, the program's text
//! passed through. Never: make the program wait (reads run on their own
//! threads, profiles on their own task with timeouts), or lose a byte of
//! its text.

pub mod buildinfo;
pub mod child;
pub mod ingest;
pub mod pprof;
pub mod reader;
pub mod record;
pub mod rss;
