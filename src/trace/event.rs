//! The typed records gcviz extracts from a Go runtime trace, and their one
//! serialised form (the NDJSON of `gcviz parse`, the SSE `record` events).
//!
//! Field names carry their units exactly as the runtime printed them: `_mb` is
//! MiB truncated (`bytes >> 20`), `_kib` is KiB truncated, `_ms` and `_s` are
//! milliseconds and seconds. Nothing is converted, so nothing can be mixed up.

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

/// A short list of durations as printed (`0.021+1.4+0.041`), kept inline so a
/// record costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Terms {
    len: u8,
    values: [f64; 7],
}

impl Terms {
    pub const CAPACITY: usize = 7;

    /// Builds from a slice; `None` when it holds more than [`Terms::CAPACITY`] values.
    pub fn from_slice(values: &[f64]) -> Option<Self> {
        if values.len() > Self::CAPACITY {
            return None;
        }
        let mut out = Terms {
            len: values.len() as u8,
            values: [0.0; 7],
        };
        out.values[..values.len()].copy_from_slice(values);
        Some(out)
    }

    /// The first `len` of `values` (clamped to the capacity).
    pub fn from_parts(values: [f64; 7], len: usize) -> Self {
        Terms {
            len: len.min(Self::CAPACITY) as u8,
            values,
        }
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.values[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn sum(&self) -> f64 {
        self.as_slice().iter().sum()
    }
}

impl Serialize for Terms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for v in self.as_slice() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

/// Which printed shape a gc record had; named after the first Go release that
/// printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GcFormat {
    /// `gc N @Ts P%: 5 clock phases, 7 cpu values` (Go 1.5 only).
    #[serde(rename = "go1.5")]
    Go1_5,
    /// `gc N @Ts P%: 3 clock phases, 5 cpu values, A->B->C MB, G MB goal, N P`.
    #[serde(rename = "go1.6")]
    Go1_6,
    /// As Go 1.6 plus `N MB stacks, N MB globals`.
    #[serde(rename = "go1.18")]
    Go1_18,
}

/// One garbage collection cycle as printed by Go 1.5 and later.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gc {
    pub format: GcFormat,
    /// Cycle number: 1-based and consecutive within one process.
    pub gc: u64,
    /// Start of the cycle, seconds since the process started.
    pub at_s: f64,
    /// The runtime's cumulative GC CPU share since start (truncated percent).
    pub cpu_pct: u64,
    /// Go 1.26+: this cycle also looked for leaked goroutines.
    pub leak_check: bool,
    /// Wall-clock phases as printed: sweep termination (STW), concurrent mark,
    /// mark termination (STW); Go 1.5 prints five.
    pub clock_ms: Terms,
    /// CPU time as printed: sweep termination, assist / background / idle mark,
    /// mark termination (Go 1.5 has two more leading terms).
    pub cpu_ms: Terms,
    pub heap_start_mb: u64,
    pub heap_end_mb: u64,
    /// Live heap marked by this cycle: the leak indicator.
    pub heap_live_mb: u64,
    pub heap_goal_mb: u64,
    pub stacks_mb: Option<u64>,
    pub globals_mb: Option<u64>,
    /// GOMAXPROCS at the start of the cycle.
    pub procs: u64,
    /// `runtime.GC()` or `debug.FreeOSMemory()` (Go 1.9+; before 1.9 also every
    /// GC under gcstoptheworld).
    pub forced: bool,
    /// Stop-the-world time: the sum of the stop-the-world clock phases.
    #[serde(serialize_with = "derived")]
    pub stw_ms: f64,
    /// Concurrent mark wall time.
    #[serde(serialize_with = "derived")]
    pub mark_ms: f64,
    /// Mark assist CPU time (goroutines made to help the GC).
    #[serde(serialize_with = "derived")]
    pub assist_cpu_ms: f64,
    /// Background (dedicated + fractional) mark worker CPU time.
    #[serde(serialize_with = "derived")]
    pub bg_cpu_ms: f64,
    /// Idle mark worker CPU time (otherwise idle Ps; not a cost to the program).
    #[serde(serialize_with = "derived")]
    pub idle_cpu_ms: f64,
    /// All CPU time of the cycle except idle marking.
    #[serde(serialize_with = "derived")]
    pub gc_cpu_ms: f64,
}

