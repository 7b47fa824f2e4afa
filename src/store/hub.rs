//! The meeting point of ingestion and the page: history plus a broadcast of
//! new records. Publishing never waits for a client: the lock is held only to
//! append (ingestion appends a chunk's records under one lock), and the
//! broadcast drops (and counts) what a slow client missed.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::profile::PprofStatus;
use crate::profile::reduce::Reduced;
use crate::profile::store::{Goroutines, Meta, Reason, Store};
use crate::store::history::{History, HistoryLimits, Row, Stamped};
use crate::store::marks::{Mark, Marks};
use crate::store::metrics::Totals;
use crate::store::rss_sample::RssSample;
use crate::trace::Stats;
use crate::trace::clock::Anchor;
use crate::trace::event::Event;

/// What the page shows in its header.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Status {
    /// "wrap", "pipe" or "demo".
    pub mode: &'static str,
    pub command: Option<String>,
    /// The Go version in the program's build information, when gcviz could
    /// read its binary.
    pub go_version: Option<String>,
    pub pid: Option<u32>,
    /// "running", "exited" (the program) or "eof" (the input ended).
    pub state: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub counts: Counts,
    pub env: Env,
    /// Window of the GC CPU and frequency figures, in seconds.
    pub window_s: f64,
    /// Outputs gcviz could not write and stopped writing (the pass-through,
    /// the `--record` file), one sentence each.
    pub errors: Vec<String>,
    /// What to check when no trace has arrived (not a Go program? `2>&1`
    /// forgotten?); none once a record is seen.
    pub hint: Option<String>,
    /// The program's pprof endpoint, when gcviz reads (or looks for) one.
    pub pprof: Option<PprofStatus>,
}

/// The Go settings that explain a heap goal, as seen in the environment.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[allow(non_snake_case)]
pub struct Env {
    pub GOGC: Option<String>,
    pub GOMEMLIMIT: Option<String>,
    pub GODEBUG: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    pub records: u64,
    pub gc: u64,
    pub scav: u64,
    /// Records rebuilt after the program's own writes tore them apart.
    pub repaired: u64,
    /// Text that began like a record but could not be rebuilt (passed through).
    pub unresolved: u64,
    /// gc cycles missing between consecutive numbers.
    pub gaps: u64,
    pub long_lines: u64,
    /// Live updates that slow pages missed (each such page resynchronised).
    pub dropped: u64,
    /// Pages connected now.
    pub clients: u64,
}

/// A message to live clients.
#[derive(Debug, Clone)]
pub enum Live {
    Record(Arc<LiveRecord>),
    Rss(Arc<RssSample>),
    Status(Arc<Status>),
    /// A line of the program's output matched a mark pattern.
    Mark(Arc<Mark>),
    /// The mark patterns changed: pages fetch the marks again.
    Marks,
    /// A goroutine count from the program's pprof endpoint.
    Goroutines(Goroutines),
    /// A heap profile was taken (the page fetches the diff it needs).
    Profile(Arc<Meta>),
}

/// A record on its way to live pages: the event, and its wire form made by
/// the first page that sends it and reused by all the others.
#[derive(Debug)]
pub struct LiveRecord {
    event: Stamped,
    wire: OnceLock<Box<str>>,
}

impl LiveRecord {
    pub fn new(event: Stamped) -> Self {
        LiveRecord {
            event,
            wire: OnceLock::new(),
        }
    }

    /// The wire form, made by `render` the first time it is asked for.
    pub fn wire(&self, render: impl FnOnce(&Stamped) -> String) -> &str {
        self.wire.get_or_init(|| render(&self.event).into())
    }
}

impl Deref for LiveRecord {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

struct State {
    history: History,
    status: Status,
    marks: Marks,
    totals: Totals,
}

struct Inner {
    state: Mutex<State>,
    /// Where the records' wall clock comes from (set before ingestion starts).
    anchor: Mutex<Anchor>,
    /// Heap profiles and goroutine counts: apart from the history, so a
    /// page reading a diff never holds up ingestion.
    pprof: Mutex<Store>,
    tx: broadcast::Sender<Live>,
}

/// Cheap to clone; every clone is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// Publishes records while holding the history: see [`Hub::publisher`].
pub struct Publisher<'a> {
    state: MutexGuard<'a, State>,
    tx: &'a broadcast::Sender<Live>,
    live: bool,
}

