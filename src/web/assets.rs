//! The page's files, embedded in the binary so it works offline, with the
//! content types they are served with.
//!
//! The page's script is native ES modules (`web/app.js` imports the others),
//! so every module must be listed here; a test checks that each `web/*.js`
//! and each module an import names is.

const JS: &str = "text/javascript; charset=utf-8";

/// A module of the page's script, served at `/NAME`.
macro_rules! module {
    ($name:literal) => {
        (
            concat!("/", $name),
            JS,
            include_bytes!(concat!("../../web/", $name)),
        )
    };
}

/// (path, content type, bytes) of every embedded file.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../web/index.html"),
    ),
    module!("app.js"),
    module!("state.js"),
    module!("table.js"),
    module!("format.js"),
    module!("stream.js"),
    module!("header.js"),
    module!("charts.js"),
    module!("trend.js"),
    module!("tooltip.js"),
    module!("marks.js"),
    module!("export.js"),
    module!("controls.js"),
    (
        "/heap.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/heap.js"),
    ),
    (
        "/heap.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/heap.css"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/style.css"),
    ),
    (
        "/vendor/uPlot.iife.min.js",
        JS,
        include_bytes!("../../web/vendor/uPlot.iife.min.js"),
    ),
    (
        "/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/vendor/uPlot.min.css"),
    ),
    (
        "/vendor/uPlot-LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../web/vendor/uPlot-LICENSE"),
    ),
];

pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, ct, body)| (*ct, *body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modules that `import ... from './NAME.js'` lines of `js` name.
    fn imports(js: &str) -> Vec<&str> {
        js.split("from './")
            .skip(1)
            .filter_map(|rest| rest.split_once('\''))
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn every_module_of_the_page_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
        let mut on_disk = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") {
                on_disk += 1;
                let served = asset(&format!("/{name}"));
                assert_eq!(served.map(|(ct, _)| ct), Some(JS), "web/{name}");
            }
        }
        assert!(on_disk > 1, "the page is split into modules");
    }

    #[test]
    fn every_import_names_an_embedded_module() {
        let mut seen = 0;
        for (path, ct, body) in ASSETS {
            if *ct != JS || path.starts_with("/vendor/") {
                continue;
            }
            let js = std::str::from_utf8(body).unwrap();
            for name in imports(js) {
                seen += 1;
                assert!(
                    asset(&format!("/{name}")).is_some(),
                    "{path} imports {name}"
                );
            }
        }
        assert!(
            seen > 0,
            "no import found: the check would pass on anything"
        );
    }
}
