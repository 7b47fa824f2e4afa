//! The live page in headless Chromium, timed (figures, never pass/fail):
//!
//! - `load`: gcviz reads a trace of CYCLES real gc records (one every 100 ms,
//!   a scav line every tenth) from a file; then a fresh page (new browser
//!   context, nothing cached) is opened RUNS times. Reports the bytes a page
//!   downloads before it can draw (its files and the snapshot event), the time
//!   gcviz takes to answer /events with the snapshot, and the time from
//!   navigation to the first frame after the snapshot is drawn, with the
//!   page's own steps (`window.gcviz.timing`).
//! - `latency`: real gc lines written into gcviz's stdin (pipe mode) at RATE
//!   per second for SECONDS, each stamped with the wall clock just before the
//!   write; the page (opened with `window.gcvizProbe`) stamps each record with
//!   `Date.now()` when its event is handled and when the charts have been
//!   redrawn with it. Both clocks are the machine's wall clock. Reports p50,
//!   p99 and max of written -> drawn (and -> received).
//! - `profile`: one page load under the DevTools CPU profiler, self time by
//!   function.
//!
//! cargo bench --bench page                        # load 1000000 7, latency 100 10, latency 1000 10
//! cargo bench --bench page -- load [CYCLES [RUNS]]
//! cargo bench --bench page -- latency [RATE [SECONDS]]
//! cargo bench --bench page -- profile [CYCLES]
//!
//! Needs Chromium: GCVIZ_CHROMIUM, or `chromium` on PATH.

#[path = "../tests/common/binary.rs"]
mod binary;
#[allow(dead_code)]
#[path = "../tests/browser/cdp.rs"]
mod cdp;
#[allow(dead_code)]
#[path = "../tests/browser/trace.rs"]
mod trace;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binary::Gcviz;
use cdp::{Browser, Page};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(120);

/// Set before the page's scripts: the page's clock (ms since navigation) at
/// the first animation frame after the snapshot was drawn, i.e. once it is on
/// screen.
const READY_CLOCK: &str = "(() => { const poll = () => { \
    if (window.gcviz && window.gcviz.ready) window.__readyAtMs = performance.now(); \
    else requestAnimationFrame(poll); }; requestAnimationFrame(poll); })();";

fn tmp() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn browser() -> Browser {
    let exe = std::env::var_os("GCVIZ_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        exe.is_file(),
        "Chromium not found at {} (set GCVIZ_CHROMIUM)",
        exe.display()
    );
    Browser::launch(&exe, &tmp(), &tmp().join("chromium.log"))
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.0}, min {:.0}, max {:.0}",
        percentile(v, 0.5),
        v[0],
        v[v.len() - 1]
    )
}

/// gcviz after reading a CYCLES-cycle trace, still serving.
fn loaded_gcviz(cycles: u64) -> Gcviz {
    let log = tmp().join(format!("{cycles}-cycles.log"));
    if !log.is_file() {
        trace::long_trace(&log, cycles);
    }
    let (gcviz, status) = Gcviz::serving_file(&log);
    assert_eq!(status["counts"]["gc"], cycles, "{status}");
    gcviz
}

