//! gcviz as a filter and a command line, against the real binary: what it
//! does when its output closes or fills, the `--record` file, the first
//! minute (unknown options, a program that is not there, no trace at all,
//! binding beyond loopback), and the numbers it writes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::fixtures;

/// Only so that a broken gcviz fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

fn gcviz() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gcviz"));
    c.env_remove("GODEBUG").env_remove("GCVIZ_TOKEN");
    c
}

/// Waits for `child` to exit; kills it and fails after PATIENCE.
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: gcviz did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Real trace text: a Go 1.18+ log with gc and scav records.
fn trace() -> Vec<u8> {
    std::fs::read(fixtures().join("handmade/go1.18-scav.log")).unwrap()
}

fn records_in(text: &[u8]) -> usize {
    let (out, _) = common::scan(text);
    out.events.len()
}

#[test]
fn a_closed_stdout_ends_gcviz_as_it_ends_cat() {
    // `yes | gcviz --no-server | head -1`
    let mut child = gcviz()
        .arg("--no-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // Writes until gcviz stops reading (bounded by gcviz's exit).
    let writer = thread::spawn(move || {
        let line = [b'y', b'\n'].repeat(4096);
        while input.write_all(&line).is_ok() {}
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "y\n");
    drop(out);
    let status = wait(&mut child, "stdout closed");
    assert_eq!(status.code(), Some(141), "{status:?}");
    writer.join().unwrap();
}

#[test]
fn a_full_disk_is_reported_once_and_ends_in_failure() {
    let mut child = gcviz()
        .arg("--no-server")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = [b"some program text\n".repeat(1000), trace()].concat();
    input.write_all(&text).unwrap();
    drop(input);
    let status = wait(&mut child, "output to /dev/full");
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("cannot write the program's output").count(),
        1,
        "{err}"
    );
    // gcviz read and parsed everything all the same.
    let want = format!("input ended: {} records", records_in(&trace()));
    assert!(err.contains(&want), "{err}");
}

#[test]
fn a_record_file_on_a_full_disk_is_reported_and_ends_in_failure() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, [trace(), b"program text\n".to_vec()].concat()).unwrap();
    let out = gcviz()
        .args(["--no-server", "--record", "/dev/full"])
        .stdin(Stdio::from(std::fs::File::open(&log).unwrap()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("cannot write the --record file").count(),
        1,
        "{err}"
    );
    // The pass-through is not affected.
    assert_eq!(out.stdout, b"program text\n");
}

#[test]
fn a_record_file_that_is_also_the_input_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("replay.log");
    std::fs::write(&log, trace()).unwrap();
    let out = gcviz()
        .args(["--no-server", "--record"])
        .arg(&log)
        .stdin(Stdio::from(std::fs::File::open(&log).unwrap()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is also the input"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), trace());
}

#[test]
fn a_record_file_is_not_emptied_when_the_page_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.log");
    std::fs::write(&kept, b"yesterday's records\n").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for program in [&["true"][..], &[]] {
        let out = gcviz()
            .args(["--exit-with-program", "-p", &port, "--record"])
            .arg(&kept)
            .args(program)
            .stdin(Stdio::from(
                std::fs::File::open(fixtures().join("handmade/go1.18-scav.log")).unwrap(),
            ))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program:?}: {err}");
        assert!(err.contains("cannot serve the page"), "{err}");
        assert_eq!(std::fs::read(&kept).unwrap(), b"yesterday's records\n");
    }
}

#[test]
fn records_reach_the_record_file_before_gcviz_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.log");
    let mut child = gcviz()
        .args(["--no-server", "--record"])
        .arg(&rec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&trace()).unwrap();
    input.write_all(b"all written\n").unwrap();
    // The pass-through shows gcviz has parsed the trace; the input stays open.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line != "all written\n" {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "stdout ended");
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = wait(&mut child, "SIGTERM");
    assert_eq!(status.code(), None, "ended by the signal: {status:?}");
    let recorded = std::fs::read(&rec).unwrap();
    assert_eq!(records_in(&recorded), records_in(&trace()));
    assert!(recorded.ends_with(b"\n"));
    drop(input);
}

