//! gcviz as a filter and a command line, against the real binary: what it
//! does when its output closes or fills, the `--record` file, the first
//! minute (unknown options, a program that is not there, no trace at all,
//! binding beyond loopback), and the numbers it writes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::binary::{Gcviz, PAGE_AT, PATIENCE, command, eventually, get_from};
use common::fixtures;
use rustix::process::Signal;

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
    let mut child = command()
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
    let status = Gcviz::adopt(child).finish().status;
    assert_eq!(status.code(), Some(141), "{status:?}");
    writer.join().unwrap();
}

#[test]
fn a_full_disk_is_reported_once_and_ends_in_failure() {
    let mut cmd = command();
    cmd.arg("--no-server")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let mut run = Gcviz::spawn(cmd);
    let text = [b"some program text\n".repeat(1000), trace()].concat();
    run.stdin.take().unwrap().write_all(&text).unwrap();
    let out = run.finish();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.code(), 1, "{err}");
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
    let out = command()
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
    let out = command()
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
        let out = command()
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
    let mut cmd = command();
    cmd.args(["--no-server", "--record"])
        .arg(&rec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut run = Gcviz::spawn(cmd);
    let mut input = run.stdin.take().unwrap();
    input.write_all(&trace()).unwrap();
    input.write_all(b"all written\n").unwrap();
    // The pass-through shows gcviz has parsed the trace; the input stays open.
    eventually("the pass-through", || {
        run.stdout.line_starting("all written")
    });
    run.signal(Signal::TERM);
    let status = run.finish().status;
    assert_eq!(status.code(), None, "ended by the signal: {status:?}");
    let recorded = std::fs::read(&rec).unwrap();
    assert_eq!(records_in(&recorded), records_in(&trace()));
    assert!(recorded.ends_with(b"\n"));
    drop(input);
}

#[test]
fn an_unknown_option_is_a_usage_error_not_a_program() {
    let out = command()
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
    let out = command()
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
        let out = command()
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
    let out = command()
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
    let mut cmd = command();
    cmd.arg("--keep-serving").stdin(Stdio::from(
        std::fs::File::open(fixtures().join("programs/chatty/main.go")).unwrap(),
    ));
    let run = Gcviz::start(cmd);
    eventually("the hint", || {
        run.stderr.contains(HINT.as_bytes()).then_some(())
    });
    let status = get_from(&run.url, "/api/status").expect("GET /api/status");
    drop(run);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        status["hint"].as_str().is_some_and(|h| h.contains(HINT)),
        "{status}"
    );
}

#[test]
fn input_with_a_trace_gets_no_hint() {
    let out = command()
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
    let mut cmd = command();
    cmd.args(["--exit-with-program", "sh", "-c", &script]);
    let run = Gcviz::start(cmd);
    let base = run.url.clone();
    let start = Instant::now();
    // The line gcviz writes after the page's address.
    let line = eventually("a second line from gcviz", || {
        let text = run.stderr.text();
        let second = text.split_inclusive('\n').nth(1)?;
        second.ends_with('\n').then(|| second.to_string())
    });
    let waited = start.elapsed();
    let status = |base: &str| -> serde_json::Value {
        serde_json::from_str(&get_from(base, "/api/status").expect("GET /api/status")).unwrap()
    };
    let hinted = status(&base);
    // Then the trace arrives: the page's hint goes.
    let mut later = status(&base);
    while later["counts"]["records"] == 0 && start.elapsed() < PATIENCE {
        thread::sleep(Duration::from_millis(100));
        later = status(&base);
    }
    drop(run);
    assert!(line.contains(HINT), "{line}");
    assert!(waited >= Duration::from_secs(9), "too soon: {waited:?}");
    assert!(
        hinted["hint"].as_str().is_some_and(|h| h.contains(HINT)),
        "{hinted}"
    );
    assert!(later["counts"]["records"].as_u64() > Some(0), "{later}");
    assert!(later["hint"].is_null(), "{later}");
}

/// Starts a served gcviz on `bind`; returns its URLs (the first line's and
/// any others printed) and the running gcviz.
fn served(bind: &str) -> (Vec<String>, Gcviz) {
    let mut cmd = command();
    cmd.args(["-i", bind, "--keep-serving"])
        .stdin(Stdio::piped());
    let run = Gcviz::start(cmd);
    let urls = eventually("the page's URLs", || {
        let mut urls = Vec::new();
        for l in run.stderr.text().split_inclusive('\n') {
            let l = l.strip_suffix('\n')?.trim();
            if let Some(url) = l.strip_prefix(PAGE_AT) {
                urls.push(url.split(' ').next().unwrap().to_string());
            } else if let Some(url) = l.strip_prefix("gcviz:") {
                match url.trim().strip_prefix("or ") {
                    Some(url) => urls.push(url.to_string()),
                    None => return Some(urls),
                }
            }
            // The last URL line is followed by nothing until the input
            // ends: stop at the loopback one, printed last.
            if l.contains("://127.0.0.1:") || l.contains("://[::1]:") {
                return Some(urls);
            }
        }
        None
    });
    (urls, run)
}

#[test]
fn binding_all_interfaces_prints_urls_another_machine_can_open() {
    let (urls, run) = served("0.0.0.0");
    let first = urls.first().expect("a URL").clone();
    for url in &urls {
        // Each printed URL works, token included.
        get_from(url, "/api/status").unwrap_or_else(|| panic!("GET {url}api/status"));
    }
    drop(run);
    assert!(!first.contains("127.0.0.1"), "{urls:?}");
    assert!(!first.contains("0.0.0.0"), "{urls:?}");
    assert!(first.contains("?token="), "{urls:?}");
}

#[test]
fn localhost_is_a_bind_address() {
    let (urls, run) = served("localhost");
    let url = urls.first().expect("a URL").clone();
    get_from(&url, "/api/status").expect("GET /api/status");
    drop(run);
    assert!(url.starts_with("http://127.0.0.1:"), "{urls:?}");
    assert!(!url.contains("token"), "{urls:?}");
}

#[test]
fn a_short_token_is_refused() {
    let out = command()
        .args(["--token", "s3cret", "--exit-with-program", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 16"), "{err}");
    let out = command()
        .args(["--exit-with-program", "true"])
        .env("GCVIZ_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn derived_numbers_are_written_as_the_trace_writes_numbers() {
    let line = b"gc 1 @0.013s 1%: 0.021+0.47+0.035 ms clock, 0.25+0.27/0.098/0.19+0.02 ms cpu, 3->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
    let mut child = command()
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
    let mut cmd = command();
    cmd.args(["--keep-serving", "-p", "0"])
        .stdin(Stdio::piped());
    let mut run = Gcviz::start(cmd);
    let mut stdin = run.stdin.take().unwrap();
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
    let records = eventually("the record", || {
        get_from(&run.url, "/api/records.ndjson").filter(|r| !r.trim().is_empty())
    });
    let rec: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(rec["raw"], record.trim_end());
    assert_eq!(rec["repaired"], true);
    // The record is shown as its chunk is scanned, the chunk's text written
    // after: at the end of input all of it has been.
    drop(stdin);
    eventually("the end of input", || {
        get_from(&run.url, "/api/status").filter(|s| s.contains("\"state\":\"eof\""))
    });
    run.signal(Signal::KILL);
    let out = run.finish();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2026/12/02 11:26:36 request id=1 status=200\n2026/12/02 11:26:38 request id=2 status=200\n"
    );
}
