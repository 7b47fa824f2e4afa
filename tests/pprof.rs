//! Heap profiles and goroutine counts end to end: the real gcviz binary
//! wraps a real Go service (fixtures/programs/pprofservice) that serves
//! net/http/pprof on a port the kernel picks, finds it with no flag, and
//! the heap diff names the function that leaks; endpoints that hang or
//! answer garbage (small loopback servers in the test) are said once and
//! block nothing; a program without pprof gets one probe on its own port.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::binary::{self, Gcviz, eventually, http_get_bytes};
use common::program;
use serde_json::Value;

/// gcviz with `flags` wrapping the service in `mode`; the service runs
/// until its stdin (held by the Gcviz) closes.
fn wrap_service(flags: &[&str], mode: &str) -> Option<Gcviz> {
    let bin = program("pprofservice")?;
    let mut cmd = binary::command();
    cmd.args(["--exit-with-program", "-p", "0"])
        .args(flags)
        .arg("--")
        .arg(bin)
        .args(["-mode", mode])
        .stdin(Stdio::piped());
    Some(Gcviz::start(cmd))
}

/// `GET path` of the page's server: (status, body).
fn get(run: &Gcviz, path: &str) -> (u16, Vec<u8>) {
    let (status, _, body) =
        http_get_bytes(&run.addr, path, &[]).unwrap_or_else(|| panic!("GET {path}: no answer"));
    (status, body)
}

fn get_json(run: &Gcviz, path: &str) -> Value {
    serde_json::from_str(&run.get(path)).unwrap()
}

/// The port the service printed (`listening 127.0.0.1:PORT`).
fn service_port(run: &Gcviz) -> u16 {
    eventually("the service's port", || {
        let l = run.stdout.line_starting("listening ")?;
        l.rsplit(':').next()?.parse().ok()
    })
}

/// Issue 14, done when: `gcviz ./service` with no flag finds the pprof
/// endpoint and the diff between the first and the newest profile names
/// the function that leaks first, ahead of one that allocates far more
/// but keeps nothing, and of one that holds more from the start.
#[test]
fn with_no_flag_the_diff_names_the_leaking_function_first() {
    let Some(run) = wrap_service(&["--pprof-every", "1"], "leak") else {
        return;
    };
    let port = service_port(&run);
    let said = eventually("gcviz to say what it found", || {
        run.stderr.line_starting("gcviz: pprof: ")
    });
    assert!(
        said.starts_with(&format!(
            "gcviz: pprof: found http://127.0.0.1:{port}/debug/pprof/"
        )),
        "{said}"
    );
    let status = get_json(&run, "/api/status");
    assert_eq!(
        status["pprof"]["endpoint"],
        format!("http://127.0.0.1:{port}/debug/pprof/")
    );
    // Three seconds of leaking between the first and the newest profile.
    eventually("profiles three seconds apart", || {
        let list = get_json(&run, "/api/heap/profiles");
        let p = list["profiles"].as_array()?;
        (p.len() >= 3 && p.last()?["t_s"].as_f64()? - p[0]["t_s"].as_f64()? >= 3.0).then_some(())
    });
    let diff = get_json(&run, "/api/heap/diff?limit=2000");
    let rows = diff["rows"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["function"] == name).cloned();
    assert_eq!(rows[0]["function"], "main.leakInto", "{diff:#}");
    let leak = &rows[0];
    assert!(
        leak["inuse_bytes_delta"].as_i64().unwrap() > 8 << 20,
        "{leak}"
    );
    assert!(leak["inuse_objects_delta"].as_i64().unwrap() > 0, "{leak}");
    assert_eq!(leak["stacks"][0]["frames"][0], "main.leakInto");
    assert!(
        leak["stacks"][0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "main.main"),
        "{leak}"
    );
    // churn allocated more than the leak over the same time, and kept none of it.
    let churn = row("main.churn").expect("main.churn in the diff");
    assert!(
        churn["alloc_bytes_delta"].as_i64() > leak["alloc_bytes_delta"].as_i64(),
        "{churn} vs {leak}"
    );
    assert!(churn["inuse_bytes_delta"].as_i64() < leak["inuse_bytes_delta"].as_i64());
    assert!(diff["from_s"].as_f64() < diff["to_s"].as_f64());

    // Two moments picked on the chart: the nearest profiles are compared.
    let list = get_json(&run, "/api/heap/profiles");
    let p = list["profiles"].as_array().unwrap();
    let (a, b) = (&p[1], &p[p.len() - 2]);
    let picked = get_json(
        &run,
        &format!(
            "/api/heap/diff?from_s={}&to_s={}",
            a["t_s"].as_f64().unwrap() + 0.01,
            b["t_s"].as_f64().unwrap() - 0.01
        ),
    );
    assert_eq!(picked["from"]["id"], a["id"]);
    assert_eq!(picked["to"]["id"], b["id"]);

    // Each profile downloads as the program sent it, gzipped.
    let (code, raw) = get(&run, &format!("/api/heap/profile/{}.pb.gz", p[0]["id"]));
    assert_eq!(code, 200);
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    assert_eq!(raw.len() as u64, p[0]["raw_bytes"].as_u64().unwrap());
    assert_eq!(get(&run, "/api/heap/profile/99999.pb.gz").0, 404);
}

