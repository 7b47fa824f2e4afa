//! Prometheus exposition of what gcviz has seen: running totals folded from
//! every record as it is published ([`Totals`], pure), and `/metrics` written
//! from them in the text format 0.0.4 or, when the scraper asks for it,
//! OpenMetrics 1.0.
//!
//! Written by hand rather than with the `prometheus-client` crate: every
//! value already lives in the hub, folded under the lock ingestion holds
//! anyway, and a scrape only copies ~40 numbers out. The crate would keep a
//! second copy of the state in its own registry of atomics, updated per
//! record on the parser thread, or need a custom collector that does what
//! this file does. The two text formats differ in three details (counter
//! family names, the info type, `# EOF`), which a flag covers.
//!
//! Exposition is bounded: a fixed set of families, two histograms with fixed
//! buckets, one info series whose labels are cut to [`MAX_LABEL`] bytes.
//! Times are summed in integer nanoseconds and sizes in bytes, and written
//! with Rust's shortest round-trip float form, so a value reads as the trace
//! printed it (`0.056`, never `0.055999999999999994`).
//!
//! Goroutine counts and heap profiles come from the program's pprof
//! endpoint (`input::pprof`): their series show once the first is read.

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::store::hub::{Hub, Status};
use crate::store::rss_sample::RssSample;
use crate::trace::event::{Event, Record};

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;
/// Label values (the command line) are cut to this many bytes.
pub const MAX_LABEL: usize = 256;

/// Upper bounds of the stop-the-world pause buckets, in nanoseconds:
/// 10 µs to 1 s. Pauses of a healthy Go program sit well under 1 ms.
pub const PAUSE_BOUNDS_NS: [u64; 14] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    1_000_000_000,
];
/// Upper bounds of the concurrent mark buckets, in nanoseconds: 100 µs to 10 s.
pub const MARK_BOUNDS_NS: [u64; 14] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// A cumulative histogram of durations with fixed bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram<const N: usize> {
    bounds_ns: [u64; N],
    /// Observations in each bucket alone (made cumulative when written).
    counts: [u64; N],
    count: u64,
    sum_ns: u64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds_ns: [u64; N]) -> Self {
        Histogram {
            bounds_ns,
            counts: [0; N],
            count: 0,
            sum_ns: 0,
        }
    }

    pub fn observe(&mut self, ns: u64) {
        if let Some(i) = self.bounds_ns.iter().position(|&b| ns <= b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The last gc cycle's figures, in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastGc {
    pub live: u64,
    pub goal: Option<u64>,
    pub start: u64,
    pub end: Option<u64>,
    pub stacks: Option<u64>,
    pub globals: Option<u64>,
    pub procs: Option<u64>,
    pub stw_ns: u64,
    /// The GC CPU share over the analysis window (the page's figure), 0-1.
    pub cpu_window_ratio: Option<f64>,
}

/// Everything `/metrics` needs beyond the status counters, folded from
/// every record since gcviz started (not just the records kept whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub last_gc: Option<LastGc>,
    pub forced_cycles: u64,
    pub pause: Histogram<14>,
    pub mark: Histogram<14>,
    pub gc_cpu_ns: u64,
    pub assist_cpu_ns: u64,
    pub idle_cpu_ns: u64,
    pub released_bytes: Option<u64>,
    pub scavenged_bytes: u64,
    pub rss_bytes: Option<u64>,
    /// The last goroutine count read from the program's pprof endpoint.
    pub goroutines: Option<u64>,
    /// Heap profiles read from it.
    pub heap_profiles: u64,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            last_gc: None,
            forced_cycles: 0,
            pause: Histogram::new(PAUSE_BOUNDS_NS),
            mark: Histogram::new(MARK_BOUNDS_NS),
            gc_cpu_ns: 0,
            assist_cpu_ns: 0,
            idle_cpu_ns: 0,
            released_bytes: None,
            scavenged_bytes: 0,
            rss_bytes: None,
            goroutines: None,
            heap_profiles: 0,
        }
    }
}