/// Pre-1.5 gc record shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LegacyFormat {
    /// `gcN(N): N+N+N ms N -> N MB N -> N (N-N) objects N handoff`
    #[serde(rename = "go1.0")]
    Go1_0,
    /// `gcN(N): N+N+N ms, N -> N MB N -> N (N-N) objects, N(N) handoff, N(N) steal, N/N/N yields`
    #[serde(rename = "go1.1")]
    Go1_1,
    /// `gcN(N): N+N+N+N us, N -> N MB, N (N-N) objects, N/N/N sweeps, ...`
    #[serde(rename = "go1.3")]
    Go1_3,
    /// As Go 1.3 plus `N goroutines,`.
    #[serde(rename = "go1.4")]
    Go1_4,
}

/// One stop-the-world collection as printed by Go 1.0 to 1.4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyGc {
    pub format: LegacyFormat,
    pub gc: u64,
    /// GC helper threads (`work.nproc`).
    pub helpers: u64,
    /// Phase times in milliseconds (Go 1.0 to 1.2).
    pub times_ms: Option<Terms>,
    /// Phase times in microseconds (Go 1.3, 1.4).
    pub times_us: Option<Terms>,
    pub heap_start_mb: u64,
    /// Heap after the collection (the whole collection stops the world, so this
    /// is the live heap).
    pub heap_live_mb: u64,
    /// Objects before the collection (Go 1.0 to 1.2).
    pub objects_start: Option<u64>,
    pub objects_live: u64,
    pub mallocs: u64,
    pub frees: u64,
    pub goroutines: Option<u64>,
    pub sweeps: Option<[u64; 3]>,
    pub handoff: u64,
    pub handoff_count: Option<u64>,
    pub steal: Option<u64>,
    pub steal_count: Option<u64>,
    pub yields: Option<[u64; 3]>,
    /// The whole collection stopped the world: the sum of its times, in ms.
    #[serde(serialize_with = "derived")]
    pub stw_ms: f64,
}

/// `scav` record shape (scavtrace=1, Go 1.14+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScavFormat {
    /// `scav N KiB work, N KiB total, N% util` (Go 1.14, 1.19, 1.20).
    #[serde(rename = "go1.14")]
    Go1_14,
    /// `scav GEN N KiB work, N KiB total, N% util` (Go 1.15 to 1.18).
    #[serde(rename = "go1.15")]
    Go1_15,
    /// `scav N KiB work (bg), N KiB work (eager), N KiB now, N% util` (Go 1.21+).
    #[serde(rename = "go1.21")]
    Go1_21,
}

/// One scavenger report: memory returned to the OS.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scav {
    pub format: ScavFormat,
    /// Scavenger generation (Go 1.15 to 1.18).
    #[serde(rename = "gen")]
    pub generation: Option<u64>,
    /// Released since the previous report (bg + eager on Go 1.21+).
    pub work_kib: u64,
    pub work_bg_kib: Option<u64>,
    pub work_eager_kib: Option<u64>,
    /// Heap memory currently released to the OS (`total` / `now`).
    pub released_kib: u64,
    /// In-use share of retained heap memory.
    pub util_pct: u64,
    /// Printed for `debug.FreeOSMemory`.
    pub forced: bool,
    pub controller_reset: bool,
}

/// `scvg` summary (gctrace, Go 1.0 to 1.13).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scvg {
    /// Scavenger round; -1 for `debug.FreeOSMemory` (1.2-1.12); none in 1.13.
    pub round: Option<i64>,
    pub inuse_mb: u64,
    pub idle_mb: u64,
    pub sys_mb: u64,
    pub released_mb: u64,
    pub consumed_mb: u64,
    /// `forced scvg:` (1.13) or round -1.
    pub forced: bool,
}