/// A goroutine leak: the counts climb, in the API and in the NDJSON export.
#[test]
fn the_goroutine_count_climbs_with_a_goroutine_leak() {
    let Some(run) = wrap_service(&["--pprof-every", "0.5"], "goroutines") else {
        return;
    };
    let counts = eventually("five goroutine counts", || {
        let g = get_json(&run, "/api/goroutines");
        let c: Vec<u64> = g["samples"]
            .as_array()?
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .collect();
        (c.len() >= 5).then_some(c)
    });
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "a leak only climbs: {counts:?}"
    );
    assert!(counts[counts.len() - 1] >= counts[0] + 100, "{counts:?}");
    let (_, ndjson) = get(&run, "/api/records.ndjson");
    let lines: Vec<Value> = String::from_utf8(ndjson)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let g: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "goroutines").collect();
    assert!(g.len() >= 5);
    assert!(
        g.iter()
            .all(|l| l["count"].as_u64().is_some() && l["t_s"].as_f64().is_some())
    );
    // In time order among the trace's records.
    let times: Vec<f64> = lines.iter().filter_map(|l| l["t_s"].as_f64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // And in /metrics: the last count read, no lower than the counts above,
    // and the heap profiles read.
    let (_, metrics) = get(&run, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    let value = |name: &str| -> Option<f64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    let now = value("gcviz_goroutines").expect("a goroutine gauge");
    assert!(now >= counts[counts.len() - 1] as f64, "{now} {counts:?}");
    assert!(value("gcviz_heap_profiles_total").is_some_and(|n| n >= 1.0));
}

/// A loopback server that counts connections and requests and answers
/// each request with `answer` (or never, when `None`).
struct FakeEndpoint {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl FakeEndpoint {
    fn start(answer: Option<&'static [u8]>) -> FakeEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let mut r = BufReader::new(conn);
                    let mut line = String::new();
                    // The request head, then the answer (or silence).
                    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    match answer {
                        Some(body) => {
                            let mut c = r.into_inner();
                            let _ = write!(
                                c,
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = c.write_all(body);
                        }
                        None => thread::sleep(Duration::from_secs(600)),
                    }
                });
            }
        });
        FakeEndpoint { port, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/debug/pprof/", self.port)
    }
}

/// Pipe mode reading a trace while `--pprof` points at `ep`.
fn pipe_with_endpoint(ep: &FakeEndpoint) -> Gcviz {
    let mut cmd = binary::command();
    cmd.args(["--keep-serving", "-p", "0", "--pprof", &ep.url()])
        .args(["--pprof-every", "0.2"])
        .stdin(Stdio::piped());
    Gcviz::start(cmd)
}

fn gc_line(n: u64) -> String {
    format!(
        "gc {n} @{n}.000s 1%: 0.010+1.0+0.010 ms clock, 0.020+0.50/1.0/0+0.020 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
    )
}

/// Feeds records and text while the endpoint misbehaves: each one is
/// parsed and passed through, so nothing waits for the endpoint.
fn feed_and_check_nothing_waits(run: &mut Gcviz, rounds: std::ops::RangeInclusive<u64>) {
    for n in rounds {
        let stdin = run.stdin.as_mut().unwrap();
        stdin.write_all(gc_line(n).as_bytes()).unwrap();
        stdin
            .write_all(format!("app line {n}\n").as_bytes())
            .unwrap();
        eventually("the record to be parsed", || {
            let s = get_json(run, "/api/status");
            (s["counts"]["gc"].as_u64() == Some(n)).then_some(())
        });
        eventually("the text to pass through", || {
            run.stdout
                .text()
                .contains(&format!("app line {n}\n"))
                .then_some(())
        });
    }
}

/// What gcviz said of the endpoint, but the line saying where it reads.
fn failure_lines(run: &Gcviz) -> Vec<String> {
    let lines = run.stderr.lines_starting("gcviz: pprof: ");
    assert!(
        lines[0].starts_with("gcviz: pprof: given http://127.0.0.1:"),
        "{lines:?}"
    );
    lines[1..].to_vec()
}

#[test]
fn an_endpoint_that_never_answers_is_said_once_and_blocks_nothing() {
    let ep = FakeEndpoint::start(None);
    let mut run = pipe_with_endpoint(&ep);
    feed_and_check_nothing_waits(&mut run, 1..=3);
    let said = eventually("the timeout to be said", || {
        let s = get_json(&run, "/api/status");
        (s["pprof"]["state"] == "failing").then_some(s)
    });
    assert!(
        said["pprof"]["error"]
            .as_str()
            .unwrap()
            .contains("no complete answer within 5 s"),
        "{said}"
    );
    // A second attempt, after the back-off: the page and the trace go on.
    eventually("a second attempt", || {
        (ep.connections.load(Ordering::SeqCst) >= 2).then_some(())
    });
    feed_and_check_nothing_waits(&mut run, 4..=8);
    let lines = failure_lines(&run);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&format!("{}heap: no complete answer within 5 s", ep.url())));
    assert!(lines[0].contains("trying again in"), "{lines:?}");
    assert_eq!(get(&run, "/api/heap/diff").0, 404);
}

