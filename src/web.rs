//! The page's files, embedded in the binary so it works offline, with the
//! content types they are served with.

/// (path, content type, bytes) of every embedded file.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/app.js"),
    ),
    (
        "/heap.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/heap.js"),
    ),
    (
        "/heap.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/heap.css"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/style.css"),
    ),
    (
        "/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/vendor/uPlot.iife.min.js"),
    ),
    (
        "/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/vendor/uPlot.min.css"),
    ),
    (
        "/vendor/uPlot-LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../web/vendor/uPlot-LICENSE"),
    ),
];

pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, ct, body)| (*ct, *body))
}
