//! The live page in a real browser: Debian's headless Chromium loads pages
//! served by the real gcviz binary (wrapping real Go programs, replaying the
//! demo, reading a pipe) and the tests check what a person would see.
//!
//! How the browser is driven: Chromium's own DevTools protocol over
//! `--remote-debugging-pipe`, with a small client in tests/browser/cdp.rs
//! and no new dependency (serde_json is already one). Chosen over
//! - a CDP crate (chromiumoxide, headless_chrome): large generated protocol
//!   code and an async stack to compile for four tests, and fetchers to keep
//!   switched off;
//! - a WebSocket client (tungstenite) on `--remote-debugging-port`: one more
//!   dependency, and a port to discover from Chromium's stderr;
//! - WebDriver: chromium-driver to install as well, and a crate.
//!
//! The pipe also solves the browser's lifetime: the test binary starts one
//! Chromium on first use and shares it; Chromium quits when the pipe closes,
//! which the kernel does when the test binary ends, however it ends.
//!
//! Screenshots are written to target/browser-artifacts/.

#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[path = "browser/harness.rs"]
mod harness;
#[path = "browser/trace.rs"]
mod trace;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cdp::Page;
use common::binary::{self, Gcviz};
use common::program;
use harness::{PATIENCE, artifacts, assert_clean, browser, open, screenshot};
use serde_json::Value;

/// For each chart, how many canvas pixels have the colour of its main line
/// in the current theme: what a person sees as "there is a line".
const LINE_PIXELS: &str = r#"(() => {
  const css = getComputedStyle(document.documentElement);
  const main = { memory: '--c-live', pauses: '--c-stw', cpu: '--c-cpu', frequency: '--c-freq' };
  const out = {};
  for (const [chart, colour] of Object.entries(main)) {
    // Any CSS colour to RGB: paint one pixel with it and read it back.
    const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    probe.fillStyle = css.getPropertyValue(colour).trim();
    probe.fillRect(0, 0, 1, 1);
    const want = probe.getImageData(0, 0, 1, 1).data;
    const canvas = document.querySelector('#chart-' + chart + ' canvas');
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      const d = Math.abs(px[i] - want[0]) + Math.abs(px[i + 1] - want[1]) + Math.abs(px[i + 2] - want[2]);
      if (px[i + 3] > 200 && d < 40) n++;
    }
    out[chart] = n;
  }
  return out;
})()"#;

/// Waits until every chart shows its main line (a few dozen pixels at least).
fn wait_for_lines(page: &mut Page, what: &str) -> Value {
    let expr = format!(
        "(() => {{ const n = {LINE_PIXELS}; return Object.values(n).every(v => v >= 50) ? n : null; }})()"
    );
    page.wait_for(what, &expr, PATIENCE)
}