/// Milliseconds as printed (a few decimals) to whole nanoseconds, so sums
/// carry no float error. Runs for every record on the parser thread:
/// adding one half and truncating rounds without `f64::round` (a library
/// call on baseline x86-64), and converting to `i64` is one instruction
/// where `u64` takes a dozen. The conversion saturates, so NaN and negative
/// values give 0.
#[inline]
fn ms_to_ns(ms: f64) -> u64 {
    ((ms * 1e6 + 0.5) as i64).max(0) as u64
}

impl Totals {
    /// Folds one record in.
    pub fn add(&mut self, e: &Event) {
        match &e.record {
            Record::Gc(g) => {
                let stw_ns = ms_to_ns(g.stw_ms);
                self.pause.observe(stw_ns);
                self.mark.observe(ms_to_ns(g.mark_ms));
                self.gc_cpu_ns = self.gc_cpu_ns.saturating_add(ms_to_ns(g.gc_cpu_ms));
                self.assist_cpu_ns = self.assist_cpu_ns.saturating_add(ms_to_ns(g.assist_cpu_ms));
                self.idle_cpu_ns = self.idle_cpu_ns.saturating_add(ms_to_ns(g.idle_cpu_ms));
                self.forced_cycles += u64::from(g.forced);
                self.last_gc = Some(LastGc {
                    live: g.heap_live_mb * MIB,
                    goal: Some(g.heap_goal_mb * MIB),
                    start: g.heap_start_mb * MIB,
                    end: Some(g.heap_end_mb * MIB),
                    stacks: g.stacks_mb.map(|m| m * MIB),
                    globals: g.globals_mb.map(|m| m * MIB),
                    procs: Some(g.procs),
                    stw_ns,
                    cpu_window_ratio: e.window.map(|w| w.gc_cpu_window_pct / 100.0),
                });
            }
            Record::LegacyGc(g) => {
                // The whole collection stopped the world.
                let stw_ns = ms_to_ns(g.stw_ms);
                self.pause.observe(stw_ns);
                self.last_gc = Some(LastGc {
                    live: g.heap_live_mb * MIB,
                    start: g.heap_start_mb * MIB,
                    stw_ns,
                    ..LastGc::default()
                });
            }
            Record::Scav(s) => {
                self.scavenged_bytes += s.work_kib * KIB;
                self.released_bytes = Some(s.released_kib * KIB);
            }
            Record::Scvg(s) => self.released_bytes = Some(s.released_mb * MIB),
            Record::ScvgReleased(s) => self.scavenged_bytes += s.freed_mb * MIB,
            Record::GcForced(_) => {}
        }
    }

    pub fn rss(&mut self, s: &RssSample) {
        self.rss_bytes = Some(s.rss_kib * KIB);
    }

    pub fn goroutines(&mut self, count: u64) {
        self.goroutines = Some(count);
    }

    pub fn heap_profile(&mut self) {
        self.heap_profiles += 1;
    }
}

