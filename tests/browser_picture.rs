//! The picture tells the truth: in headless Chromium, pages served by the
//! real gcviz binary draw only real cycles at every zoom, and real Go
//! programs get the headline that names their story. See tests/browser.rs
//! for how the browser is driven; screenshots of each story go to
//! target/browser-artifacts/.

// Shared with tests/browser.rs, which uses more of them.
#[allow(dead_code)]
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[path = "browser/harness.rs"]
mod harness;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use cdp::Browser;
use common::binary::{self, Gcviz};
use common::program;
use harness::{PATIENCE, assert_clean, browser, open, readme_screenshot, screenshot};
use serde_json::Value;

/// The plateau trace: gc N at (N-1)/10 s; live heap 2 MiB, 500 MiB from
/// cycle 20,001 to 30,000 (2000 s to 3000 s), and one 700 MiB cycle every
/// 7919.
fn plateau_live(seq: u64) -> u64 {
    match seq {
        20_000..30_000 => 500,
        _ if seq.is_multiple_of(7919) => 700,
        _ => 2,
    }
}
const PLATEAU_CYCLES: u64 = 60_000;

fn plateau_log(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for seq in 0..PLATEAU_CYCLES {
        let live = plateau_live(seq);
        writeln!(
            out,
            "gc {} @{:.3}s 1%: 0.010+1.0+0.020 ms clock, 0.020+0.10/1.0/0+0.040 ms cpu, {}->{}->{} MB, {} MB goal, 0 MB stacks, 0 MB globals, 2 P",
            seq + 1,
            seq as f64 / 10.0,
            live + 2,
            live + 3,
            live,
            2 * live + 4
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// Every point is the record's own: its time is (seq)/10 s and its live heap
/// the trace's. Returns how many were summary points.
fn check_points(points: &Value, what: &str) -> usize {
    let points = points.as_array().unwrap();
    assert!(!points.is_empty(), "{what}: no points");
    let mut summaries = 0;
    for p in points {
        let (t, v) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        let seq = p[2]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: a point without a record: {p}"));
        assert!(
            (t - seq as f64 / 10.0).abs() < 1e-6,
            "{what}: {p} is not at its cycle's time"
        );
        assert_eq!(
            v,
            plateau_live(seq) as f64,
            "{what}: {p} is not its cycle's value"
        );
        summaries += usize::from(p[3] == true);
    }
    summaries
}

/// Drawn as steps (a cycle's value holds until the next cycle), the points
/// show 500 MiB wherever inside the plateau the picture says anything: at
/// each point in it, and at any moment of it after a point.
fn check_plateau(points: &Value, what: &str, at_least: usize) {
    let points = points.as_array().unwrap();
    let inside = points
        .iter()
        .filter(|p| (2000.0..3000.0).contains(&p[0].as_f64().unwrap()))
        .count();
    assert!(inside >= at_least, "{what}: {inside} points in the plateau");
    for moment in (0..1000).map(|k| 2000.0 + k as f64) {
        let holds = points
            .iter()
            .take_while(|p| p[0].as_f64().unwrap() <= moment)
            .last();
        if let Some(p) = holds.filter(|p| p[0].as_f64().unwrap() >= 2000.0) {
            assert_eq!(p[1], 500.0, "{what}: at {moment} s the step shows {p}");
        }
    }
}

#[test]
fn a_plateau_is_drawn_as_a_plateau_with_real_cycles_only_at_every_zoom() {
    let Some(browser) = browser() else {
        return;
    };
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plateau.log");
    plateau_log(&log);
    let (gcviz, _) = Gcviz::serving_file(&log);

    // /api/history at several windows: every row of every field is the
    // record's own, at its own time.
    for (from, to, points) in [
        (None, None, 2000),
        (Some(1900.0), Some(3100.0), 400),
        (Some(1999.0), Some(2001.0), 100),
        (Some(2990.0), Some(3010.0), 50),
    ] {
        let mut q = format!("/api/history?points={points}");
        if let (Some(f), Some(t)) = (from, to) {
            q.push_str(&format!("&from_s={f}&to_s={t}"));
        }
        let v: Value = serde_json::from_str(&gcviz.get(&q)).unwrap();
        let gc = &v["kinds"]["gc"];
        let ts = gc["t_s"].as_array().unwrap();
        assert!(ts.len() <= points + 2, "{q}: {} rows", ts.len());
        for (i, t) in ts.iter().enumerate() {
            let seq = gc["seq"][i].as_u64().expect("every row is a record");
            assert!(
                (t.as_f64().unwrap() - seq as f64 / 10.0).abs() < 1e-6,
                "{q}: row {i}"
            );
            if let Some(live) = gc["heap_live_mb"][i].as_f64() {
                assert_eq!(live, plateau_live(seq) as f64, "{q}: row {i} (seq {seq})");
            }
            if let Some(goal) = gc["heap_goal_mb"][i].as_f64() {
                assert_eq!(goal, (2 * plateau_live(seq) + 4) as f64, "{q}: row {i}");
            }
        }
    }

    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    page.click("button.win[data-window='all']");
    let all = page.eval("window.gcviz.points('live')");
    let summaries = check_points(&all, "the whole run");
    assert!(summaries > 0, "the whole run is folded");
    check_plateau(&all, "the whole run", 2);
    screenshot(&mut page, "plateau-all.png");

    // Zoom to the plateau and to its edges: the finer levels come from gcviz.
    for (from, to) in [(1500.0, 3500.0), (1990.0, 2010.0), (2995.0, 3005.0)] {
        page.eval(&format!("window.gcviz.zoom({from}, {to})"));
        let pts = page.eval("window.gcviz.points('live')");
        let what = format!("zoomed to {from}..{to}");
        check_points(&pts, &what);
        check_plateau(&pts, &what, 1);
    }
    // The recent past is kept whole: zoomed in, every cycle is there.
    page.eval("window.gcviz.zoom(5990, 5999.95)");
    let pts = page.eval("window.gcviz.points('live')");
    check_points(&pts, "the last 10 s");
    assert_eq!(
        pts.as_array().unwrap().len(),
        100,
        "every cycle of the last 10 s"
    );
    page.eval("window.gcviz.zoom(1500, 3500)");
    page.hover(0.0, 0.0);
    screenshot(&mut page, "plateau-zoomed.png");
    assert_clean(&mut page);
}

/// Runs `name` under gcviz until it exits; the page, showing the whole run,
/// must headline `story`. Returns the verdict.
fn headline_of(name: &str, env: &[(&str, &str)], story: &str) -> Option<Value> {
    let (browser, bin) = (browser()?, program(name)?);
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--"]).arg(&bin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let gcviz = Gcviz::start(cmd);
    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    page.wait_for(
        "the program to exit",
        "window.gcviz.status && window.gcviz.status.state === 'exited'",
        PATIENCE,
    );
    page.click("button.win[data-window='all']");
    let got = page.wait_for(
        &format!("the {story} headline"),
        &format!(
            "(() => {{ const v = window.gcviz.verdict; return v && v.story === '{story}' ? \
             [v, document.getElementById('verdict-head').textContent, window.gcviz.trend] : null; }})()"
        ),
        Duration::from_secs(20),
    );
    let mut verdict = got[0].clone();
    verdict["page_trend"] = got[2].clone();
    assert_eq!(got[1], verdict["headline"], "the page shows the headline");
    readme_screenshot(&mut page, &format!("{story}.png"), None);
    assert_clean(&mut page);
    Some(verdict)
}

#[test]
fn a_heap_leak_is_headlined_as_a_leak() {
    if let Some(v) = headline_of("leak", &[], "heap-leak") {
        assert!(
            v["headline"].as_str().unwrap().contains("live heap grows"),
            "{v}"
        );
        // The page's trend line keeps the leak's start: nothing is skipped.
        assert_eq!(v["page_trend"]["skippedS"], Value::Null, "{v}");
    }
}

#[test]
fn a_goroutine_leak_is_headlined_as_growing_stacks() {
    if let Some(v) = headline_of("goroutineleak", &[], "goroutine-leak") {
        assert!(
            v["headline"].as_str().unwrap().contains("stacks grow"),
            "{v}"
        );
    }
}

#[test]
fn rss_above_the_heap_names_memory_outside_the_go_heap() {
    if let Some(v) = headline_of("mmaprss", &[], "rss-above-heap") {
        let h = v["headline"].as_str().unwrap();
        assert!(h.contains("outside the Go heap"), "{v}");
    }
}

#[test]
fn a_memory_limit_spiral_is_headlined_as_one() {
    if let Some(v) = headline_of("memlimit", &[("GOMEMLIMIT", "128MiB")], "spiral") {
        assert!(
            v["headline"].as_str().unwrap().contains("GOMEMLIMIT"),
            "{v}"
        );
    }
}

/// A log saved with `kubectl logs --timestamps`: every line starts with its
/// RFC 3339 time, the program's lines and the runtime's alike.
#[test]
fn a_kubectl_timestamps_log_shows_clock_times() {
    let Some(browser) = browser() else {
        return;
    };
    // 2025-12-02T03:00:00Z, a gc record every 0.5 s for 10 minutes.
    const START: f64 = 1_764_644_400.0;
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubectl-timestamps.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
    let stamp = |t: f64| {
        let ns = ((t - START) * 1e9).round() as u64;
        let (s, ns) = (ns / 1_000_000_000, ns % 1_000_000_000);
        format!("2025-12-02T03:{:02}:{:02}.{ns:09}Z", s / 60, s % 60)
    };
    for k in 0..1200u64 {
        let at = k as f64 * 0.5 + 0.25;
        // The process started 2 s before the log's first line.
        let wall = START + at - 0.25 + 0.001;
        writeln!(out, "{} handled request {k}", stamp(wall - 0.0005)).unwrap();
        writeln!(
            out,
            "{} gc {} @{:.3}s 1%: 0.010+1.0+0.020 ms clock, 0.020+0.10/1.0/0+0.040 ms cpu, 4->5->2 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            stamp(wall),
            k + 1,
            at
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let (gcviz, _) = Gcviz::serving_file(&log);
    // Every record carries its line's time.
    let ndjson = gcviz.get("/api/records.ndjson");
    for (k, line) in ndjson.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let want = START + k as f64 * 0.5 + 0.001;
        let got = v["wall_s"]
            .as_f64()
            .unwrap_or_else(|| panic!("no wall_s: {line}"));
        assert!(
            (got - want).abs() < 0.002,
            "record {k}: wall_s {got}, want {want}"
        );
    }
    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    page.click("button.win[data-window='all']");
    let view = page.wait_for(
        "clock times on the axis",
        "(() => { const v = window.gcviz.view(); return v.clock ? v : null; })()",
        PATIENCE,
    );
    let first = view["clock"][0].as_str().unwrap();
    assert!(first.starts_with("2025-12-02T03:00:00"), "{view}");
    let last = view["clock"][1].as_str().unwrap();
    assert!(last.starts_with("2025-12-02T03:09:59"), "{view}");
    assert_eq!(
        page.eval("document.getElementById('btn-clock').hidden"),
        false,
        "the clock/elapsed switch is offered"
    );
    screenshot(&mut page, "clock.png");
    page.click("#btn-clock");
    assert_eq!(page.eval("window.gcviz.view().clock"), Value::Null);
    assert_clean(&mut page);
}

/// `--mark REGEX` puts the program's own events on the charts, with the
/// line on hover; the page adds and removes patterns live.
#[test]
fn marked_lines_are_drawn_with_their_text_and_patterns_change_live() {
    let Some(browser) = browser() else {
        return;
    };
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("marks.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
    for k in 0..300u64 {
        writeln!(
            out,
            "gc {} @{:.3}s 1%: 0.010+1.0+0.020 ms clock, 0.020+0.10/1.0/0+0.040 ms cpu, 4->5->{} MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            k + 1,
            k as f64 * 0.1,
            if k >= 150 { 40 } else { 2 }
        )
        .unwrap();
        match k {
            149 => writeln!(out, "deploy: v2 rolled out").unwrap(),
            99 | 199 => writeln!(out, "phase: compaction {k}").unwrap(),
            _ => writeln!(out, "request {k} served").unwrap(),
        }
    }
    out.flush().unwrap();
    drop(out);
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--mark", "deploy"])
        .stdin(std::fs::File::open(&log).unwrap());
    let gcviz = Gcviz::start(cmd);
    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    page.click("button.win[data-window='all']");
    let list = page.wait_for(
        "the deploy mark",
        "window.gcviz.marks.list.length === 1 && window.gcviz.marks.list",
        PATIENCE,
    );
    assert_eq!(list[0]["text"], "deploy: v2 rolled out");
    assert_eq!(list[0]["t_s"], 14.9, "at the last gc cycle before the line");
    readme_screenshot(&mut page, "marks.png", None);
    // Hovering the marker shows the line.
    let at = page.eval(
        "(() => { const c = document.querySelector('#chart-memory .u-over').getBoundingClientRect(); \
         const u = window.gcviz.view(); \
         return [c.x + (14.9 - u.min) / (u.max - u.min) * c.width, c.y + c.height / 2]; })()",
    );
    page.hover(at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    let tip = page.wait_for(
        "the mark's tooltip",
        "(() => { const t = document.getElementById('tooltip'); return !t.hidden && t.textContent.includes('deploy: v2') ? t.textContent : null; })()",
        PATIENCE,
    );
    assert!(tip.as_str().unwrap().contains("matched deploy"), "{tip}");
    // Added live: the kept lines that match are marked at once.
    page.eval("document.getElementById('mark-input').value = 'phase:'");
    page.click("#mark-form button[type=submit]");
    let list = page.wait_for(
        "the phase marks",
        "window.gcviz.marks.list.length === 3 && window.gcviz.marks.list.map(m => m.t_s)",
        PATIENCE,
    );
    assert_eq!(list, serde_json::json!([9.9, 14.9, 19.9]));
    page.click(".mark-chip");
    page.wait_for(
        "the deploy pattern removed",
        "window.gcviz.marks.patterns.join() === 'phase:' && window.gcviz.marks.list.length === 2",
        PATIENCE,
    );
    assert_clean(&mut page);
    // Changes need the page's header: another site cannot add patterns.
    let refused = page.eval("fetch('api/marks?pattern=x', { method: 'POST' }).then(r => r.status)");
    assert_eq!(refused, 403);
}

/// The first minute on the page: without its token the page says it needs
/// one; with it, series that have no data are greyed with the hint that
/// brings them, and legends show the newest values when not hovering.
#[test]
fn the_page_explains_a_missing_token_empty_series_and_shows_latest_values() {
    let Some(browser) = browser() else {
        return;
    };
    let log = common::fixtures().join("traces/go1.27.3/forced.log");
    let mut cmd = binary::command();
    cmd.args([
        "--keep-serving",
        "-p",
        "0",
        "--token",
        "s3cret-token-0123456789",
    ])
    .stdin(std::fs::File::open(&log).unwrap());
    let gcviz = Gcviz::start(cmd);
    let bare = gcviz.url.split('?').next().unwrap().to_string();
    let mut page = Browser::new_page(browser);
    page.navigate(&bare);
    let notice = page.wait_for(
        "the page to say it needs the token",
        "(() => { const n = document.getElementById('notice'); return !n.hidden && n.textContent; })()",
        PATIENCE,
    );
    assert!(
        notice.as_str().unwrap().contains("access token"),
        "{notice}"
    );
    assert_eq!(
        page.eval("document.getElementById('conn').textContent"),
        "access token needed"
    );
    drop(page);

    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    page.wait_for(
        "the end of the input",
        "window.gcviz.status.state === 'eof'",
        PATIENCE,
    );
    page.click("button.win[data-window='all']");
    let greyed = page.wait_for(
        "RSS greyed with its hint",
        "(() => { const s = [...document.querySelectorAll('#chart-memory .u-series.nodata')].map(e => e.textContent); \
         return s.some(t => t.includes('process RSS') && t.includes('--pid')) ? s : null; })()",
        PATIENCE,
    );
    assert!(
        !greyed.to_string().contains("live heap"),
        "series with data are not greyed: {greyed}"
    );
    // Not hovering: the legend holds the newest live heap, not a dash.
    let live = page.eval(
        "[...document.querySelectorAll('#chart-memory .u-series')][1].querySelector('.u-value').textContent",
    );
    let live = live.as_str().unwrap();
    assert!(live.parse::<f64>().is_ok(), "legend value: {live}");
    assert_clean(&mut page);
}