#[test]
fn live_page_follows_a_real_go_program_until_it_exits() {
    let (Some(browser), Some(bin)) = (browser(), program("web-alloc")) else {
        return;
    };
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--"])
        .arg(&bin)
        .stdin(Stdio::piped());
    let mut gcviz = Gcviz::start(cmd);
    let mut page = browser.new_page();
    open(&mut page, &gcviz);

    // Two moments while the program runs (it runs until its stdin closes).
    let seen = "[window.gcviz.records, window.gcviz.status && window.gcviz.status.state]";
    let first = page.eval(seen);
    assert_eq!(
        first[1], "running",
        "status while the program runs: {first}"
    );
    let later = page.wait_for(
        "more records while the program runs",
        &format!(
            "(() => {{ const [n, s] = {seen}; return n > {} ? [n, s] : null; }})()",
            first[0]
        ),
        PATIENCE,
    );
    assert_eq!(
        later[1], "running",
        "status while the program runs: {later}"
    );
    page.wait_for(
        "the memory chart to show the live heap",
        &format!("{LINE_PIXELS}.memory >= 50"),
        PATIENCE,
    );

    drop(gcviz.stdin.take()); // the program may finish now
    page.wait_for(
        "the page to show that the program exited with code 3",
        "window.gcviz.status.state === 'exited' && window.gcviz.status.exit_code === 3",
        PATIENCE,
    );
    let shown = page.wait_for(
        "the status badge to show the exit code",
        "(() => { const t = document.getElementById('status').textContent; return t.includes('3') ? t : null; })()",
        PATIENCE,
    );
    assert!(
        shown.as_str().unwrap().contains("exited"),
        "status badge: {shown}"
    );
    let counts = page.eval("document.getElementById('counts').textContent");
    assert!(
        counts.as_str().unwrap().contains("GC cycles"),
        "counts: {counts}"
    );
    // gcviz keeps serving: the one stream stays open past the exit, and the
    // badge never said it was reconnecting.
    let conn = page.eval(
        "[document.getElementById('conn').textContent, window.gcviz.connects, window.gcviz.conn]",
    );
    assert_eq!(
        conn,
        serde_json::json!(["connected", 1, ["connecting…", "connected"]]),
        "connection badge, streams opened, every badge text"
    );
    // A live heap that is flat after start-up (16 MiB kept) reads as flat:
    // the ramp from an empty heap is left out of the trend.
    let trend = page.eval("window.gcviz.trend");
    assert!(
        trend["skippedS"].as_f64().is_some(),
        "the window holds the start: {trend}"
    );
    let growth_mib = trend["perHour"].as_f64().unwrap() / 3600.0 * trend["spanS"].as_f64().unwrap();
    assert!(
        growth_mib.abs() < 1.0,
        "the trend of a flat 16 MiB live heap: {trend}"
    );
    assert_clean(&mut page);
    screenshot(&mut page, "live.png");
}

const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = r#"<img src=x onerror="window.__pwned=1">"#;

#[test]
fn markup_from_the_program_is_shown_as_text_and_never_run() {
    let (Some(browser), Some(bin)) = (browser(), program("web-inject")) else {
        return;
    };
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--"])
        .arg(&bin)
        .args([SCRIPT, IMG])
        .env("GOGC", IMG);
    let gcviz = Gcviz::start(cmd);
    let mut page = browser.new_page();
    open(&mut page, &gcviz);
    page.wait_for(
        "the program to exit",
        "window.gcviz.status.state === 'exited'",
        PATIENCE,
    );

    assert_eq!(page.eval("typeof window.__pwned"), "undefined");
    assert_eq!(
        page.eval("document.querySelectorAll('img').length"),
        0,
        "an <img> was created from the program's text"
    );
    assert_eq!(
        page.eval("[...document.scripts].map(s => s.getAttribute('src'))"),
        serde_json::json!(["vendor/uPlot.iife.min.js", "app.js", "heap.js"]),
        "a <script> was created from the program's text"
    );
    for id in ["status", "command", "env"] {
        let inside = page.eval(&format!(
            "[...document.getElementById('{id}').querySelectorAll('*')].map(e => e.localName)"
        ));
        assert_eq!(inside, serde_json::json!([]), "elements inside #{id}");
    }
    let command = page.eval("document.getElementById('command').textContent");
    let command = command.as_str().unwrap();
    assert!(
        command.contains(&format!("{SCRIPT} {IMG}")),
        "the command line is shown literally: {command}"
    );
    let env = page.eval("document.getElementById('env').textContent");
    assert_eq!(env, format!("GOGC={IMG}"), "GOGC is shown literally");
    // The terminal still gets the program's own stderr, unchanged.
    let stderr = gcviz.stderr.text();
    assert!(
        stderr.contains(&format!("{SCRIPT}\n{IMG}\n")),
        "stderr: {stderr}"
    );
    assert_clean(&mut page);
}

