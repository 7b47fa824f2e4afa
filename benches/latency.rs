//! Delivery latency: gc records written into gcviz (pipe mode, real binary,
//! real sockets) at a fixed rate, timed from the write to their arrival at
//! each of K server-sent-event clients. Reports p50, p99 and max, and the
//! watched program's side: the writer's pipe is non-blocking, so every write
//! that found it full (gcviz not keeping up) is counted, and how long each
//! write took (compare the run with no clients to the runs with them).
//!
//! cargo bench --bench latency [-- CLIENTS RATE SECONDS]   (default 0, 1 and 100 clients at 1000/s for 10 s)

#[path = "../tests/common/binary.rs"]
mod binary;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use binary::Gcviz;

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

/// Writes all of `buf` to a non-blocking pipe, counting the times it was full.
fn write_counting_full(w: &mut impl Write, mut buf: &[u8], full: &mut u64) {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                *full += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => panic!("write to gcviz: {e}"),
        }
    }
}

/// User plus system CPU seconds a process has used so far (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th, in clock ticks.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let ticks: f64 = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse::<f64>().expect("ticks"))
        .sum();
    ticks / rustix::param::clock_ticks_per_second() as f64
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(clients: usize, rate: u64, seconds: u64) {
    let mut cmd = binary::command();
    cmd.args(["--exit-with-program", "-p", "0"])
        .stdin(Stdio::piped());
    let mut gcviz = Gcviz::start(cmd);
    let url = gcviz.addr.clone();
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
    rustix::io::ioctl_fionbio(&stdin, true).expect("non-blocking pipe");
    let mut full = 0u64;
    let total = rate * seconds;
    let mut written = Vec::with_capacity(total as usize);
    let mut stalls = Vec::with_capacity(total as usize);
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = Instant::now();
    for n in 1..=total {
        let due = every * (n as u32 - 1);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        let line = gc_line(n);
        let at = start.elapsed();
        written.push(at);
        write_counting_full(&mut stdin, line.as_bytes(), &mut full);
        stalls.push(start.elapsed() - at);
    }
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_seconds(gcviz.pid()) / start.elapsed().as_secs_f64();
    drop(stdin);
    gcviz.finish();
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
    stalls.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let delivery = match lat.last() {
        Some(&max) => format!(
            "{} deliveries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {missing} missing",
            lat.len(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(max),
        ),
        None => "no deliveries".to_string(),
    };
    println!(
        "{clients:>4} clients, {rate} records/s for {seconds} s: {delivery}; writer: write p99 {:.1} us, max {:.1} us, {full} found the pipe full; gcviz CPU {:.1} % of one core",
        us(percentile(&stalls, 0.99)),
        us(*stalls.last().unwrap()),
        cpu * 100.0,
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
            run(0, 1000, 10);
            run(1, 1000, 10);
            run(100, 1000, 10);
        }
    }
}