/// Which text format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Text,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header offers it at a quality no lower
    /// than plain text's (Prometheus prefers it); the 0.0.4 text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (0.0f64, 0.0f64);
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" | "*/*" | "text/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Info,
}

/// A number as Prometheus reads it: integers as integers, seconds from
/// whole nanoseconds, floats in their shortest round-trip form.
enum Value {
    Int(u64),
    Ns(u64),
    Float(f64),
}

struct Writer {
    out: String,
    format: Format,
}

impl Writer {
    /// `# HELP` and `# TYPE` of a family; `name` is the sample name without
    /// `_total` or `_info` (OpenMetrics names the family without them).
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let om = self.format == Format::OpenMetrics;
        let (family, kind) = match (kind, om) {
            (Kind::Counter, true) => (name.to_string(), "counter"),
            (Kind::Counter, false) => (format!("{name}_total"), "counter"),
            (Kind::Gauge, _) => (name.to_string(), "gauge"),
            (Kind::Histogram, _) => (name.to_string(), "histogram"),
            (Kind::Info, true) => (name.to_string(), "info"),
            (Kind::Info, false) => (format!("{name}_info"), "gauge"),
        };
        let _ = write!(
            self.out,
            "# HELP gcviz_{family} {help}\n# TYPE gcviz_{family} {kind}\n"
        );
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.out.push_str("gcviz_");
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = match value {
            Value::Int(v) => writeln!(self.out, " {v}"),
            Value::Ns(ns) => writeln!(self.out, " {}", ns as f64 / 1e9),
            Value::Float(v) if v.is_finite() => writeln!(self.out, " {v}"),
            Value::Float(_) => writeln!(self.out, " NaN"),
        };
    }

    fn counter(&mut self, name: &str, help: &str, value: Value) {
        self.family(name, Kind::Counter, help);
        self.sample(&format!("{name}_total"), &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: Value) {
        self.family(name, Kind::Gauge, help);
        self.sample(name, &[], value);
    }

    fn histogram<const N: usize>(&mut self, name: &str, help: &str, h: &Histogram<N>) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in h.bounds_ns.iter().zip(h.counts) {
            cumulative += n;
            let le = (*bound as f64 / 1e9).to_string();
            self.sample(&bucket, &[("le", &le)], Value::Int(cumulative));
        }
        self.sample(&bucket, &[("le", "+Inf")], Value::Int(h.count));
        self.sample(&format!("{name}_sum"), &[], Value::Ns(h.sum_ns));
        self.sample(&format!("{name}_count"), &[], Value::Int(h.count));
    }
}

/// Escapes a label value (backslash, quote, newline) and cuts it to
/// [`MAX_LABEL`] bytes on a character boundary.
fn escape_label(out: &mut String, v: &str) {
    let mut end = v.len().min(MAX_LABEL);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    for c in v[..end].chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The whole exposition.
pub fn render(st: &Status, t: &Totals, format: Format) -> String {
    let mut w = Writer {
        out: String::with_capacity(8 * 1024),
        format,
    };
    let c = &st.counts;
    if st.command.is_some() || st.go_version.is_some() {
        w.family(
            "program",
            Kind::Info,
            "The watched program: its command line and the Go version in its build information.",
        );
        w.sample(
            "program_info",
            &[
                ("command", st.command.as_deref().unwrap_or("")),
                ("go_version", st.go_version.as_deref().unwrap_or("")),
            ],
            Value::Int(1),
        );
    }
    w.counter(
        "records",
        "Runtime trace records parsed.",
        Value::Int(c.records),
    );
    w.counter("gc_cycles", "GC cycles seen.", Value::Int(c.gc));
    w.counter(
        "gc_forced_cycles",
        "GC cycles forced by runtime.GC or debug.FreeOSMemory.",
        Value::Int(t.forced_cycles),
    );
    w.counter(
        "repaired_records",
        "Records rebuilt after other writes tore them apart.",
        Value::Int(c.repaired),
    );
    w.counter(
        "unresolved_fragments",
        "Records whose text was there but could not be rebuilt without a guess (passed through).",
        Value::Int(c.unresolved),
    );
    w.counter(
        "missing_cycles",
        "GC cycles missing from the numbering.",
        Value::Int(c.gaps),
    );
    w.counter(
        "long_lines",
        "Lines longer than 64 KiB, passed through in pieces.",
        Value::Int(c.long_lines),
    );
    w.counter(
        "dropped_updates",
        "Live updates slow pages missed.",
        Value::Int(c.dropped),
    );
    w.gauge("clients", "Pages connected.", Value::Int(c.clients));
    w.counter(
        "gc_cpu_seconds",
        "GC CPU time of all cycles (stop-the-world, assist and background marking; idle marking excluded).",
        Value::Ns(t.gc_cpu_ns),
    );
    w.counter(
        "gc_assist_cpu_seconds",
        "Mark assist CPU time: goroutines made to help the GC (part of gc_cpu_seconds).",
        Value::Ns(t.assist_cpu_ns),
    );
    w.counter(
        "gc_idle_cpu_seconds",
        "Idle mark worker CPU time (otherwise idle Ps; not in gc_cpu_seconds).",
        Value::Ns(t.idle_cpu_ns),
    );
    w.histogram(
        "gc_pause_seconds",
        "Stop-the-world time per GC cycle (sweep termination + mark termination).",
        &t.pause,
    );
    w.histogram(
        "gc_mark_seconds",
        "Concurrent mark wall time per GC cycle.",
        &t.mark,
    );
    w.counter(
        "scavenged_bytes",
        "Memory the scavenger returned to the OS.",
        Value::Int(t.scavenged_bytes),
    );
    if let Some(b) = t.released_bytes {
        w.gauge(
            "heap_released_bytes",
            "Heap memory released to the OS, from the last scavenger report.",
            Value::Int(b),
        );
    }
    if let Some(b) = t.rss_bytes {
        w.gauge(
            "rss_bytes",
            "Resident memory of the program (VmRSS).",
            Value::Int(b),
        );
    }
    if let Some(n) = t.goroutines {
        w.gauge(
            "goroutines",
            "Goroutines in the program, from its pprof endpoint (the last count read).",
            Value::Int(n),
        );
    }
    if t.heap_profiles > 0 {
        w.counter(
            "heap_profiles",
            "Heap profiles read from the program's pprof endpoint.",
            Value::Int(t.heap_profiles),
        );
    }
    if let Some(g) = &t.last_gc {
        w.gauge(
            "heap_live_bytes",
            "Live heap marked by the last GC (MiB resolution).",
            Value::Int(g.live),
        );
        w.gauge(
            "heap_at_gc_start_bytes",
            "Heap in use when the last GC started (MiB resolution).",
            Value::Int(g.start),
        );
        let optional: [(&str, &str, Option<u64>); 5] = [
            (
                "heap_at_gc_end_bytes",
                "Heap in use when the last GC ended (MiB resolution).",
                g.end,
            ),
            (
                "heap_goal_bytes",
                "Heap goal of the last GC (MiB resolution).",
                g.goal,
            ),
            (
                "stacks_bytes",
                "Goroutine stacks counted toward the heap goal by the last GC (Go 1.18+; MiB resolution).",
                g.stacks,
            ),
            (
                "globals_bytes",
                "Global variables counted toward the heap goal by the last GC (Go 1.18+; MiB resolution).",
                g.globals,
            ),
            ("gomaxprocs", "GOMAXPROCS during the last GC.", g.procs),
        ];
        for (name, help, v) in optional {
            if let Some(v) = v {
                w.gauge(name, help, Value::Int(v));
            }
        }
        w.gauge(
            "last_gc_stw_seconds",
            "Stop-the-world time of the last GC.",
            Value::Ns(g.stw_ns),
        );
        if let Some(r) = g.cpu_window_ratio {
            w.gauge(
                "gc_cpu_ratio",
                "GC CPU share of wall time x GOMAXPROCS over the trace's recent window (the page's figure).",
                Value::Float(r),
            );
        }
    }
    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

/// `/metrics`, in the format the `Accept` header prefers.
pub fn response(hub: &Hub, headers: &HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let (status, totals) = hub.metrics();
    let body = render(&status, &totals, format);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

/// The Grafana dashboard for a fleet of gcviz instances, served at
/// `/api/grafana-dashboard.json`.
pub const GRAFANA_DASHBOARD: &[u8] = include_bytes!("../../web/grafana-dashboard.json");

pub fn grafana_dashboard() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        GRAFANA_DASHBOARD,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        Event {
            seq: 0,
            proc: 0,
            line: 1,
            repaired: false,
            t_s: Some(0.0),
            record: crate::trace::parse_record(line.as_bytes()).unwrap(),
            window: None,
            raw: line.as_bytes().into(),
        }
    }

    const GC: &str = "gc 7 @1.000s 2%: 0.021+1.4+0.035 ms clock, 0.08+0.3/1.2/0.5+0.14 ms cpu, 4->5->3 MB, 8 MB goal, 1 MB stacks, 2 MB globals, 4 P (forced)";

    fn totals() -> Totals {
        let mut t = Totals::default();
        t.add(&event(GC));
        t.add(&event(
            "scav 0 KiB work (bg), 128 KiB work (eager), 2048 KiB now, 95% util",
        ));
        t
    }

    fn status() -> Status {
        Status {
            command: Some("/app \"x\"\\".into()),
            go_version: Some("go1.27.3".into()),
            ..Status::default()
        }
    }

    #[test]
    fn pause_is_the_printed_sum_not_float_noise() {
        let text = render(&status(), &totals(), Format::Text);
        // 0.021 + 0.035 ms in f64 is 0.055999999999999994.
        assert!(
            text.contains("\ngcviz_last_gc_stw_seconds 0.000056\n"),
            "{text}"
        );
        assert!(
            text.contains("\ngcviz_gc_pause_seconds_sum 0.000056\n"),
            "{text}"
        );
        assert!(
            text.contains("\ngcviz_gc_mark_seconds_sum 0.0014\n"),
            "{text}"
        );
        // 0.08 + 0.3 + 1.2 + 0.14, idle excluded.
        assert!(
            text.contains("\ngcviz_gc_cpu_seconds_total 0.00172\n"),
            "{text}"
        );
        assert!(
            text.contains("\ngcviz_gc_assist_cpu_seconds_total 0.0003\n"),
            "{text}"
        );
    }

    #[test]
    fn milliseconds_round_to_whole_nanoseconds() {
        assert_eq!(ms_to_ns(0.021 + 0.035), 56_000);
        assert_eq!(ms_to_ns(1.4), 1_400_000);
        assert_eq!(ms_to_ns(0.0000004), 0);
        assert_eq!(ms_to_ns(0.0000005), 1);
        assert_eq!(ms_to_ns(f64::NAN), 0);
        assert_eq!(ms_to_ns(-3.0), 0);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf() {
        let mut t = Totals::default();
        t.add(&event(GC));
        let slow = GC.replace("0.021+1.4+0.035", "3+1.4+4");
        t.add(&event(&slow));
        let text = render(&Status::default(), &t, Format::Text);
        for want in [
            "gcviz_gc_pause_seconds_bucket{le=\"0.00005\"} 0\n",
            "gcviz_gc_pause_seconds_bucket{le=\"0.0001\"} 1\n",
            "gcviz_gc_pause_seconds_bucket{le=\"0.005\"} 1\n",
            "gcviz_gc_pause_seconds_bucket{le=\"0.01\"} 2\n",
            "gcviz_gc_pause_seconds_bucket{le=\"1\"} 2\n",
            "gcviz_gc_pause_seconds_bucket{le=\"+Inf\"} 2\n",
            "gcviz_gc_pause_seconds_count 2\n",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }

    #[test]
    fn sizes_are_bytes_and_the_info_labels_are_escaped() {
        let text = render(&status(), &totals(), Format::Text);
        for want in [
            "gcviz_program_info{command=\"/app \\\"x\\\"\\\\\",go_version=\"go1.27.3\"} 1\n",
            "# TYPE gcviz_program_info gauge\n",
            "gcviz_heap_live_bytes 3145728\n",
            "gcviz_heap_goal_bytes 8388608\n",
            "gcviz_heap_at_gc_start_bytes 4194304\n",
            "gcviz_heap_at_gc_end_bytes 5242880\n",
            "gcviz_stacks_bytes 1048576\n",
            "gcviz_globals_bytes 2097152\n",
            "gcviz_gomaxprocs 4\n",
            "gcviz_gc_forced_cycles_total 1\n",
            "gcviz_heap_released_bytes 2097152\n",
            "gcviz_scavenged_bytes_total 131072\n",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(!text.contains("rss_bytes"), "no RSS without a sample");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("gcviz_"), "{line}");
        }
    }

    #[test]
    fn openmetrics_names_families_without_suffixes_and_ends_with_eof() {
        let text = render(&status(), &totals(), Format::OpenMetrics);
        assert!(text.contains("# TYPE gcviz_gc_cycles counter\ngcviz_gc_cycles_total 0\n"));
        assert!(text.contains("# TYPE gcviz_program info\ngcviz_program_info{"));
        assert!(text.ends_with("\n# EOF\n"));
        let plain = render(&status(), &totals(), Format::Text);
        assert!(plain.contains("# TYPE gcviz_gc_cycles_total counter\n"));
        assert!(!plain.contains("# EOF"));
    }

    #[test]
    fn a_long_command_is_cut_on_a_character_boundary() {
        let mut st = status();
        st.command = Some("é".repeat(MAX_LABEL));
        let text = render(&st, &Totals::default(), Format::Text);
        let line = text
            .lines()
            .find(|l| l.starts_with("gcviz_program_info"))
            .unwrap();
        assert!(line.len() < MAX_LABEL + 60, "{line}");
    }

    #[test]
    fn prometheus_gets_openmetrics_and_curl_gets_text() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
            Format::Text
        );
    }
}
