//! The Grafana dashboard's panels drawn from Prometheus's answers, as one
//! HTML page of SVG charts: a picture of the dashboard where Grafana itself
//! is not available. Line charts, the pause heatmap as cells, the program
//! table as a table; nothing else of Grafana is imitated.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::prom::{Prom, unix_now};

pub struct Series {
    pub name: String,
    /// (unix seconds, value)
    pub points: Vec<(f64, f64)>,
}

pub struct Panel {
    pub title: String,
    /// Grafana's unit: `bytes`, `s`, `percentunit`, `cpm`, `short`.
    pub unit: String,
    pub kind: String,
    pub width: u32,
    pub series: Vec<Series>,
}

const COLORS: [&str; 10] = [
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#ff9830",
    "#96d98d", "#ca95e5",
];

fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{:.0} MiB", v / 1048576.0),
        "s" if v < 1e-3 => format!("{:.0} µs", v * 1e6),
        "s" => format!("{:.1} ms", v * 1e3),
        "percentunit" => format!("{:.1} %", v * 100.0),
        "cpm" => format!("{v:.0}/min"),
        _ if v != v.round() => format!("{v:.2}"),
        _ => format!("{v:.0}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One panel: a title over its chart (or table) and legend.
fn panel(out: &mut String, p: &Panel, t0: f64, t1: f64) {
    let w = if p.width >= 24 { 1300.0 } else { 640.0 };
    let h = 230.0;
    let (left, top, right, bottom) = (70.0, 10.0, 10.0, 24.0);
    let span = (t1 - t0).max(1.0);
    let x = |t: f64| left + (t - t0) / span * (w - left - right);
    let _ = write!(
        out,
        "<section style=\"width:{w}px\"><h2>{}</h2>",
        escape(&p.title)
    );
    if p.kind == "table" {
        out.push_str("<table>");
        for s in &p.series {
            let _ = write!(out, "<tr><td>{}</td></tr>", escape(&s.name));
        }
        out.push_str("</table></section>");
        return;
    }
    let _ = write!(out, "<svg width=\"{w}\" height=\"{h}\">");
    let y_axis = |out: &mut String, max: f64| {
        for i in 0..=4 {
            let v = max * f64::from(i) / 4.0;
            let y = top + (h - top - bottom) * (1.0 - f64::from(i) / 4.0);
            let _ = write!(
                out,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" class=\"grid\"/><text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>",
                w - right,
                left - 6.0,
                y + 4.0,
                fmt_value(v, &p.unit)
            );
        }
    };
    for i in 0..=4 {
        let t = t0 + span * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{:.0} s</text>",
            x(t),
            h - 6.0,
            t - t0
        );
    }
    if p.kind == "heatmap" {
        // Rows are the buckets in order of `le`; a cell's shade is the count
        // of its bucket alone (Prometheus's buckets are cumulative, and
        // Grafana takes them apart the same way).
        let mut rows: Vec<&Series> = p.series.iter().collect();
        let le = |s: &Series| s.name.parse::<f64>().unwrap_or(f64::INFINITY);
        rows.sort_by(|a, b| le(a).total_cmp(&le(b)));
        let mut below: std::collections::HashMap<u64, f64> = Default::default();
        let rows: Vec<Series> = rows
            .into_iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .map(|&(t, v)| {
                        let under = below.insert(t.to_bits(), v).unwrap_or(0.0);
                        (t, (v - under).max(0.0))
                    })
                    .collect(),
            })
            .collect();
        let max = rows
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max)
            .max(1e-9);
        let row_h = (h - top - bottom) / rows.len().max(1) as f64;
        let cell_w = (w - left - right) / span;
        for (i, s) in rows.iter().enumerate() {
            let y = h - bottom - row_h * (i + 1) as f64;
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">≤ {}</text>",
                left - 6.0,
                y + row_h * 0.7,
                escape(&s.name)
            );
            for &(t, v) in &s.points {
                if v > 0.0 {
                    let _ = write!(
                        out,
                        "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#ff780a\" fill-opacity=\"{:.3}\"/>",
                        x(t) - cell_w,
                        cell_w.max(1.0),
                        row_h - 1.0,
                        0.15 + 0.85 * v / max
                    );
                }
            }
        }
        out.push_str("</svg></section>");
        return;
    }
    let max = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    y_axis(out, max);
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
    let mut legend = String::new();
    for (i, s) in p.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            out,
            "<polyline points=\"{}\" stroke=\"{color}\"/>",
            points.join(" ")
        );
        let _ = write!(
            legend,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            escape(&s.name)
        );
    }
    let _ = write!(out, "</svg><div class=\"legend\">{legend}</div></section>");
}

