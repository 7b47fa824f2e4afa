//! The state gcviz keeps: every record and sample in a bounded history
//! (`history`, downsampled per level), the hub that publishes them to the
//! page's streams (`hub`), the columns a page asks for (`snapshot`), the
//! verdict headline (`verdict`), the totals behind /metrics (`metrics`) and
//! the `--mark` patterns (`marks`).
//!
//! In: typed events from `crate::trace`, RSS samples, profiles. Out:
//! snapshots, live events, totals. Never: block a writer on a reader (the
//! hub's locks are held for a publish, not for I/O), grow without bound, or
//! touch I/O.

pub mod history;
pub mod hub;
pub mod marks;
pub mod metrics;
pub mod rss_sample;
pub mod snapshot;
pub mod verdict;
