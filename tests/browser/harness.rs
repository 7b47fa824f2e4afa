//! What the browser test binaries (browser, browser_picture, browser_heap)
//! do around a page: one shared Chromium, the artifacts folder and the
//! README's screenshots, opening gcviz's page and checking that nothing
//! went wrong on it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cdp::{Browser, Page, base64_decode};
use crate::common::{self, binary::Gcviz};

/// Long enough for a loaded 2-core machine; only there so nothing hangs.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The test binary's browser, started on first use; `None` (with a SKIPPED
/// line) when Chromium is not installed outside CI. Its log goes to
/// target/browser-artifacts/chromium-TEST.log.
pub fn browser() -> Option<&'static Browser> {
    static BROWSER: OnceLock<Browser> = OnceLock::new();
    let exe = common::chromium()?;
    Some(BROWSER.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = format!("chromium-{}.log", env!("CARGO_CRATE_NAME"));
        Browser::launch(&exe, tmp, &artifacts().join(log))
    }))
}

/// target/browser-artifacts/: screenshots and measurements a person can look at.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn screenshot(page: &mut Page, name: &str) {
    let path = artifacts().join(name);
    page.screenshot(&path);
    println!("screenshot: {}", path.display());
}

/// Screenshots for the README: into web/screenshots/ when
/// GCVIZ_SCREENSHOTS=1, else beside the other artifacts. A 1100x760 window
/// keeps them small; with `down_to` (an element's id) the picture goes on
/// below the window to that element's bottom.
#[allow(dead_code)] // browser_picture.rs and browser_heap.rs take them
pub fn readme_screenshot(page: &mut Page, name: &str, down_to: Option<&str>) {
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1100, "height": 760, "deviceScaleFactor": 1, "mobile": false }),
    );
    page.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");
    let dir = if std::env::var_os("GCVIZ_SCREENSHOTS").is_some_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("web/screenshots")
    } else {
        artifacts()
    };
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    match down_to {
        None => page.screenshot(&path),
        Some(id) => {
            let bottom = page.eval(&format!(
                "Math.ceil(document.getElementById('{id}').getBoundingClientRect().bottom + window.scrollY + 8)"
            ));
            let res = page.call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true,
                        "clip": { "x": 0, "y": 0, "width": 1100, "height": bottom, "scale": 1 } }),
            );
            let png = base64_decode(res["data"].as_str().expect("screenshot data"));
            std::fs::write(&path, png).unwrap();
        }
    }
    println!("screenshot: {}", path.display());
}

pub fn open(page: &mut Page, gcviz: &Gcviz) {
    page.navigate(&gcviz.url);
    page.wait_for(
        "the page's first snapshot to be drawn",
        "window.gcviz && window.gcviz.ready",
        PATIENCE,
    );
}

/// Nothing went wrong on the page: no console error, uncaught exception,
/// CSP violation or failed load, and nothing the page itself noted.
pub fn assert_clean(page: &mut Page) {
    assert_eq!(
        page.problems(),
        Vec::<String>::new(),
        "the page reported problems"
    );
    assert_eq!(
        page.eval("window.gcviz.errors"),
        Value::Array(vec![]),
        "the page noted errors"
    );
}