#[test]
fn an_endpoint_that_answers_garbage_is_said_once_and_keeps_no_profile() {
    let ep = FakeEndpoint::start(Some(
        b"<html><body>404 page not found, or a login form</body></html>",
    ));
    let mut run = pipe_with_endpoint(&ep);
    feed_and_check_nothing_waits(&mut run, 1..=2);
    // Three attempts (0.2 s apart at first, then backing off).
    eventually("three attempts", || {
        (ep.connections.load(Ordering::SeqCst) >= 3).then_some(())
    });
    let status = get_json(&run, "/api/status");
    assert_eq!(status["pprof"]["state"], "failing");
    assert!(
        status["pprof"]["error"]
            .as_str()
            .unwrap()
            .contains("not a pprof profile"),
        "{status}"
    );
    let lines = failure_lines(&run);
    assert_eq!(lines.len(), 1, "one line, not one per attempt: {lines:?}");
    assert!(lines[0].contains("heap: not a pprof profile"), "{lines:?}");
    let list = get_json(&run, "/api/heap/profiles");
    assert_eq!(list["profiles"].as_array().unwrap().len(), 0);
    let (code, body) = get(&run, "/api/heap/diff");
    assert_eq!(code, 404);
    assert!(String::from_utf8_lossy(&body).contains("no heap profile yet"));
}

/// A program that listens but serves no pprof: its own port is asked for
/// `/debug/pprof/` once, no other port is touched, and gcviz says nothing.
#[test]
fn a_program_without_pprof_gets_one_probe_on_its_own_port_and_no_noise() {
    // A port on this machine that is not the program's: never probed.
    let other = FakeEndpoint::start(Some(b"goroutine heap"));
    let Some(run) = wrap_service(&["--pprof-every", "0.5"], "plain") else {
        return;
    };
    service_port(&run);
    eventually("the probe of the program's own port", || {
        run.stdout.line_starting("request ")
    });
    // Discovery keeps looking at the program's ports for a few seconds
    // more (every 0.2 to 5 s): no new port, so no new request.
    eventually("some GC cycles", || {
        let s = get_json(&run, "/api/status");
        (s["counts"]["gc"].as_u64()? >= 3).then_some(())
    });
    thread::sleep(Duration::from_secs(4));
    assert_eq!(
        run.stdout.lines_starting("request "),
        ["request /debug/pprof/"]
    );
    assert_eq!(other.connections.load(Ordering::SeqCst), 0);
    assert!(
        !run.stderr.text().contains("pprof"),
        "{}",
        run.stderr.text()
    );
    let status = get_json(&run, "/api/status");
    assert_eq!(status["pprof"]["state"], "searching");
    let (code, body) = get(&run, "/api/heap/diff");
    assert_eq!(code, 404);
    assert!(String::from_utf8_lossy(&body).contains("no pprof endpoint found yet"));
}

/// A program that exits without ever serving pprof: the status no longer
/// says gcviz is looking, and the heap API says none was found.
#[test]
fn after_the_exit_a_search_that_found_nothing_says_so() {
    let Some(bin) = program("wrap-echo") else {
        return;
    };
    let mut cmd = binary::command();
    cmd.args(["-p", "0", "--keep-serving"])
        .arg(bin)
        .args(["text", "0"])
        .stdin(Stdio::null());
    let run = Gcviz::start(cmd);
    let status = eventually("the program to exit", || {
        let s = get_json(&run, "/api/status");
        (s["state"] == "exited").then_some(s)
    });
    assert_eq!(status["pprof"]["state"], "none");
    let (code, body) = get(&run, "/api/heap/diff");
    assert_eq!(code, 404);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("no pprof endpoint was found"), "{body}");
}

/// `--no-pprof`: nothing is probed, not even the program's own port.
#[test]
fn no_pprof_probes_nothing() {
    let Some(run) = wrap_service(&["--no-pprof"], "plain") else {
        return;
    };
    service_port(&run);
    eventually("some GC cycles", || {
        let s = get_json(&run, "/api/status");
        (s["counts"]["gc"].as_u64()? >= 3).then_some(())
    });
    thread::sleep(Duration::from_secs(2));
    assert!(run.stdout.lines_starting("request ").is_empty());
    assert!(get_json(&run, "/api/status")["pprof"].is_null());
}

#[test]
fn a_pprof_url_that_is_not_http_is_a_usage_error() {
    let out = binary::command()
        .args(["--pprof", "https://127.0.0.1:6060/debug/pprof/", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give an http:// URL"), "{err}");
}
