//! A real Prometheus (Debian's) scrapes two gcviz instances that wrap real Go
//! programs: one on loopback with the page, one bound beyond loopback with
//! `--no-page` and a token file, scraped with a Bearer token. Every series
//! must hold what the instance's own `/api/status` and `/api/records.ndjson`
//! say, and every query of the Grafana dashboard and every condition of the
//! example alert rules must return data. Traffic stays on this machine.

mod common;
#[path = "prometheus/panels.rs"]
mod panels;
#[path = "prometheus/prom.rs"]
mod prom;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::binary::{self, Gcviz, http_get};
use prom::{Prom, free_port, start_prometheus, unix_now, wait_for};

const TOKEN: &str = "fleet-t0ken-0123456789";
const JOB_PAGE: &str = "gcviz-page";
const JOB_SIDECAR: &str = "gcviz";
/// What Prometheus 2.42 asks for.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Debian's prometheus (`GCVIZ_PROMETHEUS`, set by .ci/test), or `None`
/// after saying why (a failure under CI).
fn prometheus() -> Option<PathBuf> {
    let found = std::env::var_os("GCVIZ_PROMETHEUS")
        .map(PathBuf::from)
        .filter(|p| p.is_file() && p.with_file_name("promtool").is_file());
    common::require("Prometheus and promtool (GCVIZ_PROMETHEUS)", found)
}

/// One gcviz wrapping a Go program; what it serves, and how to reach it.
struct Instance {
    addr: String,
    auth: Vec<(&'static str, String)>,
    gcviz: Gcviz,
}

impl Instance {
    /// gcviz with `args` on `port`, wrapping `program`, reached at `addr`.
    fn start(args: &[&str], program: &Path, port: u16, addr: &str, stdin: Stdio) -> Instance {
        let mut cmd = binary::command();
        cmd.args(args)
            .args(["-p", &port.to_string(), "--keep-serving", "--"])
            .arg(program)
            .stdin(stdin);
        Instance {
            addr: addr.to_string(),
            auth: Vec::new(),
            gcviz: Gcviz::start(cmd),
        }
    }

    fn get(&self, path: &str) -> String {
        let headers: Vec<(&str, &str)> = self.auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = http_get(&self.addr, path, &headers)
            .unwrap_or_else(|| panic!("GET {path} from {}: no answer", self.addr));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.get("/api/status")).unwrap()
    }

    fn stderr(&self) -> String {
        self.gcviz.stderr.text()
    }
}

fn ms_to_ns(v: &Value) -> u64 {
    (v.as_f64().unwrap_or(0.0) * 1e6).round() as u64
}

