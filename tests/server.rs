//! The HTTP side: the router in-process for the page, APIs and access rules,
//! and real sockets for the live stream (snapshot, resume, resync, heartbeat).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use gcviz::store::history::HistoryLimits;
use gcviz::store::hub::{Hub, Status};
use gcviz::trace::event::Event;
use gcviz::web::server::{Access, App, router};
use tower::ServiceExt;

fn gc_event(seq: u64, live_mb: u64) -> Event {
    let line = format!(
        "gc {} @{}.000s 1%: 0.1+1.0+0.1 ms clock, 0.2+0.1/1.0/0+0.2 ms cpu, 4->5->{live_mb} MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P",
        seq + 1,
        seq
    );
    let record = gcviz::trace::parse_record(line.as_bytes()).unwrap();
    Event {
        seq,
        proc: 0,
        line: seq + 1,
        repaired: false,
        t_s: Some(seq as f64),
        record,
        window: None,
        raw: line.into_bytes().into(),
    }
}

fn hub_with(n: u64, limits: HistoryLimits) -> Hub {
    let hub = Hub::new(
        limits,
        Status {
            mode: "pipe",
            state: "running",
            ..Status::default()
        },
    );
    for seq in 0..n {
        hub.publish(gc_event(seq, if seq == n / 2 { 777 } else { 2 }));
    }
    hub
}

fn loopback() -> Access {
    Access {
        token: None,
        loopback: true,
    }
}