#[test]
fn demo_draws_every_chart_in_both_themes() {
    let Some(browser) = browser() else {
        return;
    };
    let mut cmd = binary::command();
    cmd.args(["demo", "--speed", "50", "-p", "0", "--keep-serving"]);
    let gcviz = Gcviz::start(cmd);
    let mut page = browser.new_page();
    open(&mut page, &gcviz);
    page.wait_for(
        "the demo trace to be replayed",
        "window.gcviz.records > 100",
        PATIENCE,
    );
    wait_for_lines(&mut page, "a line in every chart");
    assert_clean(&mut page);

    let theme = "document.documentElement.dataset.theme";
    let background = "getComputedStyle(document.body).backgroundColor";
    let before = page.eval(&format!("[{theme}, {background}]"));
    screenshot(
        &mut page,
        &format!("demo-{}.png", before[0].as_str().unwrap()),
    );
    page.click("#btn-theme");
    let after = page.wait_for(
        "the other theme",
        &format!("{theme} !== {} && [{theme}, {background}]", before[0]),
        PATIENCE,
    );
    let mut names = [before[0].clone(), after[0].clone()];
    names.sort_by_key(|v| v.to_string());
    assert_eq!(names, ["dark", "light"], "the toggle switches dark/light");
    assert_ne!(before[1], after[1], "the background changes with the theme");
    wait_for_lines(&mut page, "a line in every chart in the new theme");
    assert_clean(&mut page);
    screenshot(
        &mut page,
        &format!("demo-{}.png", after[0].as_str().unwrap()),
    );

    // The checks above can fail: markup forced into the page is reported.
    page.eval(&format!(
        "document.body.insertAdjacentHTML('beforeend', {})",
        serde_json::to_string(IMG).unwrap()
    ));
    let start = Instant::now();
    while !page
        .problems()
        .iter()
        .any(|p| p.contains("Content Security Policy"))
    {
        assert!(
            start.elapsed() < PATIENCE,
            "a blocked inline handler was not reported: {:?}",
            page.problems()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every control of the page on a replayed real trace with forced GCs:
/// windows, pause and follow, drag to zoom and double-click back, the
/// tooltip with the raw trace line, and the CSV, NDJSON and PNG downloads.
#[test]
fn every_control_works_on_a_replayed_trace() {
    let Some(browser) = browser() else {
        return;
    };
    let log = common::fixtures().join("traces/go1.27.3/forced.log");
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0"])
        .stdin(std::fs::File::open(&log).unwrap());
    let gcviz = Gcviz::start(cmd);
    let mut page = browser.new_page();
    open(&mut page, &gcviz);
    page.wait_for(
        "the end of the input",
        "window.gcviz.status.state === 'eof'",
        PATIENCE,
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let records = text
        .lines()
        .filter(|l| l.starts_with("gc ") || l.starts_with("scav "))
        .count();
    let forced = text
        .lines()
        .filter(|l| l.starts_with("gc ") && l.ends_with("(forced)"))
        .count();
    // Records before the first gc cycle have no time, so no place on a chart.
    let timed = gcviz
        .get("/api/records.ndjson")
        .lines()
        .filter(|l| !serde_json::from_str::<Value>(l).unwrap()["t_s"].is_null())
        .count();
    let view = page.wait_for(
        "every record on the page",
        &format!(
            "(() => {{ const v = window.gcviz.view(); return v.rows === {timed} ? v : null; }})()"
        ),
        PATIENCE,
    );
    // Every forced gc cycle is marked on the frequency chart.
    assert_eq!(view["forcedMarks"], forced, "{view}");
    assert_eq!(view["charts"], 4);

    // Windows: each button shows its span (or everything) and is pressed.
    let first_last = "[window.gcviz.view(), [...document.querySelectorAll('button.win')]\
        .filter(b => b.getAttribute('aria-pressed') === 'true').map(b => b.dataset.window)]";
    for (window, span) in [("60", 60.0), ("600", 600.0), ("3600", 3600.0)] {
        page.click(&format!("button.win[data-window='{window}']"));
        let got = page.eval(first_last);
        assert_eq!(got[1], serde_json::json!([window]), "{got}");
        assert_eq!(got[0]["windowS"], span, "{got}");
        assert_eq!(got[0]["follow"], true);
    }
    page.click("button.win[data-window='all']");
    let all = page.eval(first_last);
    assert_eq!(all[1], serde_json::json!(["all"]));
    assert_eq!(all[0]["windowS"], Value::Null);

    // Pause and follow again.
    page.click("#btn-follow");
    let paused = page
        .eval("[window.gcviz.view().follow, document.getElementById('btn-follow').textContent]");
    assert_eq!(paused[0], false);
    assert!(paused[1].as_str().unwrap().contains("Paused"), "{paused}");
    page.click("#btn-follow");
    assert_eq!(page.eval("window.gcviz.view().follow"), true);

    // Drag across the middle of the memory chart: a narrower range, paused.
    let before = page.eval("window.gcviz.view()");
    let over = page.eval(
        "(() => { const r = document.querySelector('#chart-memory .u-over').getBoundingClientRect(); \
         return [r.x, r.y, r.width, r.height]; })()",
    );
    let (x, y, w, h) = (
        over[0].as_f64().unwrap(),
        over[1].as_f64().unwrap(),
        over[2].as_f64().unwrap(),
        over[3].as_f64().unwrap(),
    );
    page.drag((x + w * 0.3, y + h / 2.0), (x + w * 0.6, y + h / 2.0));
    let zoomed = page.wait_for(
        "the drag to zoom in",
        "(() => { const v = window.gcviz.view(); return v.follow ? null : v; })()",
        PATIENCE,
    );
    let span = |v: &Value| v["max"].as_f64().unwrap() - v["min"].as_f64().unwrap();
    assert!(
        span(&zoomed) < span(&before) * 0.5 && zoomed["min"].as_f64() > before["min"].as_f64(),
        "zoomed {zoomed} from {before}"
    );
    page.double_click("#chart-memory .u-over");
    let back = page.wait_for(
        "the double-click to go back",
        "(() => { const v = window.gcviz.view(); return v.follow ? v : null; })()",
        PATIENCE,
    );
    assert_eq!(span(&back), span(&before), "{back}");

    // Hover: the tooltip names the cycle and shows its raw line, fetched
    // from gcviz for rows that came in the snapshot.
    page.hover(x + w * 0.5, y + h / 2.0);
    let tip = page.wait_for(
        "the tooltip with a raw trace line",
        "(() => { const t = document.getElementById('tooltip'); const raw = t.querySelector('.raw'); \
         return !t.hidden && raw && raw.textContent.startsWith('gc ') ? \
         [t.querySelector('.tt-title').textContent, raw.textContent] : null; })()",
        PATIENCE,
    );
    let (title, raw) = (tip[0].as_str().unwrap(), tip[1].as_str().unwrap());
    let n = title
        .strip_prefix("GC ")
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        raw.starts_with(&format!("gc {n} @")),
        "the raw line is the hovered cycle's: {title} / {raw}"
    );
    assert!(
        text.lines().any(|l| l == raw),
        "the raw line is the trace's own: {raw}"
    );

    // Downloads: each button or link, clicked with the mouse, must hand the
    // browser a link to save with the file's name and contents. The test
    // takes that link at the moment of the click and reads it in the page,
    // instead of letting Chromium's download manager save it: Chromium 148
    // died of a segmentation fault at the download click in 2 of 57 full
    // test runs here, and saving files is its code, not gcviz's.
    // Blobs are read where they are made (the page's policy lets it fetch
    // nothing but its own server), links to the server are fetched.
    page.eval(
        "(() => { window.__downloads = []; const blobs = new Map(); \
         const make = URL.createObjectURL; \
         URL.createObjectURL = b => { const u = make.call(URL, b); blobs.set(u, b); return u; }; \
         addEventListener('click', e => { \
         const a = e.target.closest && e.target.closest('a[download]'); if (!a) return; \
         e.preventDefault(); \
         window.__downloads.push({ name: a.download, blob: blobs.get(a.href) || fetch(a.href).then(r => r.blob()) }); \
         }, true); return true; })()",
    );
    let mut download = |selector: &str, suffix: &str| {
        page.click(selector);
        let got = page.wait_for(
            &format!("the {suffix} download"),
            &format!(
                "(async () => {{ const d = window.__downloads.find(d => d.name.endsWith('{suffix}')); \
                 if (!d) return null; const blob = await d.blob; \
                 const url = await new Promise(r => {{ const f = new FileReader(); \
                 f.onload = () => r(f.result); f.readAsDataURL(blob); }}); \
                 return [d.name, url.slice(url.indexOf(',') + 1)]; }})()"
            ),
            PATIENCE,
        );
        assert!(
            got[0].as_str().unwrap().starts_with("gcviz-"),
            "the file is named for gcviz: {}",
            got[0]
        );
        cdp::base64_decode(got[1].as_str().unwrap())
    };
    let csv = download("#dl-csv", ".csv");
    let ndjson = download("#dl-ndjson", ".ndjson");
    let png = download("button.png[data-chart='memory']", ".png");
    let ndjson = String::from_utf8(ndjson).unwrap();
    assert_eq!(
        ndjson.lines().count(),
        records,
        "one NDJSON line per record"
    );
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("seq,kind,proc,t_s,"), "{:.200}", csv);
    assert_eq!(
        csv.lines().count(),
        records + 1,
        "a header and one row per record"
    );
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the chart download is a PNG"
    );
    assert_clean(&mut page);
}

/// Set before the page's scripts run: the page's own clock (ms since the
/// navigation started) at the first animation frame where it is ready.
const READY_CLOCK: &str = "(() => { const poll = () => { \
    if (window.gcviz && window.gcviz.ready) window.__readyAtMs = performance.now(); \
    else requestAnimationFrame(poll); }; requestAnimationFrame(poll); })();";

#[test]
fn first_snapshot_of_a_million_cycles_stays_small() {
    let Some(browser) = browser() else {
        return;
    };
    const CYCLES: u64 = 1_000_000;
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("million-cycles.log");
    trace::long_trace(&log, CYCLES);
    let (gcviz, status) = Gcviz::serving_file(&log);
    let _ = std::fs::remove_file(&log); // 150 MB, read already
    assert_eq!(status["counts"]["gc"], CYCLES, "status: {status}");

    // What a page downloads before it can draw anything.
    let event = gcviz.first_event();
    assert!(
        event.starts_with("event: snapshot\n"),
        "first event: {:.200}",
        event
    );
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("snapshot data");
    let snapshot: Value = serde_json::from_str(data).unwrap();
    assert_eq!(snapshot["status"]["counts"]["gc"], CYCLES);
    let kinds = snapshot["kinds"].as_object().unwrap();
    let rows: usize = kinds
        .values()
        .map(|k| k["t_s"].as_array().unwrap().len())
        .sum();
    let last_s = kinds["gc"]["t_s"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .fold(0.0, f64::max);
    assert!(
        last_s >= (CYCLES - 1) as f64 / 10.0 - 60.0,
        "the snapshot reaches the end of the run: last row at {last_s} s"
    );
    let bytes = event.len();
    assert!(
        bytes < 2 << 20,
        "the first snapshot is {bytes} bytes ({rows} rows)"
    );

    let mut page = browser.new_page();
    page.before_scripts(READY_CLOCK);
    page.navigate(&gcviz.url);
    let ready_ms = page.wait_for("the page to be ready", "window.__readyAtMs", PATIENCE);
    let counts = page.eval("document.getElementById('counts').textContent");
    assert!(
        counts
            .as_str()
            .unwrap()
            .contains(&format!("{CYCLES} GC cycles")),
        "counts: {counts}"
    );
    assert_clean(&mut page);
    screenshot(&mut page, "million-cycles.png");
    let report = format!(
        "{CYCLES} gc cycles: first snapshot {bytes} bytes ({rows} rows); page ready {:.0} ms after navigation started\n",
        ready_ms.as_f64().unwrap()
    );
    std::fs::write(artifacts().join("million-cycles.txt"), &report).unwrap();
    print!("{report}");
}