/// What each series should hold, from the instance's own APIs.
fn expected(inst: &Instance, go_version: &str) -> Vec<(String, f64)> {
    let status = inst.status();
    let records: Vec<Value> = inst
        .get("/api/records.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c = &status["counts"];
    assert_eq!(
        records.len() as u64,
        c["records"].as_u64().unwrap(),
        "every record is still kept whole"
    );
    let gcs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "gc").collect();
    let scavs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "scav").collect();
    assert!(gcs.len() >= 5, "too few GC cycles: {}", gcs.len());
    assert!(!scavs.is_empty(), "no scav record");
    let last = gcs.last().unwrap();
    let mib = |f: &str| last[f].as_f64().unwrap() * 1048576.0;
    let sum_s = |f: &str| gcs.iter().map(|g| ms_to_ns(&g[f])).sum::<u64>() as f64 / 1e9;
    let count = |f: &dyn Fn(&Value) -> bool| records.iter().filter(|r| f(r)).count() as f64;
    let mut out: Vec<(String, f64)> = vec![
        ("gcviz_records_total".into(), c["records"].as_f64().unwrap()),
        ("gcviz_gc_cycles_total".into(), gcs.len() as f64),
        ("gcviz_gc_cycles_total".into(), c["gc"].as_f64().unwrap()),
        (
            "gcviz_gc_forced_cycles_total".into(),
            count(&|r| r["kind"] == "gc" && r["forced"] == true),
        ),
        (
            "gcviz_repaired_records_total".into(),
            count(&|r| r["repaired"] == true),
        ),
        (
            "gcviz_repaired_records_total".into(),
            c["repaired"].as_f64().unwrap(),
        ),
        (
            "gcviz_unresolved_fragments_total".into(),
            c["unresolved"].as_f64().unwrap(),
        ),
        (
            "gcviz_missing_cycles_total".into(),
            c["gaps"].as_f64().unwrap(),
        ),
        (
            "gcviz_long_lines_total".into(),
            c["long_lines"].as_f64().unwrap(),
        ),
        (
            "gcviz_dropped_updates_total".into(),
            c["dropped"].as_f64().unwrap(),
        ),
        ("gcviz_clients".into(), c["clients"].as_f64().unwrap()),
        ("gcviz_heap_live_bytes".into(), mib("heap_live_mb")),
        ("gcviz_heap_goal_bytes".into(), mib("heap_goal_mb")),
        ("gcviz_heap_at_gc_start_bytes".into(), mib("heap_start_mb")),
        ("gcviz_heap_at_gc_end_bytes".into(), mib("heap_end_mb")),
        ("gcviz_stacks_bytes".into(), mib("stacks_mb")),
        ("gcviz_globals_bytes".into(), mib("globals_mb")),
        ("gcviz_gomaxprocs".into(), last["procs"].as_f64().unwrap()),
        (
            "gcviz_last_gc_stw_seconds".into(),
            ms_to_ns(&last["stw_ms"]) as f64 / 1e9,
        ),
        (
            "gcviz_gc_cpu_ratio".into(),
            last["gc_cpu_window_pct"].as_f64().unwrap() / 100.0,
        ),
        ("gcviz_gc_cpu_seconds_total".into(), sum_s("gc_cpu_ms")),
        (
            "gcviz_gc_assist_cpu_seconds_total".into(),
            sum_s("assist_cpu_ms"),
        ),
        (
            "gcviz_gc_idle_cpu_seconds_total".into(),
            sum_s("idle_cpu_ms"),
        ),
        (
            "gcviz_scavenged_bytes_total".into(),
            scavs
                .iter()
                .map(|s| s["work_kib"].as_f64().unwrap() * 1024.0)
                .sum(),
        ),
        (
            "gcviz_heap_released_bytes".into(),
            scavs.last().unwrap()["released_kib"].as_f64().unwrap() * 1024.0,
        ),
    ];
    for (name, field, bounds) in [
        (
            "gc_pause_seconds",
            "stw_ms",
            &gcviz::store::metrics::PAUSE_BOUNDS_NS,
        ),
        (
            "gc_mark_seconds",
            "mark_ms",
            &gcviz::store::metrics::MARK_BOUNDS_NS,
        ),
    ] {
        let ns: Vec<u64> = gcs.iter().map(|g| ms_to_ns(&g[field])).collect();
        out.push((format!("gcviz_{name}_count"), ns.len() as f64));
        out.push((format!("gcviz_{name}_sum"), sum_s(field)));
        for b in bounds {
            let le = (*b as f64 / 1e9).to_string();
            let n = ns.iter().filter(|&&v| v <= *b).count();
            out.push((format!("gcviz_{name}_bucket{{le=\"{le}\"}}"), n as f64));
        }
        out.push((
            format!("gcviz_{name}_bucket{{le=\"+Inf\"}}"),
            ns.len() as f64,
        ));
    }
    // RSS: the newest sample the page has.
    let history: Value = serde_json::from_str(&inst.get("/api/history?points=20000")).unwrap();
    let rss = history["kinds"]["rss"]["rss_kib"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(Value::as_f64)
        .expect("an RSS sample");
    out.push(("gcviz_rss_bytes".into(), rss * 1024.0));
    let command = status["command"].as_str().unwrap();
    assert_eq!(status["go_version"], go_version, "{status}");
    out.push((
        format!("gcviz_program_info{{command={command:?},go_version={go_version:?}}}"),
        1.0,
    ));
    out
}

/// `name{extra labels}` with the instance's label added.
fn with_instance(series: &str, instance: &str) -> String {
    match series.split_once('{') {
        Some((name, rest)) => format!("{name}{{instance=\"{instance}\",{rest}"),
        None => format!("{series}{{instance=\"{instance}\"}}"),
    }
}

/// An alert expression with its thresholds lifted: comparisons return 0 or
/// 1 (`bool`) and `and` becomes `+`, so it returns a series for an instance
/// exactly when every condition has data for it. (The example rules keep
/// each condition in parentheses, so `+` binds as `and` did.)
fn conditions_only(expr: &str) -> String {
    // Prometheus prints `on (job, instance)`; the rules file `on(job, instance)`.
    let mut out = expr
        .replace(" and on(job, instance) ", " + on(job, instance) ")
        .replace(" and on (job, instance) ", " + on(job, instance) ");
    for op in [">", "<", ">=", "<=", "==", "!="] {
        out = out.replace(&format!(" {op} "), &format!(" {op} bool "));
    }
    out
}