/// The page: every panel in the dashboard's order, over one time range.
pub fn html(title: &str, panels: &[Panel], t0: f64, t1: f64) -> String {
    let mut out = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{0}</title><style>\
         body{{background:#111217;color:#ccccdc;font:13px sans-serif;margin:12px;width:1320px}}\
         h1{{font-size:17px;margin:0 0 10px}} h2{{font-size:13px;margin:4px 8px}}\
         main{{display:flex;flex-wrap:wrap;gap:10px}}\
         section{{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:4px}}\
         .grid{{stroke:#2c3235}} .tick{{fill:#8e8e8e;font-size:11px}}\
         polyline{{fill:none;stroke-width:1.6}}\
         .legend{{margin:2px 8px;font-size:11px}} .legend span{{margin-right:14px;white-space:nowrap}}\
         .legend i{{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}}\
         td{{padding:3px 8px;font-family:monospace;font-size:12px}}\
         </style><h1>{0}</h1><main>",
        escape(title)
    );
    for p in panels {
        panel(&mut out, p, t0, t1);
    }
    out.push_str("</main>");
    out
}

/// The dashboard drawn from Prometheus's answers to its queries (Grafana is
/// not packaged by Debian), screenshotted by headless Chromium when there is
/// one: target/prometheus-artifacts/grafana-dashboard.png, and
/// web/screenshots/ with GCVIZ_UPDATE_SCREENSHOTS=1.
pub fn picture(prom: &Prom, dashboard: &Value, vars: &[(&str, &str)], t0: f64) {
    let t1 = unix_now();
    let mut drawn = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        let mut series = Vec::new();
        for target in p["targets"].as_array().unwrap() {
            let mut expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "4s");
            for (var, value) in vars {
                expr = expr.replace(var, value);
            }
            let legend = target["legendFormat"].as_str().unwrap_or("");
            let name = |labels: &BTreeMap<String, String>| {
                let mut name = legend.to_string();
                for (k, v) in labels {
                    name = name.replace(&format!("{{{{{k}}}}}"), v);
                }
                name
            };
            if target["instant"] == true {
                for (labels, _) in prom.query(&expr) {
                    let row: Vec<String> = labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "__name__")
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    series.push(Series {
                        name: row.join("  "),
                        points: Vec::new(),
                    });
                }
            } else {
                for (labels, points) in prom.query_range(&expr, t0, t1) {
                    series.push(Series {
                        name: name(&labels),
                        points,
                    });
                }
            }
        }
        assert!(
            !series.is_empty(),
            "panel {} has nothing to draw",
            p["title"]
        );
        drawn.push(Panel {
            title: p["title"].as_str().unwrap().to_string(),
            unit: p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("short")
                .to_string(),
            kind: p["type"].as_str().unwrap().to_string(),
            width: p["gridPos"]["w"].as_u64().unwrap_or(12) as u32,
            series,
        });
    }
    let title = dashboard["title"].as_str().unwrap();
    let html = html(title, &drawn, t0, t1);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("prometheus-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("grafana-dashboard.html");
    std::fs::write(&page, html).unwrap();
    let Some(chromium) = std::env::var_os("GCVIZ_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    else {
        println!(
            "dashboard picture (no Chromium for a PNG): {}",
            page.display()
        );
        return;
    };
    let png = dir.join("grafana-dashboard.png");
    let _ = std::fs::remove_file(&png);
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium-profile").display()
        ))
        .arg("--window-size=1344,1290")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot of the dashboard: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("dashboard picture: {}", png.display());
    if std::env::var_os("GCVIZ_UPDATE_SCREENSHOTS").is_some() {
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        std::fs::copy(&png, shots.join("grafana-dashboard.png")).unwrap();
    }
}