async fn get(app: App, uri: &str, host: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let req = Request::get(uri)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap();
    let res = router(app).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_page_is_served_offline_with_a_strict_policy() {
    let app = App::new(hub_with(0, HistoryLimits::default()), loopback());
    let (status, headers, body) = get(app.clone(), "/", "127.0.0.1:8080").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "the page must not load anything from the internet"
    );
    let (status, headers, js) = get(app.clone(), "/vendor/uPlot.iife.min.js", "localhost").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.contains("uPlot"));
    assert_eq!(
        get(app, "/etc/passwd", "localhost").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_loopback_gcviz_refuses_other_hosts() {
    let app = App::new(hub_with(1, HistoryLimits::default()), loopback());
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    assert_eq!(
        get(app.clone(), "/api/status", "evil.example:8080").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(app.clone(), "/", "evil.example").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(app.clone(), "/api/status", "[::1]:9").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(app, "/api/status", "localhost:9").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn beyond_loopback_data_needs_the_token_but_the_page_files_do_not() {
    let access = Access {
        token: Some("s3cret".into()),
        loopback: false,
    };
    let app = App::new(hub_with(3, HistoryLimits::default()), access);
    let host = "myserver:8080";
    assert_eq!(get(app.clone(), "/", host).await.0, StatusCode::OK);
    assert_eq!(get(app.clone(), "/app.js", host).await.0, StatusCode::OK);
    for path in [
        "/api/status",
        "/api/records.ndjson",
        "/events",
        "/metrics",
        "/api/history",
    ] {
        assert_eq!(
            get(app.clone(), path, host).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            get(app.clone(), &format!("{path}?token=wrong"), host)
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert_eq!(
        get(app.clone(), "/api/status?token=s3cret", host).await.0,
        StatusCode::OK
    );
    let req = Request::get("/metrics")
        .header(header::HOST, host)
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        router(app).oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn records_download_has_every_kept_record_in_the_parse_schema() {
    let app = App::new(hub_with(5, HistoryLimits::default()), loopback());
    let (status, _, body) = get(app, "/api/records.ndjson", "localhost").await;
    assert_eq!(status, StatusCode::OK);
    let recs: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[4]["kind"], "gc");
    assert_eq!(recs[4]["gc"], 5);
    assert!(recs[4]["raw"].as_str().unwrap().starts_with("gc 5 @"));
}

#[tokio::test]
async fn one_record_is_there_while_it_is_kept_whole() {
    let app = App::new(
        hub_with(
            20,
            HistoryLimits {
                recent: 10,
                buckets: 8,
            },
        ),
        loopback(),
    );
    let (status, _, body) = get(app.clone(), "/api/record?seq=15", "localhost").await;
    assert_eq!(status, StatusCode::OK);
    let rec: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rec["seq"], 15);
    assert!(rec["raw"].as_str().unwrap().starts_with("gc 16 @15.000s"));
    for gone in ["/api/record?seq=5", "/api/record?seq=20"] {
        assert_eq!(
            get(app.clone(), gone, "localhost").await.0,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
    }
}

#[tokio::test]
async fn history_fits_the_point_budget_and_keeps_the_spike() {
    let app = App::new(
        hub_with(
            100_000,
            HistoryLimits {
                recent: 1000,
                buckets: 256,
            },
        ),
        loopback(),
    );
    let (status, _, body) = get(app.clone(), "/api/history?points=100", "localhost").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let gc = &v["kinds"]["gc"];
    let rows = gc["t_s"].as_array().unwrap().len();
    assert!(rows <= 102, "{rows} rows for a budget of 100");
    for column in gc.as_object().unwrap().values() {
        assert_eq!(column.as_array().unwrap().len(), rows, "one entry per row");
    }
    let max = gc["heap_live_mb"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64())
        .fold(0.0, f64::max);
    assert_eq!(max, 777.0);
    // A zoomed range returns rows only from that range.
    let (_, _, body) = get(
        app,
        "/api/history?from_s=99990&to_s=99999&points=100",
        "localhost",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ts: Vec<f64> = v["kinds"]["gc"]["t_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(ts.len(), 10);
    assert!(ts.iter().all(|t| (99990.0..=99999.0).contains(t)));
}

#[tokio::test]
async fn metrics_use_the_gcviz_prefix_and_base_units() {
    let app = App::new(hub_with(4, HistoryLimits::default()), loopback());
    let (status, headers, body) = get(app, "/metrics", "localhost").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("version=0.0.4")
    );
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("gcviz_"), "{line}");
    }
    assert!(body.contains("gcviz_heap_live_bytes 2097152"), "{body}");
}

// ---- real sockets ----

async fn serve(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    addr
}

/// One server-sent event: its name, id and data.
#[derive(Debug, Default)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
    comments: Vec<String>,
}

struct SseClient(BufReader<TcpStream>);

impl SseClient {
    fn open(addr: SocketAddr, last_id: Option<u64>) -> SseClient {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = String::from(
            "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n",
        );
        if let Some(id) = last_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        SseClient(r)
    }

    /// Reads one HTTP chunk-framed SSE block (`None` at the end of the stream).
    fn next(&mut self) -> Option<Sse> {
        let mut ev = Sse::default();
        let mut line = String::new();
        loop {
            line.clear();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let l = line.trim_end_matches(['\r', '\n']);
            // Chunked transfer framing: size lines are hex, skip them.
            if !l.is_empty() && l.bytes().all(|b| b.is_ascii_hexdigit()) && !l.contains(':') {
                if l == "0" {
                    return None;
                }
                continue;
            }
            if l.is_empty() {
                if !ev.event.is_empty() || !ev.data.is_empty() || !ev.comments.is_empty() {
                    return Some(ev);
                }
                continue;
            }
            if let Some(c) = l.strip_prefix(':') {
                ev.comments.push(c.trim().to_string());
            } else if let Some(v) = l.strip_prefix("event:") {
                ev.event = v.trim().to_string();
            } else if let Some(v) = l.strip_prefix("id:") {
                ev.id = Some(v.trim().to_string());
            } else if let Some(v) = l.strip_prefix("data:") {
                ev.data.push_str(v.trim_start());
            }
        }
    }

    fn next_named(&mut self) -> Sse {
        loop {
            let ev = self.next().expect("the stream ended");
            if !ev.event.is_empty() {
                return ev;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_live_records_then_resume_without_gaps_or_duplicates() {
    let hub = hub_with(5, HistoryLimits::default());
    let addr = serve(App::new(hub.clone(), loopback())).await;
    let mut c = tokio::task::spawn_blocking(move || {
        let mut c = SseClient::open(addr, None);
        let snap = c.next_named();
        (c, snap)
    })
    .await
    .unwrap();
    // A second page: every page gets each record's own JSON (made once).
    let mut other = tokio::task::spawn_blocking(move || {
        let mut c = SseClient::open(addr, None);
        assert_eq!(c.next_named().event, "snapshot");
        c
    })
    .await
    .unwrap();
    assert_eq!(c.1.event, "snapshot");
    let snap: serde_json::Value = serde_json::from_str(&c.1.data).unwrap();
    assert_eq!(snap["next_seq"], 5);
    assert_eq!(snap["status"]["state"], "running");
    let gc = &snap["kinds"]["gc"];
    assert_eq!(gc["seq"], serde_json::json!([0, 1, 2, 3, 4]));
    assert_eq!(gc["t_s"], serde_json::json!([0, 1, 2, 3, 4]));
    assert_eq!(gc["heap_live_mb"], serde_json::json!([2, 2, 777, 2, 2]));
    for seq in 5..8 {
        hub.publish(gc_event(seq, 3));
    }
    let ids = tokio::task::spawn_blocking(move || {
        let ids: Vec<String> = (5..8)
            .map(|seq| {
                let (mine, theirs) = (c.0.next_named(), other.next_named());
                assert_eq!(mine.event, "record");
                let want = serde_json::to_string(&gc_event(seq, 3)).unwrap();
                assert_eq!(mine.data, want);
                assert_eq!((theirs.data, theirs.id.as_ref()), (want, mine.id.as_ref()));
                mine.id.unwrap()
            })
            .collect();
        ids
    })
    .await
    .unwrap();
    assert_eq!(ids, ["5", "6", "7"]);
    // The browser reconnects with the last id it saw: only what it missed.
    let resumed = tokio::task::spawn_blocking(move || {
        let mut c = SseClient::open(addr, Some(5));
        (c.next_named(), c.next_named())
    })
    .await
    .unwrap();
    assert_eq!(
        (resumed.0.event.as_str(), resumed.0.id.as_deref()),
        ("record", Some("6"))
    );
    assert_eq!(resumed.1.id.as_deref(), Some("7"));
}

/// The ingest thread publishes a chunk at a time under one lock, and skips
/// the broadcast when nobody listens: a page that subscribes at any moment
/// meanwhile still gets every record after its snapshot, once.
#[test]
fn pages_joining_while_chunks_are_published_miss_nothing() {
    use gcviz::store::hub::Live;
    use std::sync::Arc;
    // Fewer records than a client's buffer, so nobody can fall behind.
    const N: u64 = 8000;
    const CHUNK: u64 = 20;
    let hub = hub_with(0, HistoryLimits::default());
    let publishing = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for chunk in 0..N / CHUNK {
                let mut p = hub.publisher();
                for k in 0..CHUNK {
                    p.publish(Arc::new(gc_event(chunk * CHUNK + k, 2)));
                }
                drop(p);
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    // One page at a time, so each joins when nobody listens (the case the
    // publisher skips the broadcast for); each follows 37 records (not a
    // whole number of chunks), leaves, and comes back a little later.
    let mut pages = 0;
    while !publishing.is_finished() {
        let mut rx = hub.subscribe();
        let (_, _, next_seq) = hub.snapshot(10);
        let until = (next_seq + 37).min(N);
        let mut want = next_seq;
        while want < until {
            match rx.try_recv() {
                Ok(Live::Record(e)) if e.seq >= next_seq => {
                    assert_eq!(e.seq, want, "joined at {next_seq}");
                    want += 1;
                }
                Ok(_) => {}
                Err(_) if publishing.is_finished() && rx.is_empty() => break,
                Err(_) => std::thread::yield_now(),
            }
        }
        assert_eq!(want, until, "joined at {next_seq}: records missing");
        pages += usize::from(next_seq < N);
        drop(rx);
        // Away for a varying while: chunks are published to nobody.
        std::thread::sleep(Duration::from_micros(40 * (pages as u64 % 7)));
    }
    publishing.join().unwrap();
    assert!(pages >= 5, "pages must join while records stream: {pages}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_far_behind_gets_a_snapshot_instead_of_a_resume() {
    let hub = hub_with(
        50,
        HistoryLimits {
            recent: 10,
            buckets: 8,
        },
    );
    let addr = serve(App::new(hub, loopback())).await;
    let ev = tokio::task::spawn_blocking(move || SseClient::open(addr, Some(3)).next_named())
        .await
        .unwrap();
    assert_eq!(ev.event, "snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_told_to_resync_and_others_miss_nothing() {
    let hub = hub_with(
        0,
        HistoryLimits {
            recent: 100,
            buckets: 64,
        },
    );
    let addr = serve(App::new(hub.clone(), loopback())).await;
    // Both connect and read the snapshot; then one stops reading.
    let (mut fast, mut slow) = tokio::task::spawn_blocking(move || {
        let mut fast = SseClient::open(addr, None);
        let mut slow = SseClient::open(addr, None);
        assert_eq!(fast.next_named().event, "snapshot");
        assert_eq!(slow.next_named().event, "snapshot");
        (fast, slow)
    })
    .await
    .unwrap();
    // Batches of 1000 (well within a client's buffer), each published only
    // once the reading client has seen the previous one: it never falls
    // behind, while the stalled one falls 60,000 records behind.
    let n = 60_000u64;
    let batch = 1000u64;
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<u64>();
    let publisher = {
        let hub = hub.clone();
        tokio::task::spawn_blocking(move || {
            for start in (0..n).step_by(batch as usize) {
                for seq in start..start + batch {
                    hub.publish(gc_event(seq, 2));
                }
                while seen_rx.recv().expect("reader alive") < start + batch - 1 {}
            }
        })
    };
    let fast_ids = tokio::task::spawn_blocking(move || {
        let mut last = None;
        while last != Some(n - 1) {
            let e = fast.next_named();
            assert_eq!(
                e.event, "record",
                "the reading client must never need a resync"
            );
            let id: u64 = e.id.unwrap().parse().unwrap();
            assert_eq!(
                Some(id),
                last.map_or(Some(0), |l: u64| Some(l + 1)),
                "no gaps, no duplicates"
            );
            last = Some(id);
            if (id + 1).is_multiple_of(batch) {
                let _ = seen_tx.send(id);
            }
        }
        last
    });
    publisher.await.unwrap();
    assert_eq!(fast_ids.await.unwrap(), Some(n - 1));
    let saw_resync = tokio::task::spawn_blocking(move || {
        while let Some(e) = slow.next() {
            if e.event == "resync" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(saw_resync, "the stalled client was told to resync");
    assert!(hub.status().counts.dropped > 0, "what it missed is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_carries_heartbeats() {
    let hub = hub_with(1, HistoryLimits::default());
    let addr = serve(App::new(hub, loopback()).with_heartbeat(Duration::from_millis(100))).await;
    let comment = tokio::task::spawn_blocking(move || {
        let mut c = SseClient::open(addr, None);
        loop {
            let e = c.next().expect("stream open");
            if let Some(h) = e.comments.first() {
                return h.clone();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(comment, "heartbeat");
}

/// gcviz ending with its input, as in a pipeline: a page still connected
/// receives the last record and the final status before the stream closes,
/// rather than a lost connection.
#[test]
fn a_connected_page_sees_the_input_end_before_gcviz_exits() {
    let mut cmd = common::binary::command();
    cmd.args(["--exit-with-program", "-p", "0"])
        .stdin(Stdio::piped());
    let mut g = common::binary::Gcviz::start(cmd);
    let mut events = g.events();
    let mut line = String::new();
    while !line.starts_with("event: snapshot") {
        line.clear();
        assert!(events.read_line(&mut line).unwrap() > 0, "no snapshot");
    }
    let mut input = g.stdin.take().unwrap();
    input
        .write_all(b"gc 1 @0.010s 1%: 0.010+0.20+0.010 ms clock, 0.020+0.010/0.10/0+0.020 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n")
        .unwrap();
    drop(input);
    let mut rest = String::new();
    events
        .read_to_string(&mut rest)
        .expect("reading the stream to its end");
    assert!(rest.contains("event: record\n"), "{rest}");
    let last_status = rest
        .split("\n\n")
        .filter(|e| e.starts_with("event: status"))
        .last()
        .unwrap_or_else(|| panic!("no status event before the end: {rest}"));
    assert!(last_status.contains(r#""state":"eof""#), "{last_status}");
}

// ---- hostile and stale clients, against gcviz's own server loop ----

async fn serve_hardened(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gcviz::web::server::serve(listener, app));
    addr
}

#[tokio::test]
async fn apis_are_never_cached() {
    let app = App::new(hub_with(3, HistoryLimits::default()), loopback());
    for path in [
        "/api/status",
        "/api/history",
        "/api/records.ndjson",
        "/api/record?seq=1",
    ] {
        let (status, headers, _) = get(app.clone(), path, "127.0.0.1").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
    }
    let (_, headers, _) = get(app, "/", "127.0.0.1").await;
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_event_id_this_stream_never_gave_gets_a_snapshot() {
    let hub = hub_with(5, HistoryLimits::default());
    let addr = serve_hardened(App::new(hub, loopback())).await;
    // A page left open while gcviz restarted on the same port, and ids past
    // the end of u64.
    for id in ["1000", "18446744073709551615", "18446744073709551616"] {
        let ev = tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            write!(
                s,
                "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: {id}\r\n\r\n"
            )
            .unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("HTTP/1.1 200"), "{id}: {line:?}");
            while line != "\r\n" {
                line.clear();
                r.read_line(&mut line).unwrap();
            }
            SseClient(r).next_named()
        })
        .await
        .unwrap();
        assert_eq!(ev.event, "snapshot", "Last-Event-ID {id}");
        assert!(ev.data.contains("\"next_seq\":5"), "{id}: {}", ev.data);
    }
}

/// Whether the server closed `s` (end of file) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_header_that_never_ends_is_closed() {
    let app = App::new(hub_with(1, HistoryLimits::default()), loopback())
        .with_header_timeout(Duration::from_millis(300));
    let addr = serve_hardened(app).await;
    tokio::task::spawn_blocking(move || {
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0")
            .unwrap();
        let mut silent = TcpStream::connect(addr).unwrap();
        assert!(closed_by_server(&mut half, Duration::from_secs(10)));
        assert!(closed_by_server(&mut silent, Duration::from_secs(10)));
    })
    .await
    .unwrap();
}

fn get_status(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_capped_and_the_oldest_make_room() {
    use gcviz::web::server::MAX_CONNECTIONS;
    let addr = serve_hardened(App::new(hub_with(1, HistoryLimits::default()), loopback())).await;
    // Client and server ends both live in this process: room for both.
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    tokio::task::spawn_blocking(move || {
        let extra = 50;
        let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + extra)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        // A real request still gets in...
        let res = get_status(addr);
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        // ...because the oldest idle connections were closed for it.
        for (i, s) in idle.iter_mut().take(extra).enumerate() {
            assert!(
                closed_by_server(s, Duration::from_secs(5)),
                "idle connection {i} is still open"
            );
        }
        // The newest are still served.
        let newest = idle.last_mut().unwrap();
        newest
            .write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        newest
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        newest.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    })
    .await
    .unwrap();
}

/// A page that asks for the stream and never reads it, with a tiny receive
/// buffer so its side fills at once.
fn non_reading_page(addr: SocketAddr) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    rustix::net::connect(&fd, &addr).unwrap();
    let mut s = TcpStream::from(fd);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    s
}

/// Opens `/events`; `None` when the server refuses the page.
fn try_page(addr: SocketAddr) -> Option<SseClient> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    if !line.starts_with("HTTP/1.1 200") {
        return None;
    }
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    Some(SseClient(r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_never_read_give_their_place_to_one_that_does() {
    use gcviz::web::server::MAX_CLIENTS;
    let hub = hub_with(0, HistoryLimits::default());
    let addr = serve_hardened(App::new(hub.clone(), loopback())).await;
    let stalled: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..MAX_CLIENTS).map(|_| non_reading_page(addr)).collect()
    })
    .await
    .unwrap();
    let mut seq = 0;
    let mut got_in = None;
    // Records big enough to fill the stalled pages' buffers in a few rounds.
    for _round in 0..30 {
        for _ in 0..20 {
            let mut e = gc_event(seq, 2);
            e.raw = vec![b'x'; 16 << 10].into();
            hub.publish(e);
            seq += 1;
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let page = tokio::task::spawn_blocking(move || try_page(addr).map(|mut p| p.next_named()))
            .await
            .unwrap();
        if let Some(first) = page {
            got_in = Some(first);
            break;
        }
    }
    let first = got_in.expect("a reading page never got in");
    assert_eq!(first.event, "snapshot");
    // The page that made room is gone, connection and all (its task ends
    // soon after the new page got in).
    for _ in 0..100 {
        if hub.status().counts.clients <= MAX_CLIENTS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hub.status().counts.clients <= MAX_CLIENTS as u64);
    drop(stalled);
}