impl Publisher<'_> {
    pub fn publish(&mut self, event: Arc<Event>) {
        self.publish_at(event, None);
    }

    /// Publishes a record with its wall-clock time (Unix seconds).
    pub fn publish_at(&mut self, event: Arc<Event>, wall_s: Option<f64>) {
        self.state.marks.record(event.t_s, wall_s);
        let e = Stamped { event, wall_s };
        self.state.totals.add(&e.event);
        if self.live {
            self.state.history.push_stamped(e.clone());
            let _ = self.tx.send(Live::Record(Arc::new(LiveRecord::new(e))));
        } else {
            self.state.history.push_stamped(e);
        }
    }

    /// The program's own text, for the mark patterns.
    #[inline]
    pub fn text(&mut self, bytes: &[u8]) {
        for m in self.state.marks.text(bytes) {
            let _ = self.tx.send(Live::Mark(Arc::new(m)));
        }
    }

    /// Copies the scanner's counters into the status.
    pub fn set_stats(&mut self, s: &Stats) {
        let c = &mut self.state.status.counts;
        c.records = s.records;
        c.gc = s.gc;
        c.scav = s.scav + s.scvg;
        c.repaired = s.repaired;
        c.unresolved = s.unresolved;
        c.gaps = s.gaps;
        c.long_lines = s.long_lines;
        if s.records > 0 {
            // The trace came after all: the hint no longer applies.
            self.state.status.hint = None;
        }
    }
}

/// Live messages buffered per client before it counts as fallen behind.
const CLIENT_BUFFER: usize = 8192;

