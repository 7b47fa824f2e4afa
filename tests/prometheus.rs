//! A real Prometheus (Debian's) scrapes two gcviz instances that wrap real Go
//! programs: one on loopback with the page, one bound beyond loopback with
//! `--no-page` and a token file, scraped with a Bearer token. Every series
//! must hold what the instance's own `/api/status` and `/api/records.ndjson`
//! say, and every query of the Grafana dashboard and every condition of the
//! example alert rules must return data. Traffic stays on this machine.

mod common;
#[path = "prometheus/panels.rs"]
mod panels;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

const TOKEN: &str = "fleet-t0ken";
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

/// A child process killed when the test ends, even by panic.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0 with extra headers: (status, content type, body).
fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String, String)> {
    let mut conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, content_type, body.to_string()))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `f` every 200 ms until it gives a value, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

type Labels = BTreeMap<String, String>;

struct Prom {
    addr: String,
    _proc: Running,
    log: PathBuf,
}

impl Prom {
    /// The instant vector `expr` evaluates to, as (labels, value) pairs.
    fn query(&self, expr: &str) -> Vec<(Labels, f64)> {
        let path = format!("/api/v1/query?query={}", urlencode(expr));
        let (status, _, body) = http_get(&self.addr, &path, &[]).expect("querying Prometheus");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert!(
            status == 200 && v["status"] == "success",
            "query {expr} failed: {status} {body}"
        );
        let result = &v["data"]["result"];
        if v["data"]["resultType"] == "scalar" {
            let value = result[1].as_str().unwrap().parse().unwrap();
            return vec![(BTreeMap::new(), value)];
        }
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let value = s["value"][1].as_str().unwrap();
                let value = match value {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().unwrap(),
                };
                (labels, value)
            })
            .collect()
    }

    /// `expr` over `[t0, t1]` at 1 s steps: each series' labels and points.
    fn query_range(&self, expr: &str, t0: f64, t1: f64) -> Vec<(Labels, Vec<(f64, f64)>)> {
        let path = format!(
            "/api/v1/query_range?query={}&start={t0:.3}&end={t1:.3}&step=1",
            urlencode(expr)
        );
        let (_, _, body) = http_get(&self.addr, &path, &[]).expect("querying Prometheus");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(v["status"], "success", "range query {expr}: {body}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let points = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_f64().unwrap(),
                            p[1].as_str().unwrap().parse().unwrap_or(f64::NAN),
                        )
                    })
                    .collect();
                (labels, points)
            })
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start_prometheus(bin: &Path, dir: &Path, page: &str, sidecar: &str, token_file: &Path) -> Prom {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/prometheus-rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{rules:?}]\n\
         scrape_configs:\n\
         \x20 - job_name: {JOB_PAGE}\n    static_configs: [{{targets: [{page:?}]}}]\n\
         \x20 - job_name: {JOB_SIDECAR}\n    authorization: {{credentials_file: {token_file:?}}}\n    static_configs: [{{targets: [{sidecar:?}]}}]\n",
    );
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = dir.join("prometheus.log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting prometheus");
    let prom = Prom {
        addr,
        _proc: Running(child),
        log,
    };
    wait_for("Prometheus to be ready", Duration::from_secs(60), || {
        http_get(&prom.addr, "/-/ready", &[]).filter(|(s, _, _)| *s == 200)
    });
    prom
}