#[test]
fn an_unknown_option_is_a_usage_error_not_a_program() {
    let out = gcviz()
        .args(["--exit-with-program", "--opne", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--opne"), "{err}");
    assert!(!err.contains("live page"), "{err}");
}

#[test]
fn options_after_the_program_are_the_programs() {
    let out = gcviz()
        .args(["--no-server", "--exit-with-program", "echo", "--opne", "-x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"--opne -x\n");
}

#[test]
fn a_program_that_cannot_start_fails_before_any_url() {
    let dir = tempfile::tempdir().unwrap();
    let not_runnable = dir.path().join("data.txt");
    std::fs::write(&not_runnable, "text").unwrap();
    for (program, code, says) in [
        ("./surely-not-here", 127, "command not found"),
        ("surely-not-on-the-path", 127, "command not found"),
        (not_runnable.to_str().unwrap(), 126, "cannot run"),
    ] {
        let out = gcviz()
            .args(["--exit-with-program", program])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{program}: {err}");
        assert!(err.contains(says), "{program}: {err}");
        assert!(!err.contains("live page"), "{program}: {err}");
    }
}

const HINT: &str = "no GC trace seen: is it a Go program?";

#[test]
fn input_without_a_trace_gets_a_hint_on_stderr_and_in_the_status() {
    let out = gcviz()
        .arg("--no-server")
        .stdin(Stdio::from(
            std::fs::File::open(fixtures().join("programs/chatty/main.go")).unwrap(),
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches(HINT).count(), 1, "{err}");
    assert!(err.contains("2>&1"), "{err}");

    // The page's status carries it too.
    let mut child = gcviz()
        .arg("--keep-serving")
        .stdin(Stdio::from(
            std::fs::File::open(fixtures().join("programs/chatty/main.go")).unwrap(),
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut base = None;
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(url) = line.trim().strip_prefix("gcviz: live page at ") {
            base = Some(url.trim_end_matches('/').to_string());
        }
        if line.contains(HINT) {
            break;
        }
        line.clear();
    }
    let base = base.expect("a URL");
    let status = http_get(&base, "/api/status");
    let _ = child.kill();
    let _ = child.wait();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        status["hint"].as_str().is_some_and(|h| h.contains(HINT)),
        "{status}"
    );
}

#[test]
fn input_with_a_trace_gets_no_hint() {
    let out = gcviz()
        .arg("--no-server")
        .stdin(Stdio::from(
            std::fs::File::open(fixtures().join("handmade/go1.18-scav.log")).unwrap(),
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(HINT), "{err}");
}

#[test]
fn a_program_without_a_trace_for_ten_seconds_gets_a_hint_until_one_comes() {
    let log = fixtures().join("handmade/go1.18-scav.log");
    let script = format!("sleep 12; cat '{}' >&2; exec sleep 60", log.display());
    let mut child = gcviz()
        .args(["--exit-with-program", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("gcviz: live page at ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let start = Instant::now();
    line.clear();
    err.read_line(&mut line).unwrap();
    let waited = start.elapsed();
    let status = |base: &str| -> serde_json::Value {
        serde_json::from_str(&http_get(base, "/api/status")).unwrap()
    };
    let hinted = status(&base);
    // Then the trace arrives: the page's hint goes.
    let mut later = status(&base);
    while later["counts"]["records"] == 0 && start.elapsed() < PATIENCE {
        thread::sleep(Duration::from_millis(100));
        later = status(&base);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains(HINT), "{line}");
    assert!(waited >= Duration::from_secs(9), "too soon: {waited:?}");
    assert!(
        hinted["hint"].as_str().is_some_and(|h| h.contains(HINT)),
        "{hinted}"
    );
    assert!(later["counts"]["records"].as_u64() > Some(0), "{later}");
    assert!(later["hint"].is_null(), "{later}");
}

fn http_get(base: &str, path: &str) -> String {
    let hostport = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let query = base.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path}?{query} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Starts a served gcviz on `bind`; returns its URLs (the first line's and
/// any others printed) and the running gcviz.
fn served(bind: &str) -> (Vec<String>, Child) {
    let mut child = gcviz()
        .args(["-i", bind, "--keep-serving"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut urls = Vec::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        let l = line.trim();
        if let Some(url) = l.strip_prefix("gcviz: live page at ") {
            urls.push(url.split(' ').next().unwrap().to_string());
        } else if let Some(url) = l.strip_prefix("gcviz:") {
            match url.trim().strip_prefix("or ") {
                Some(url) => urls.push(url.to_string()),
                None => break,
            }
        }
        // The last URL line is followed by nothing until the input ends:
        // stop at the loopback one, printed last.
        if l.contains("://127.0.0.1:") || l.contains("://[::1]:") {
            break;
        }
        line.clear();
    }
    (urls, child)
}

#[test]
fn binding_all_interfaces_prints_urls_another_machine_can_open() {
    let (urls, mut child) = served("0.0.0.0");
    let first = urls.first().expect("a URL").clone();
    for url in &urls {
        // Each printed URL works, token included.
        http_get(url, "/api/status");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!first.contains("127.0.0.1"), "{urls:?}");
    assert!(!first.contains("0.0.0.0"), "{urls:?}");
    assert!(first.contains("?token="), "{urls:?}");
}

#[test]
fn localhost_is_a_bind_address() {
    let (urls, mut child) = served("localhost");
    let url = urls.first().expect("a URL").clone();
    http_get(&url, "/api/status");
    let _ = child.kill();
    let _ = child.wait();
    assert!(url.starts_with("http://127.0.0.1:"), "{urls:?}");
    assert!(!url.contains("token"), "{urls:?}");
}

#[test]
fn a_short_token_is_refused() {
    let out = gcviz()
        .args(["--token", "s3cret", "--exit-with-program", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 16"), "{err}");
    let out = gcviz()
        .args(["--exit-with-program", "true"])
        .env("GCVIZ_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn derived_numbers_are_written_as_the_trace_writes_numbers() {
    let line = b"gc 1 @0.013s 1%: 0.021+0.47+0.035 ms clock, 0.25+0.27/0.098/0.19+0.02 ms cpu, 3->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
    let mut child = gcviz()
        .arg("parse")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(line).unwrap();
    let out = child.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    // 0.021 + 0.035 is 0.05600000000000001 in binary floating point.
    assert!(out.contains("\"stw_ms\":0.056,"), "{out}");
    assert!(out.contains("\"gc_cpu_ms\":0.638,"), "{out}");
    for number in out.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 9, "{number} in {out}");
    }
}

/// A record whose printing stalls for 2 s mid-way (the runtime
/// descheduled, a throttled container, a slow ssh pipe), with the program
/// writing lines meanwhile, is still rebuilt, live: no clock gives up on it.
#[test]
fn a_record_stalled_two_seconds_in_a_pipe_is_rebuilt_live() {
    let record = "gc 1 @0.012s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
    let (first, rest) = record.split_at(record.find(" ms cpu, ").unwrap());
    let mut child = gcviz()
        .args(["--keep-serving", "-p", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no URL");
        if let Some(url) = line.trim().strip_prefix("gcviz: live page at ") {
            break url.trim_end_matches('/').to_string();
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(first.as_bytes()).unwrap();
    stdin
        .write_all(b"2026/12/02 11:26:36 request id=1 status=200\n")
        .unwrap();
    stdin.flush().unwrap();
    thread::sleep(Duration::from_secs(2));
    stdin
        .write_all(b"2026/12/02 11:26:38 request id=2 status=200\n")
        .unwrap();
    stdin.write_all(rest.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Live: while the input is still open.
    let start = Instant::now();
    let records = loop {
        let r = http_get(&base, "/api/records.ndjson");
        if !r.trim().is_empty() || start.elapsed() > PATIENCE {
            break r;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let rec: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(rec["raw"], record.trim_end());
    assert_eq!(rec["repaired"], true);
    drop(stdin);
    let _ = child.kill();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait();
    assert_eq!(
        out,
        "2026/12/02 11:26:36 request id=1 status=200\n2026/12/02 11:26:38 request id=2 status=200\n"
    );
}