/// `scvgN: N MB released` (Go 1.0 to 1.13): released in this round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScvgReleased {
    pub round: Option<i64>,
    pub freed_mb: u64,
    pub forced: bool,
}

/// `GC forced` (1.4+) or `scvgN: GC forced` (1.0-1.3): the runtime is about
/// to run a periodic GC because none ran for two minutes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcForced {
    pub round: Option<i64>,
}

/// A runtime trace record, typed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Gc(Gc),
    #[serde(rename = "gc")]
    /// Boxed: the rare Go 1.0-1.4 shape is the largest, and every record
    /// would otherwise be as big as it.
    LegacyGc(Box<LegacyGc>),
    Scav(Scav),
    Scvg(Scvg),
    ScvgReleased(ScvgReleased),
    GcForced(GcForced),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Gc(_) | Record::LegacyGc(_) => "gc",
            Record::Scav(_) => "scav",
            Record::Scvg(_) => "scvg",
            Record::ScvgReleased(_) => "scvg_released",
            Record::GcForced(_) => "gc_forced",
        }
    }

    /// The cycle number of a gc record.
    pub fn gc_number(&self) -> Option<u64> {
        match self {
            Record::Gc(g) => Some(g.gc),
            Record::LegacyGc(g) => Some(g.gc),
            _ => None,
        }
    }
}

/// Window figures computed over the cycles before a gc record (see `analysis`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// GC CPU (all but idle marking) over wall time x GOMAXPROCS, recent window.
    #[serde(serialize_with = "derived")]
    pub gc_cpu_window_pct: f64,
    /// Mark assist CPU share over the same window.
    #[serde(serialize_with = "derived")]
    pub assist_window_pct: f64,
    /// GC cycles per minute over the same window.
    #[serde(serialize_with = "derived")]
    pub gc_per_min: f64,
}

/// A record with its place in the stream: what `gcviz parse` prints and the
/// page receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// 0-based position among the records of this stream; the SSE event id.
    pub seq: u64,
    /// Which Go process of the stream (gc numbers restarting at 1 start a new one).
    pub proc: u32,
    /// 1-based physical line on which the record starts.
    pub line: u64,
    /// The record was torn apart by other writes and rebuilt.
    pub repaired: bool,
    /// Time on the stream's timeline in seconds: a gc record's `at_s` plus the
    /// length of the processes before it; other records take the time of the
    /// last gc record. None before any timed record.
    #[serde(serialize_with = "derived_opt")]
    pub t_s: Option<f64>,
    #[serde(flatten)]
    pub record: Record,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// The record's text as the runtime wrote it, without other writes' text and
    /// without the newline. Kept as bytes (a parsed record is ASCII, so checking
    /// it is UTF-8 on the parser thread would be wasted) and serialised as text.
    #[serde(serialize_with = "as_text")]
    pub raw: Box<[u8]>,
}

/// A value gcviz computed from printed decimals (a sum, a ratio), rounded
/// to 1e-9 so that it is written as the trace would have written it:
/// `0.021+0.035` is `0.056`, not `0.055999999999999994`. Far finer than
/// anything the runtime prints (microseconds at best).
pub fn round_derived(v: f64) -> f64 {
    // Beyond 1e6 the product would pass 2^53 and the rounding do nothing.
    if v.is_finite() && v.abs() < 1e6 {
        (v * 1e9).round() / 1e9
    } else {
        v
    }
}

fn derived<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_derived(*v))
}

fn derived_opt<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&round_derived(*v)),
        None => s.serialize_none(),
    }
}

fn as_text<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(raw))
}

#[cfg(test)]
mod tests {
    use super::round_derived;

    #[test]
    fn sums_of_printed_decimals_are_written_as_decimals() {
        let stw = 0.021 + 0.035;
        assert_eq!(serde_json::to_string(&stw).unwrap(), "0.05600000000000001");
        assert_eq!(serde_json::to_string(&round_derived(stw)).unwrap(), "0.056");
        assert_eq!(round_derived(0.1 + 0.2), 0.3);
        assert_eq!(round_derived(1234.5), 1234.5);
        assert!(round_derived(f64::NAN).is_nan());
    }
}
