//! The heap panel in headless Chromium: gcviz wraps a real Go service that
//! serves net/http/pprof (fixtures/programs/pprofservice), with no flag; a
//! drag on the memory chart picks two moments and the page names the
//! leaking function first, with its call path and the two profiles to
//! download; a goroutine leak makes the goroutine chart climb. See
//! tests/browser.rs for how the browser is driven.

// Shared with tests/browser.rs, which uses more of them.
#[allow(dead_code)]
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[allow(dead_code)]
#[path = "browser/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cdp::Browser;
use common::binary::{self, Gcviz};
use common::program;
use harness::{PATIENCE, assert_clean, browser, open, readme_screenshot};

/// gcviz wrapping the service in `mode`, no pprof flag but a short period;
/// the service runs until its stdin (held by the returned Gcviz) closes.
fn wrap_service(bin: &Path, mode: &str) -> Gcviz {
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--pprof-every", "1", "--"])
        .arg(bin)
        .args(["-mode", mode])
        .stdin(Stdio::piped());
    Gcviz::start(cmd)
}

/// Issue 14, done when: with no flag, the page shows which function's
/// in-use memory grew between two moments picked on the chart.
#[test]
fn dragging_two_moments_on_the_memory_chart_names_the_leaking_function_first() {
    let (Some(browser), Some(bin)) = (browser(), program("pprofservice")) else {
        return;
    };
    let gcviz = wrap_service(&bin, "leak");
    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    // Six seconds of profiles: the header says where they come from.
    page.wait_for(
        "profiles six seconds apart",
        "(() => { const p = window.gcviz.heap.state.profiles; \
         return p.length >= 5 && p[p.length - 1].t_s - p[0].t_s >= 6; })()",
        PATIENCE,
    );
    let header = page.eval("document.getElementById('pprof').textContent");
    assert!(
        header.as_str().unwrap().contains("/debug/pprof/ (found"),
        "{header}"
    );
    page.click("button.win[data-window='all']");

    // Drag across the memory chart from a quarter to nine tenths of its width.
    let over = page.eval(
        "(() => { const r = document.querySelector('#chart-memory .u-over').getBoundingClientRect(); \
         return [r.x, r.y, r.width, r.height]; })()",
    );
    let f = |i: usize| over[i].as_f64().unwrap();
    let (x, y, w, h) = (f(0), f(1), f(2), f(3));
    let diffs_before = page.eval("window.gcviz.heap.diffs").as_u64().unwrap();
    page.drag((x + 0.25 * w, y + h / 2.0), (x + 0.9 * w, y + h / 2.0));
    let got = page.wait_for(
        "the diff of the dragged moments",
        &format!(
            "(() => {{ const h = window.gcviz.heap, v = window.gcviz.view(); \
             const d = h.state.diff, p = h.state.pair; \
             if (v.follow || h.diffs <= {diffs_before} || !d || !p) return null; \
             if (d.from.id !== p[0].id || d.to.id !== p[1].id) return null; \
             const first = document.querySelector('#heap-rows .heap-row .fn'); \
             return [v.min, v.max, h.state.diff.from, h.state.diff.to, first && first.textContent, \
                     h.state.profiles.map(p => p.t_s)]; }})()"
        ),
        Duration::from_secs(30),
    );
    let (min, max) = (got[0].as_f64().unwrap(), got[1].as_f64().unwrap());
    let times: Vec<f64> = got[5]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    // The profiles compared are the first and the last between the two
    // moments picked.
    let inside: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| (min..=max).contains(t))
        .collect();
    assert!(inside.len() >= 2, "{got}");
    assert_eq!(got[2]["t_s"].as_f64().unwrap(), inside[0], "{got}");
    assert_eq!(
        got[3]["t_s"].as_f64().unwrap(),
        inside[inside.len() - 1],
        "{got}"
    );
    assert!(got[2]["t_s"].as_f64() < got[3]["t_s"].as_f64(), "{got}");
    assert_eq!(got[4], "main.leakInto", "the leak first: {got}");

    // Its call path on expand.
    page.eval("document.querySelector('#heap-rows .heap-row summary').scrollIntoView({ block: 'center' })");
    page.click("#heap-rows .heap-row summary");
    let path = page.wait_for(
        "the call path",
        "(() => { const d = document.querySelector('#heap-rows .heap-row'); \
         return d.open && d.querySelector('.frames') ? d.querySelector('.frames').textContent : null; })()",
        Duration::from_secs(10),
    );
    assert!(
        path.as_str()
            .unwrap()
            .starts_with("main.leakInto ← main.main"),
        "{path}"
    );

    // The two profiles download, gzipped, as `go tool pprof` reads them.
    let downloads = page.eval(
        "Promise.all(['heap-dl-from', 'heap-dl-to'].map(async id => { \
           const a = document.getElementById(id); \
           const b = new Uint8Array(await (await fetch(a.href)).arrayBuffer()); \
           return [a.hidden, b.length, b[0], b[1]]; }))",
    );
    for d in downloads.as_array().unwrap() {
        assert_eq!(d[0], false, "{downloads}");
        assert!(d[1].as_u64().unwrap() > 100, "{downloads}");
        assert_eq!((d[2].as_u64(), d[3].as_u64()), (Some(0x1f), Some(0x8b)));
    }
    page.click("#heap-rows .heap-row summary"); // folded again for the picture
    page.eval("window.scrollTo(0, 0)");
    readme_screenshot(&mut page, "heap-profiles.png", Some("heap"));
    assert_clean(&mut page);
}

/// A goroutine leak: the goroutine chart climbs.
#[test]
fn the_goroutine_chart_climbs_with_a_goroutine_leak() {
    let (Some(browser), Some(bin)) = (browser(), program("pprofservice")) else {
        return;
    };
    let gcviz = wrap_service(&bin, "goroutines");
    let mut page = Browser::new_page(browser);
    open(&mut page, &gcviz);
    let drawn = page.wait_for(
        "five goroutine counts drawn",
        "(() => { const c = document.querySelector('#chart-goroutines .uplot'); \
         const h = window.gcviz.heap.state; \
         return c && !document.getElementById('heap-area').hidden && h.gy.length >= 5 \
           ? [h.gy, document.getElementById('goroutines-now').textContent] : null; })()",
        PATIENCE,
    );
    let counts: Vec<u64> = drawn[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts[counts.len() - 1] >= counts[0] + 100, "{counts:?}");
    assert_eq!(
        drawn[1],
        format!("{} now", counts[counts.len() - 1]),
        "{drawn}"
    );
    assert_clean(&mut page);
}