impl Hub {
    pub fn new(limits: HistoryLimits, status: Status) -> Self {
        let (tx, _) = broadcast::channel(CLIENT_BUFFER);
        Hub {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    history: History::new(limits),
                    status,
                    marks: Marks::default(),
                    totals: Totals::default(),
                }),
                anchor: Mutex::new(Anchor::None),
                pprof: Mutex::new(Store::default()),
                tx,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the history torn in a
        // way that matters more than losing the page; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, event: Event) {
        self.publish_shared(Arc::new(event));
    }

    pub fn publish_shared(&self, event: Arc<Event>) {
        self.publisher().publish(event);
    }

    /// Holds the history for a run of records (one chunk of input), so each
    /// record costs no lock of its own. Pages wait for the history at most
    /// that long.
    pub fn publisher(&self) -> Publisher<'_> {
        Publisher {
            state: self.state(),
            tx: &self.inner.tx,
            // A page that subscribes after this takes its snapshot after this
            // run, and the snapshot holds the run's records: none is lost by
            // not broadcasting to nobody.
            live: self.inner.tx.receiver_count() > 0,
        }
    }

    pub fn publish_rss(&self, sample: RssSample) {
        {
            let mut st = self.state();
            st.totals.rss(&sample);
            st.history.push_rss(sample.clone());
        }
        let _ = self.inner.tx.send(Live::Rss(Arc::new(sample)));
    }

    /// Changes the status; `announce` sends it to live clients now.
    pub fn update_status(&self, announce: bool, f: impl FnOnce(&mut Status)) {
        let status = {
            let mut st = self.state();
            f(&mut st.status);
            announce.then(|| Arc::new(st.status.clone()))
        };
        if let Some(s) = status {
            let _ = self.inner.tx.send(Live::Status(s));
        }
    }

    /// Copies the scanner's counters into the status (not announced: the
    /// server sends the status periodically).
    pub fn set_stats(&self, s: &Stats) {
        self.publisher().set_stats(s);
    }

    /// Adds a mark pattern (a regular expression); the kept lines that match
    /// are marked at once.
    pub fn add_mark(&self, pattern: &str) -> Result<(), String> {
        self.state().marks.add(pattern)?;
        let _ = self.inner.tx.send(Live::Marks);
        Ok(())
    }

    /// Removes a mark pattern and its marks; false if it was not set.
    pub fn remove_mark(&self, pattern: &str) -> bool {
        let removed = self.state().marks.remove(pattern);
        if removed {
            let _ = self.inner.tx.send(Live::Marks);
        }
        removed
    }

    /// The mark patterns, the marks (oldest first) and how many were dropped.
    pub fn marks(&self) -> (Vec<String>, Vec<Mark>, u64) {
        let st = self.state();
        let m = &st.marks;
        (m.patterns(), m.marks().cloned().collect(), m.dropped)
    }

    /// Where the wall clock of records comes from: set by the mode before
    /// ingestion starts.
    pub fn set_clock_anchor(&self, anchor: Anchor) {
        *self.inner.anchor.lock().unwrap_or_else(|e| e.into_inner()) = anchor;
    }

    pub fn clock_anchor(&self) -> Anchor {
        *self.inner.anchor.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> Status {
        self.state().status.clone()
    }

    /// The status and the metric totals, taken together.
    pub fn metrics(&self) -> (Status, Totals) {
        let st = self.state();
        (st.status.clone(), st.totals.clone())
    }

    /// Live messages from now on. Subscribe before taking a snapshot and skip
    /// records below its `next_seq`, so nothing is missed or doubled.
    pub fn subscribe(&self) -> broadcast::Receiver<Live> {
        self.inner.tx.subscribe()
    }

    /// Status, rows of the whole run in about `points` rows per kind, and
    /// the seq the next record will have.
    pub fn snapshot(&self, points: usize) -> (Status, Vec<Row>, u64) {
        let st = self.state();
        let rows = st.history.rows(f64::MIN, f64::MAX, points);
        (st.status.clone(), rows, st.history.total())
    }

    pub fn rows(&self, from_s: f64, to_s: f64, points: usize) -> Vec<Row> {
        self.state().history.rows(from_s, to_s, points)
    }

    /// Records from `seq` on, if still kept whole.
    pub fn since(&self, seq: u64) -> Option<Vec<Stamped>> {
        self.state().history.since(seq)
    }

    /// Records from `seq` on, for a page resuming after `seq - 1`: none when
    /// `seq` lies beyond the stream (a page from an earlier run), which
    /// needs a snapshot rather than an empty resume.
    pub fn resume(&self, seq: u64) -> Option<Vec<Stamped>> {
        let st = self.state();
        if seq > st.history.total() {
            return None;
        }
        st.history.since(seq)
    }

    /// One record, if still kept whole.
    pub fn record(&self, seq: u64) -> Option<Stamped> {
        self.state().history.get(seq).cloned()
    }

    /// Every record kept whole.
    pub fn recent(&self) -> Vec<Stamped> {
        self.state().history.recent().cloned().collect()
    }

    /// The live heap of the newest gc record kept whole.
    pub fn latest_heap_live_mb(&self) -> Option<u64> {
        use crate::trace::event::Record;
        self.state()
            .history
            .recent()
            .rev()
            .find_map(|e| match &e.record {
                Record::Gc(g) => Some(g.heap_live_mb),
                Record::LegacyGc(g) => Some(g.heap_live_mb),
                _ => None,
            })
    }

    /// The time of the newest timed record.
    pub fn latest_t_s(&self) -> Option<f64> {
        self.state().history.recent().rev().find_map(|e| e.t_s)
    }

    fn pprof_store(&self) -> MutexGuard<'_, Store> {
        self.inner.pprof.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a heap profile and tells the pages.
    pub fn add_profile(
        &self,
        t_s: f64,
        wall_s: f64,
        reason: Reason,
        heap_live_mb: Option<u64>,
        raw: Arc<[u8]>,
        reduced: Reduced,
    ) -> Meta {
        let meta = self
            .pprof_store()
            .add(t_s, wall_s, reason, heap_live_mb, raw, reduced);
        self.state().totals.heap_profile();
        let _ = self.inner.tx.send(Live::Profile(Arc::new(meta.clone())));
        meta
    }

    /// Keeps a goroutine count and sends it to the pages.
    pub fn add_goroutines(&self, g: Goroutines) {
        self.pprof_store().add_goroutines(g);
        self.state().totals.goroutines(g.count);
        let _ = self.inner.tx.send(Live::Goroutines(g));
    }

    /// Reads the kept profiles and counts (briefly: the sampler waits).
    pub fn with_pprof<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.pprof_store())
    }
}
