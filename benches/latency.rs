//! Delivery latency: gc records written into gcviz (pipe mode, real binary,
//! real sockets) at a fixed rate, timed from the write to their arrival at
//! each of K server-sent-event clients. Reports p50, p99 and max.
//!
//! cargo bench --bench latency [-- CLIENTS RATE SECONDS]   (default 1 1000 10, then 100 1000 10)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn gc_line(n: u64) -> String {
    format!(
        "gc {n} @{}.{:03}s 1%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n",
        n / 1000,
        n % 1000
    )
}

/// Reads an SSE stream, noting when each record id arrives.
fn client(
    addr: String,
    start: Instant,
    seen: Arc<Mutex<HashMap<u64, Vec<Duration>>>>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut sent_ready = false;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if !sent_ready && line.starts_with("event: snapshot") {
            let _ = ready.send(());
            sent_ready = true;
        }
        if let Some(id) = line.strip_prefix("id:")
            && let Ok(id) = id.trim().parse::<u64>()
        {
            let at = start.elapsed();
            seen.lock().unwrap().entry(id).or_default().push(at);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(clients: usize, rate: u64, seconds: u64) {
    let mut gcviz = Command::new(env!("CARGO_BIN_EXE_gcviz"))
        .args(["--exit-with-program", "-p", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gcviz");
    let mut err = BufReader::new(gcviz.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        err.read_line(&mut line).unwrap();
        if let Some(u) = line.split("http://").nth(1) {
            break u.trim().trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let start = Instant::now();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    for _ in 0..clients {
        let (addr, seen, tx) = (url.clone(), seen.clone(), ready_tx.clone());
        std::thread::spawn(move || client(addr, start, seen, tx));
    }
    for _ in 0..clients {
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("client connected");
    }
    let mut stdin = gcviz.stdin.take().unwrap();
    let total = rate * seconds;
    let mut written = Vec::with_capacity(total as usize);
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = Instant::now();
    for n in 1..=total {
        let due = every * (n as u32 - 1);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        written.push(start.elapsed());
        stdin.write_all(gc_line(n).as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    drop(stdin);
    let _ = gcviz.wait();
    let seen = seen.lock().unwrap();
    let mut lat: Vec<Duration> = Vec::new();
    let mut missing = 0;
    for (seq, w) in written.iter().enumerate() {
        match seen.get(&(seq as u64)) {
            Some(arrivals) => {
                lat.extend(arrivals.iter().map(|a| a.saturating_sub(*w)));
                missing += clients - arrivals.len();
            }
            None => missing += clients,
        }
    }
    lat.sort();
    println!(
        "{clients:>4} clients, {rate} records/s for {seconds} s: {} deliveries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {missing} missing",
        lat.len(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    match args.as_slice() {
        [c, r, s] => run(*c as usize, *r, *s),
        _ => {
            run(1, 1000, 10);
            run(100, 1000, 10);
        }
    }
}