/// One gcviz wrapping a Go program; what it serves, and how to reach it.
struct Instance {
    addr: String,
    auth: Vec<(&'static str, String)>,
    proc: Running,
    stderr: PathBuf,
}

impl Instance {
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
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn start_gcviz(args: &[&str], program: &Path, port: u16, dir: &Path, stdin: Stdio) -> Running {
    let stderr = dir.join(format!("gcviz-{port}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_gcviz"))
        .args(args)
        .args(["-p", &port.to_string(), "--keep-serving", "--"])
        .arg(program)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("starting gcviz");
    Running(child)
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
            &gcviz::metrics::PAUSE_BOUNDS_NS,
        ),
        (
            "gc_mark_seconds",
            "mark_ms",
            &gcviz::metrics::MARK_BOUNDS_NS,
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
    let sidecar_proc = start_gcviz(
        &[
            "-i",
            "0.0.0.0",
            "--token-file",
            token_file.to_str().unwrap(),
            "--no-page",
        ],
        &web_alloc,
        sidecar_port,
        dir.path(),
        Stdio::piped(),
    );
    let page_proc = start_gcviz(&[], &leak, page_port, dir.path(), Stdio::null());
    let mut sidecar = Instance {
        addr: sidecar_addr.clone(),
        auth: vec![("Authorization", format!("Bearer {TOKEN}"))],
        proc: sidecar_proc,
        stderr: dir.path().join(format!("gcviz-{sidecar_port}.log")),
    };
    let page = Instance {
        addr: page_addr.clone(),
        auth: Vec::new(),
        proc: page_proc,
        stderr: dir.path().join(format!("gcviz-{page_port}.log")),
    };
    for inst in [&sidecar, &page] {
        wait_for("gcviz to serve", Duration::from_secs(60), || {
            http_get(&inst.addr, "/api/status", &[]).map(|_| ())
        });
    }

    // The sidecar: metrics and APIs behind the token, no page.
    let no_token = http_get(&sidecar_addr, "/metrics", &[]).unwrap();
    assert_eq!(no_token.0, 401, "{no_token:?}");
    for path in ["/", "/app.js", "/events"] {
        let bearer = format!("Bearer {TOKEN}");
        let (status, _, _) = http_get(&sidecar_addr, path, &[("Authorization", &bearer)]).unwrap();
        assert_eq!(status, 404, "--no-page still serves {path}");
    }
    let om = http_get(
        &sidecar_addr,
        "/metrics",
        &[
            ("Accept", PROMETHEUS_ACCEPT),
            ("Authorization", &format!("Bearer {TOKEN}")),
        ],
    )
    .unwrap();
    assert_eq!(om.0, 200);
    assert!(
        om.1.starts_with("application/openmetrics-text; version=1.0.0"),
        "{}",
        om.1
    );
    assert!(om.2.ends_with("# EOF\n"));
    assert_eq!(
        sidecar.get("/api/grafana-dashboard.json").as_bytes(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("web/grafana-dashboard.json"))
            .unwrap()
    );

    // Let Prometheus scrape the running programs, then let them end.
    // GCVIZ_PROMETHEUS_RUN_S makes a longer run for the README's picture.
    let run_s = std::env::var("GCVIZ_PROMETHEUS_RUN_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    std::thread::sleep(Duration::from_secs(run_s));
    drop(sidecar.proc.0.stdin.take());
    let exited = wait_for("both programs to exit", Duration::from_secs(60), || {
        [&sidecar, &page]
            .iter()
            .all(|i| i.status()["state"] == "exited")
            .then(SystemTime::now)
    });
    let exited_s = exited
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
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
                    .is_some_and(|t| t > exited_s + 1.0)
                })
                .then_some(())
        },
    );

    // Text format 0.0.4 passes promtool's lint.
    let text = http_get(
        &sidecar_addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .unwrap();
    assert!(
        text.1.starts_with("text/plain; version=0.0.4"),
        "{}",
        text.1
    );
    let mut lint = Command::new(prometheus.with_file_name("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.2.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr),
        text.2
    );

    // Every series, against the instance's own APIs.
    for inst in [&sidecar, &page] {
        for (series, want) in expected(inst, &go_version) {
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
    let up = prom.query("up");
    assert!(up.len() == 2 && up.iter().all(|(_, v)| *v == 1.0), "{up:?}");

    // Every dashboard query, with the template variables as Grafana fills
    // them in ("All" is a regex of every value).
    let dashboard: Value = serde_json::from_slice(gcviz::metrics::GRAFANA_DASHBOARD).unwrap();
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    for name in ["job", "instance"] {
        assert!(
            vars.iter().any(|v| v["name"] == name),
            "no ${name} variable"
        );
    }
    let jobs = format!("({JOB_PAGE}|{JOB_SIDECAR})");
    let instances = format!("({page_addr}|{sidecar_addr})");
    for (name, regex) in [("job", &jobs), ("instance", &instances)] {
        let got = prom.query(&format!(
            "count by ({name}) (gcviz_records_total{{{name}=~\"{regex}\"}})"
        ));
        assert_eq!(got.len(), 2, "${name}: {got:?}");
    }
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$job", &jobs)
                .replace("$instance", &instances)
                .replace("$__rate_interval", "4s");
            exprs.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    for (title, expr) in &exprs {
        let got = prom.query(expr);
        assert!(!got.is_empty(), "panel {title:?}: {expr} returned no data");
    }
    // Per instance where the panel is per instance: both have every heap line.
    let heap = &exprs
        .iter()
        .filter(|(t, _)| t.starts_with("Heap"))
        .collect::<Vec<_>>();
    for (_, expr) in heap {
        assert_eq!(prom.query(expr).len(), 2, "{expr}");
    }

    picture(
        &prom,
        &dashboard,
        &[("$job", &jobs), ("$instance", &instances)],
        started_s,
    );

    // The rules file is valid, Prometheus loaded it, every rule evaluates,
    // every recording rule and every alert condition has data for both
    // instances, and the leak is caught.
    let rules_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/prometheus-rules.yml");
    let check = Command::new(prometheus.with_file_name("promtool"))
        .args(["check", "rules"])
        .arg(&rules_file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let rules: Value = wait_for("the rules evaluated", Duration::from_secs(30), || {
        let (_, _, body) = http_get(&prom.addr, "/api/v1/rules", &[])?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let all: Vec<Value> = v["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        (all.len() == 5
            && all
                .iter()
                .all(|r| r["lastEvaluation"] != "0001-01-01T00:00:00Z"))
        .then_some(Value::Array(all))
    });
    for rule in rules.as_array().unwrap() {
        let name = rule["name"].as_str().unwrap();
        assert_eq!(rule["health"], "ok", "rule {name}: {rule}");
        let expr = rule["query"].as_str().unwrap();
        let probe = if rule["type"] == "alerting" {
            conditions_only(expr)
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
            "ALERTS{{alertname=\"GcvizLiveHeapGrowing\",instance=\"{page_addr}\"}}"
        ));
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(alerts[0].0["alertstate"], "pending", "{alerts:?}");
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The dashboard drawn from Prometheus's answers to its queries (Grafana is
/// not packaged by Debian), screenshotted by headless Chromium when there is
/// one: target/prometheus-artifacts/grafana-dashboard.png, and
/// web/screenshots/ with GCVIZ_UPDATE_SCREENSHOTS=1.
fn picture(prom: &Prom, dashboard: &Value, vars: &[(&str, &str)], t0: f64) {
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
                    series.push(panels::Series {
                        name: row.join("  "),
                        points: Vec::new(),
                    });
                }
            } else {
                for (labels, points) in prom.query_range(&expr, t0, t1) {
                    series.push(panels::Series {
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
        drawn.push(panels::Panel {
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
    let html = panels::html(title, &drawn, t0, t1);
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

/// `--no-page` without any Prometheus: metrics, the JSON APIs and the
/// dashboard are served; the page's files and its live stream are not.
#[tokio::test]
async fn without_the_page_only_metrics_and_apis_are_served() {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, header};
    use gcviz::server::{Access, App, router};
    use tower::ServiceExt;

    let hub = gcviz::hub::Hub::new(
        gcviz::history::HistoryLimits::default(),
        gcviz::hub::Status::default(),
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
