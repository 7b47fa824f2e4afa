//! Debian's Prometheus for a test: started on loopback with its own storage,
//! queried over its HTTP API, killed when the test ends; and the waits the
//! test needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::common::binary::http_get;
use crate::{JOB_PAGE, JOB_SIDECAR};

/// A child process killed when the test ends, even by panic.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn urlencode(s: &str) -> String {
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
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub type Labels = BTreeMap<String, String>;

pub struct Prom {
    pub addr: String,
    _proc: Running,
    log: PathBuf,
}

impl Prom {
    /// The instant vector `expr` evaluates to, as (labels, value) pairs.
    pub fn query(&self, expr: &str) -> Vec<(Labels, f64)> {
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
    pub fn query_range(&self, expr: &str, t0: f64, t1: f64) -> Vec<(Labels, Vec<(f64, f64)>)> {
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub fn start_prometheus(
    bin: &Path,
    dir: &Path,
    page: &str,
    sidecar: &str,
    token_file: &Path,
) -> Prom {
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

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