/// Time until the whole first event of /events has arrived, and its size on
/// the wire (response head included).
fn snapshot_fetch(addr: &str) -> (Duration, usize) {
    let start = Instant::now();
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(conn, "GET /events HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    let mut bytes = 0;
    let mut in_body = false;
    loop {
        line.clear();
        let n = r.read_line(&mut line).unwrap();
        bytes += n;
        if n == 0 {
            break;
        }
        if !in_body {
            in_body = line == "\r\n";
        } else if line == "\n" {
            break;
        }
    }
    (start.elapsed(), bytes)
}

fn load(cycles: u64, runs: usize) {
    let gcviz = loaded_gcviz(cycles);
    let browser = browser();
    let mut server_ms = Vec::new();
    let mut wire = 0;
    for _ in 0..runs {
        let (t, b) = snapshot_fetch(&gcviz.addr);
        server_ms.push(t.as_secs_f64() * 1e3);
        wire = b;
    }
    let mut ready = Vec::new();
    let mut steps: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut files = 0.0;
    for run in 0..runs {
        let mut page = browser.new_page();
        page.before_scripts(READY_CLOCK);
        page.navigate(&gcviz.url);
        let ms = page.wait_for("the page to be ready", "window.__readyAtMs", PATIENCE);
        ready.push(ms.as_f64().unwrap());
        let timing = page.eval("window.gcviz.timing");
        let errors = page.eval("window.gcviz.errors");
        assert_eq!(errors, json!([]), "page errors");
        for key in [
            "script", "connect", "open", "received", "parsed", "built", "drawn", "drawMs",
        ] {
            if let Some(v) = timing[key].as_f64() {
                steps.entry(key).or_default().push(v);
            }
        }
        files = page
            .eval(
                "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
                 .reduce((n, e) => n + (e.transferSize || 0), 0)",
            )
            .as_f64()
            .unwrap();
        if std::env::var_os("GCVIZ_BENCH_NAV").is_some() {
            println!("  nav {}", page.eval("JSON.stringify([performance.getEntriesByType('navigation')[0], performance.getEntriesByType('resource').map(e => [e.name.split('/').pop(), Math.round(e.startTime), Math.round(e.responseEnd)]), performance.getEntriesByType('paint').map(e => [e.name, Math.round(e.startTime)])])"));
        }
        println!(
            "  run {run}: ready {:.0} ms; timing {}",
            ms.as_f64().unwrap(),
            timing
        );
    }
    println!(
        "load, {cycles} cycles, {runs} fresh pages: snapshot event {wire} bytes on the wire, page files {files:.0} bytes \
         (total {:.0} KB)",
        (wire as f64 + files) / 1000.0
    );
    println!(
        "  /events answered with the whole snapshot in ms: {}",
        summary(&mut server_ms)
    );
    println!(
        "  page on screen (first frame after the snapshot is drawn), ms after navigation: {}",
        summary(&mut ready)
    );
    for key in [
        "script", "connect", "open", "received", "parsed", "built", "drawn", "drawMs",
    ] {
        if let Some(v) = steps.get_mut(key) {
            println!("    timing.{key:<8} {}", summary(v));
        }
    }
}

fn latency(rate: u64, seconds: u64) {
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0"])
        .stdin(std::process::Stdio::piped());
    let mut gcviz = Gcviz::start(cmd);
    let mut stdin = gcviz.stdin.take().unwrap();
    let browser = browser();
    let mut page = browser.new_page();
    page.before_scripts(&format!("window.gcvizProbe = []; {READY_CLOCK}"));
    page.navigate(&gcviz.url);
    page.wait_for("the page to be ready", "window.__readyAtMs", PATIENCE);

    // GCVIZ_BENCH_PROFILE=1: where the page's main thread spends the run.
    let profiling = std::env::var_os("GCVIZ_BENCH_PROFILE").is_some();
    if profiling {
        page.call("Profiler.enable", json!({}));
        page.call("Profiler.setSamplingInterval", json!({ "interval": 200 }));
        page.call("Profiler.start", json!({}));
    }
    let total = rate * seconds;
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let mut written = Vec::with_capacity(total as usize);
    let t0 = Instant::now();
    for n in 1..=total {
        let due = every * (n as u32 - 1);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        let line = trace::gc_line(n, t0.elapsed().as_secs_f64());
        written.push(now_ms());
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    // Poll only once everything was written: each poll runs on the page's
    // main thread.
    page.wait_for(
        "every record to be drawn",
        &format!("window.gcvizProbe.length >= {total}"),
        PATIENCE,
    );
    if profiling {
        let prof = page.call("Profiler.stop", json!({}))["profile"].clone();
        println!("profile of the page while records arrived, self time by function:");
        print_profile(&prof);
    }
    let probe = page.eval("window.gcvizProbe");
    let errors = page.eval("window.gcviz.errors");
    assert_eq!(errors, json!([]), "page errors");
    let draws = page.eval("window.gcviz.draws");
    let mut drawn = Vec::new();
    let mut received = Vec::new();
    for entry in probe.as_array().unwrap() {
        let seq = entry[0].as_u64().unwrap() as usize;
        let Some(&w) = written.get(seq) else { continue };
        received.push(entry[1].as_f64().unwrap() - w);
        drawn.push(entry[2].as_f64().unwrap() - w);
    }
    let count = drawn.len();
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v[v.len() - 1]
        )
    };
    println!(
        "latency, {rate} records/s for {seconds} s, 1 page: {count} of {total} records drawn; \
         written -> drawn {}; written -> received {}",
        stats(&mut drawn),
        stats(&mut received)
    );
    println!(
        "  {} redraws, {:.1} ms each on average, longest {:.1} ms",
        draws["n"],
        draws["ms"].as_f64().unwrap_or(0.0) / draws["n"].as_f64().unwrap_or(1.0).max(1.0),
        draws["maxMs"].as_f64().unwrap_or(0.0)
    );
    drop(stdin);
}

fn profile(cycles: u64) {
    let gcviz = loaded_gcviz(cycles);
    let browser = browser();
    let mut page: Page = browser.new_page();
    // Same site first, so the page loads in the process being profiled.
    page.navigate(&format!("http://{}/api/status", gcviz.addr));
    page.before_scripts(READY_CLOCK);
    page.call("Profiler.enable", json!({}));
    page.call("Profiler.setSamplingInterval", json!({ "interval": 100 }));
    page.call("Profiler.start", json!({}));
    page.navigate(&gcviz.url);
    let ms = page.wait_for("the page to be ready", "window.__readyAtMs", PATIENCE);
    let prof = page.call("Profiler.stop", json!({}))["profile"].clone();
    println!("profile, {cycles} cycles: page ready at {ms} ms; self time by function:");
    print_profile(&prof);
    println!("  timing {}", page.eval("window.gcviz.timing"));
}

/// The 30 functions with the most self time in a DevTools CPU profile.
fn print_profile(prof: &Value) {
    let mut names = HashMap::new();
    for node in prof["nodes"].as_array().unwrap() {
        let f = &node["callFrame"];
        let url = f["url"].as_str().unwrap_or("");
        let name = format!(
            "{} {}:{}",
            f["functionName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("(anonymous)"),
            url.rsplit('/').next().unwrap_or(url),
            f["lineNumber"].as_i64().unwrap_or(0) + 1
        );
        names.insert(node["id"].as_u64().unwrap(), name);
    }
    let mut self_us: HashMap<&str, f64> = HashMap::new();
    let samples = prof["samples"].as_array().unwrap();
    let deltas = prof["timeDeltas"].as_array().unwrap();
    for (s, d) in samples.iter().zip(deltas) {
        let name = names[&s.as_u64().unwrap()].as_str();
        *self_us.entry(name).or_default() += d.as_f64().unwrap();
    }
    let mut top: Vec<_> = self_us.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, us) in top.iter().take(30) {
        println!("  {:>8.1} ms  {name}", us / 1e3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("load") => load(num(1, 1_000_000), num(2, 7) as usize),
        Some("latency") => latency(num(1, 100), num(2, 10)),
        Some("profile") => profile(num(1, 1_000_000)),
        _ => {
            load(1_000_000, 7);
            latency(100, 10);
            latency(1000, 10);
        }
    }
}