#[test]
fn prometheus_scrapes_two_instances_and_the_dashboard_and_alerts_have_data() {
    let Some(goroot) = common::goroot() else {
        return;
    };
    let Some(prometheus) = prometheus() else {
        return;
    };
    let programs = common::fixtures().join("programs");
    let leak = common::go_build(&goroot, &programs.join("leak/main.go"));
    let web_alloc = common::go_build(&goroot, &programs.join("web-alloc/main.go"));
    let go_version = String::from_utf8(
        Command::new(goroot.join("bin/go"))
            .args(["env", "GOVERSION"])
            .env("GOROOT", &goroot)
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    let dir = tempfile::tempdir().unwrap();
    // A secret as `echo` writes it: with a newline, which gcviz drops.
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (page_port, sidecar_port) = (free_port(), free_port());
    let page_addr = format!("127.0.0.1:{page_port}");
    // Bound to every interface (beyond loopback: the token is required),
    // scraped through loopback.
    let sidecar_addr = format!("127.0.0.1:{sidecar_port}");
    let prom = start_prometheus(
        &prometheus,
        dir.path(),
        &page_addr,
        &sidecar_addr,
        &token_file,
    );

    // Prometheus hands new targets to its scrapers after a few seconds: the
    // leak lasts about two, and must be seen growing.
    wait_for("Prometheus to scrape", Duration::from_secs(60), || {
        (prom.query("up").len() == 2).then_some(())
    });
    let started_s = unix_now();
    let mut sidecar = Instance::start(
        &[
            "-i",
            "0.0.0.0",
            "--token-file",
            token_file.to_str().unwrap(),
            "--no-page",
        ],
        &web_alloc,
        sidecar_port,
        &sidecar_addr,
        Stdio::piped(),
    );
    sidecar.auth = vec![("Authorization", format!("Bearer {TOKEN}"))];
    let page = Instance::start(&[], &leak, page_port, &page_addr, Stdio::null());

    check_sidecar_http(&sidecar_addr);

    // Let Prometheus scrape the running programs, then let them end.
    // GCVIZ_PROMETHEUS_RUN_S makes a longer run for the README's picture.
    let run_s = std::env::var("GCVIZ_PROMETHEUS_RUN_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    std::thread::sleep(Duration::from_secs(run_s));
    drop(sidecar.gcviz.stdin.take());
    let exited = wait_for("both programs to exit", Duration::from_secs(60), || {
        [&sidecar, &page]
            .iter()
            .all(|i| i.status()["state"] == "exited")
            .then(unix_now)
    });
    // A scrape after both ended, and the growth alert evaluated on it.
    wait_for(
        "a scrape after the programs ended",
        Duration::from_secs(60),
        || {
            [&sidecar_addr, &page_addr]
                .iter()
                .all(|i| {
                    prom.query(&format!(
                        "timestamp(gcviz_records_total{{instance=\"{i}\"}})"
                    ))
                    .first()
                    .map(|(_, t)| *t)
                    .is_some_and(|t| t > exited + 1.0)
                })
                .then_some(())
        },
    );

    let promtool = prometheus.with_file_name("promtool");
    check_text_format(&promtool, &sidecar_addr);
    for inst in [&sidecar, &page] {
        check_series(&prom, inst, &go_version);
    }
    let up = prom.query("up");
    assert!(up.len() == 2 && up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    let jobs = format!("({JOB_PAGE}|{JOB_SIDECAR})");
    let instances = format!("({page_addr}|{sidecar_addr})");
    let vars = [("$job", jobs.as_str()), ("$instance", instances.as_str())];
    let dashboard = check_dashboard(&prom, &vars);
    panels::picture(&prom, &dashboard, &vars, started_s);
    check_rules(&prom, &promtool, &page_addr);
}

/// The sidecar: metrics and APIs behind the token, no page; OpenMetrics
/// for Prometheus.
fn check_sidecar_http(addr: &str) {
    let bearer = format!("Bearer {TOKEN}");
    let no_token = http_get(addr, "/metrics", &[]).unwrap();
    assert_eq!(no_token.0, 401, "{no_token:?}");
    for path in ["/", "/app.js", "/events"] {
        let (status, _, _) = http_get(addr, path, &[("Authorization", &bearer)]).unwrap();
        assert_eq!(status, 404, "--no-page still serves {path}");
    }
    let (status, content_type, body) = http_get(
        addr,
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT), ("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(body.ends_with("# EOF\n"));
    let (_, _, dashboard) = http_get(
        addr,
        "/api/grafana-dashboard.json",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(
        dashboard.as_bytes(),
        gcviz::store::metrics::GRAFANA_DASHBOARD
    );
}

/// Text format 0.0.4 (what curl gets) passes promtool's lint.
fn check_text_format(promtool: &Path, addr: &str) {
    let bearer = format!("Bearer {TOKEN}");
    let (_, content_type, text) =
        http_get(addr, "/metrics", &[("Authorization", &bearer)]).unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let mut lint = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr),
    );
}

/// Every series of one instance, in Prometheus, against the instance's own APIs.
fn check_series(prom: &Prom, inst: &Instance, go_version: &str) {
    for (series, want) in expected(inst, go_version) {
        let got = prom
            .query(&with_instance(&series, &inst.addr))
            .first()
            .map(|(_, v)| *v);
        let close = got.is_some_and(|g| (g - want).abs() <= 1e-9 * want.abs().max(1.0));
        assert!(
            close,
            "{series} of {}: Prometheus has {got:?}, gcviz's APIs say {want}\ngcviz: {}\nprometheus: {}",
            inst.addr,
            inst.stderr(),
            prom.log()
        );
    }
}

/// Every dashboard query returns data, with the template variables as
/// Grafana fills them in ("All" is a regex of every value). Returns the
/// dashboard.
fn check_dashboard(prom: &Prom, vars: &[(&str, &str)]) -> Value {
    let dashboard: Value =
        serde_json::from_slice(gcviz::store::metrics::GRAFANA_DASHBOARD).unwrap();
    let defined = dashboard["templating"]["list"].as_array().unwrap();
    for (var, regex) in vars {
        let name = &var[1..];
        assert!(
            defined.iter().any(|v| v["name"] == name),
            "no {var} variable"
        );
        let got = prom.query(&format!(
            "count by ({name}) (gcviz_records_total{{{name}=~\"{regex}\"}})"
        ));
        assert_eq!(got.len(), 2, "{var}: {got:?}");
    }
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let mut expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "4s");
            for (var, value) in vars {
                expr = expr.replace(var, value);
            }
            exprs.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    for (title, expr) in &exprs {
        let got = prom.query(expr);
        assert!(!got.is_empty(), "panel {title:?}: {expr} returned no data");
        // The heap panel is per instance: both have every line.
        if title.starts_with("Heap") {
            assert_eq!(got.len(), 2, "{expr}");
        }
    }
    dashboard
}

/// The rules file is valid, Prometheus loaded it, every rule evaluates,
/// every recording rule and every alert condition has data for both
/// instances, and the leak is caught.
fn check_rules(prom: &Prom, promtool: &Path, leak_addr: &str) {
    let rules_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/prometheus-rules.yml");
    let check = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules_file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let rules: Vec<Value> = wait_for("the rules evaluated", Duration::from_secs(30), || {
        let (_, _, body) = http_get(&prom.addr, "/api/v1/rules", &[])?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let all: Vec<Value> = v["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = all
            .iter()
            .all(|r| r["lastEvaluation"] != "0001-01-01T00:00:00Z");
        (all.len() == 5 && evaluated).then_some(all)
    });
    for rule in &rules {
        let name = rule["name"].as_str().unwrap();
        assert_eq!(rule["health"], "ok", "rule {name}: {rule}");
        let probe = if rule["type"] == "alerting" {
            conditions_only(rule["query"].as_str().unwrap())
        } else {
            name.to_string()
        };
        // Rules over rules (a deriv of a recorded rate) need a few rounds.
        wait_for(
            &format!("rule {name} to have data for both instances: {probe}"),
            Duration::from_secs(30),
            || (prom.query(&probe).len() == 2).then_some(()),
        );
    }
    let alerts = wait_for("the leak alert", Duration::from_secs(30), || {
        let got = prom.query(&format!(
            "ALERTS{{alertname=\"GcvizLiveHeapGrowing\",instance=\"{leak_addr}\"}}"
        ));
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(alerts[0].0["alertstate"], "pending", "{alerts:?}");
}

/// `--no-page` without any Prometheus: metrics, the JSON APIs and the
/// dashboard are served; the page's files and its live stream are not.
#[tokio::test]
async fn without_the_page_only_metrics_and_apis_are_served() {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, header};
    use gcviz::web::server::{Access, App, router};
    use tower::ServiceExt;

    let hub = gcviz::store::hub::Hub::new(
        gcviz::store::history::HistoryLimits::default(),
        gcviz::store::hub::Status::default(),
    );
    let access = Access {
        token: Some(TOKEN.into()),
        loopback: false,
    };
    let app = App::new(hub, access).with_page(false);
    let get = |path: &'static str, bearer: bool| {
        let app = app.clone();
        async move {
            let mut req = Request::get(path).header(header::HOST, "gcviz.example:9090");
            if bearer {
                req = req.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
            }
            let res = router(app)
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
            (status, body)
        }
    };
    for path in [
        "/metrics",
        "/api/status",
        "/api/grafana-dashboard.json",
        "/api/records.ndjson",
    ] {
        assert_eq!(get(path, true).await.0, 200, "{path}");
        assert_eq!(get(path, false).await.0, 401, "{path} without the token");
    }
    for path in ["/", "/app.js", "/style.css", "/events"] {
        assert_eq!(get(path, true).await.0, 404, "{path}");
        assert_ne!(get(path, false).await.0, 200, "{path} without the token");
    }
    let (_, dashboard) = get("/api/grafana-dashboard.json", true).await;
    let dashboard: Value = serde_json::from_slice(&dashboard).unwrap();
    assert_eq!(dashboard["uid"], "gcviz-fleet");
}
