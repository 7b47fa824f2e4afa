//! The one way tests and benches run the real gcviz binary: start it, read
//! its page URL off its stderr, talk HTTP to it, and stop it. A `Gcviz` is
//! killed when it is dropped, so a failing test leaves no process behind.
//!
//! Its output is read on threads into memory as it comes, so neither gcviz
//! nor the program whose stderr it passes on ever blocks on a full pipe.
//! Benches include this file alone (`#[path = "../tests/common/binary.rs"]`):
//! it needs nothing else from tests/common.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Only so that a broken gcviz fails the test instead of hanging it: long
/// enough for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// What gcviz prints on stderr before the page's URL.
pub const PAGE_AT: &str = "gcviz: live page at ";
/// ... and before its URL with `--no-page`.
const METRICS_AT: &str = "gcviz: metrics at ";

/// `gcviz` with no `GODEBUG` or `GCVIZ_TOKEN` from the caller's environment
/// and stdin from /dev/null; add arguments, pipes and env.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gcviz"));
    cmd.env_remove("GODEBUG")
        .env_remove("GCVIZ_TOKEN")
        .stdin(Stdio::null());
    cmd
}

/// Waits for `pred` to give a value, polling; panics naming `what` after
/// PATIENCE.
pub fn eventually<T>(what: &str, mut pred: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = pred() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Everything a stream carried so far, read on its own thread.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn spawn(mut from: impl Read + Send + 'static) -> (Captured, JoinHandle<()>) {
        let c = Captured::default();
        let to = c.clone();
        let h = thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                to.lock().extend_from_slice(&buf[..n]);
            }
        });
        (c, h)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    pub fn contains(&self, needle: &[u8]) -> bool {
        self.lock().windows(needle.len()).any(|w| w == needle)
    }

    /// The first line that starts with `prefix`, once it is complete.
    pub fn line_starting(&self, prefix: &str) -> Option<String> {
        self.lines_starting(prefix).into_iter().next()
    }

    /// Every complete line that starts with `prefix`, in order.
    pub fn lines_starting(&self, prefix: &str) -> Vec<String> {
        self.text()
            .split_inclusive('\n')
            .filter(|l| l.starts_with(prefix) && l.ends_with('\n'))
            .map(|l| l.trim_end().to_string())
            .collect()
    }
}

/// A running gcviz, killed on drop.
pub struct Gcviz {
    child: Child,
    /// Standard input, when the command asked for a pipe.
    pub stdin: Option<ChildStdin>,
    /// What gcviz wrote so far, when the command asked for a pipe.
    pub stdout: Captured,
    pub stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    /// Other processes to kill when the test ends (a program's child).
    pub also_kill: Vec<u32>,
    /// The page, as gcviz printed it (set by `start`).
    pub url: String,
    /// `host:port` of the page (set by `start`).
    pub addr: String,
}

/// How a gcviz ended, and everything it wrote.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("gcviz itself was killed: {:?}", self.status))
    }
}

impl Gcviz {
    /// Starts `cmd`, reading whichever of its stdout and stderr are pipes.
    pub fn spawn(mut cmd: Command) -> Gcviz {
        Gcviz::adopt(cmd.spawn().expect("starting gcviz"))
    }

    /// A gcviz the test spawned itself, to keep one of its pipes: the pipes
    /// still in `child` are read as `spawn` reads them.
    pub fn adopt(mut child: Child) -> Gcviz {
        let mut readers = Vec::new();
        let mut read = |from: Option<_>| match from {
            Some(pipe) => {
                let (c, h) = Captured::spawn(pipe);
                readers.push(h);
                c
            }
            None => Captured::default(),
        };
        let stdout = read(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = read(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        Gcviz {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            also_kill: Vec::new(),
            url: String::new(),
            addr: String::new(),
        }
    }

    /// Starts `cmd` with its stdout and stderr read, and waits for the
    /// page's URL on its stderr.
    pub fn start(mut cmd: Command) -> Gcviz {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut g = Gcviz::spawn(cmd);
        g.url = g.page_url();
        g.addr = g
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        g
    }

    /// gcviz reading `log` on its stdin and serving on after the end, once
    /// it has read all of it (`/api/status` says `eof`); and that status.
    pub fn serving_file(log: &Path) -> (Gcviz, serde_json::Value) {
        let mut cmd = command();
        cmd.args(["--keep-serving", "-p", "0"])
            .stdin(std::fs::File::open(log).unwrap());
        let gcviz = Gcviz::start(cmd);
        let status = eventually("gcviz to read all of its input", || {
            let status: serde_json::Value = serde_json::from_str(&gcviz.get("/api/status")).ok()?;
            (status["state"] == "eof").then_some(status)
        });
        (gcviz, status)
    }

    /// The page's URL (with `--no-page`, the metrics'), once gcviz has
    /// printed it.
    pub fn page_url(&self) -> String {
        eventually("gcviz to print the page's URL", || {
            // Looked at before the text, so that all of it is in when it says so.
            let ended = self.readers.iter().all(|r| r.is_finished());
            let text = self.stderr.text();
            let lines = text
                .split_inclusive('\n')
                .filter_map(|l| l.strip_suffix('\n'));
            let url = lines.map(|l| l.trim_end()).find_map(|l| {
                let rest = l.strip_prefix(PAGE_AT).or(l.strip_prefix(METRICS_AT))?;
                rest.split_whitespace().next().map(str::to_string)
            });
            assert!(
                url.is_some() || !ended,
                "gcviz's output ended without a page URL; its stderr: {text}"
            );
            url
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: Signal) {
        rustix::process::kill_process(Pid::from_child(&self.child), sig).expect("kill");
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Closes stdin, waits for gcviz to exit and its output to end.
    pub fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let status = eventually("gcviz to exit", || self.child.try_wait().unwrap());
        for r in self.readers.drain(..) {
            eventually("gcviz's output to end", || r.is_finished().then_some(()));
        }
        Finished {
            status,
            stdout: self.stdout.bytes(),
            stderr: self.stderr.bytes(),
        }
    }

    /// Reads `pipe` as gcviz's stderr from now on (a test that held it).
    pub fn read_stderr(&mut self, pipe: impl Read + Send + 'static) {
        let (stderr, reader) = Captured::spawn(pipe);
        self.stderr = stderr;
        self.readers.push(reader);
    }

    /// An HTTP/1.0 connection with `GET path` sent: HTTP/1.0 so that even a
    /// stream arrives unchunked, exactly as it is sent.
    fn request(&self, path: &str) -> TcpStream {
        let mut conn = TcpStream::connect(&self.addr).expect("connecting to gcviz");
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(conn, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        conn
    }

    /// The body of `GET path`, which must answer 200.
    pub fn get(&self, path: &str) -> String {
        let (status, _, body) =
            http_get(&self.addr, path, &[]).unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `/events` with its response headers read: the stream as sent.
    pub fn events(&self) -> BufReader<TcpStream> {
        let mut conn = BufReader::new(self.request("/events"));
        let mut line = String::new();
        loop {
            line.clear();
            conn.read_line(&mut line).expect("reading /events headers");
            if line == "\r\n" || line.is_empty() {
                return conn;
            }
        }
    }

    /// The first event of `/events` exactly as it goes over the wire
    /// (`event: NAME`, `data: ...`, the blank line that ends it).
    pub fn first_event(&self) -> String {
        let mut conn = self.events();
        let mut line = String::new();
        let mut event = String::new();
        loop {
            line.clear();
            let n = conn.read_line(&mut line).expect("reading /events");
            event.push_str(&line);
            if n == 0 || line == "\n" {
                return event;
            }
        }
    }
}

impl Drop for Gcviz {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for &pid in &self.also_kill {
            if let Some(p) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, Signal::KILL);
            }
        }
    }
}

/// `host:port` of a URL gcviz printed.
pub fn host_port(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The body of `GET path` from the gcviz whose page is `url` (as printed:
/// its token, if any, goes along), when it answers 200.
pub fn get_from(url: &str, path: &str) -> Option<String> {
    let path = match url.split_once('?') {
        Some((_, query)) if path.contains('?') => format!("{path}&{query}"),
        Some((_, query)) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let (status, _, body) = http_get(host_port(url), &path, &[])?;
    (status == 200).then_some(body)
}

/// `GET path` over HTTP/1.0 with extra headers: (status, content type,
/// body), or `None` when nothing answers.
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String, String)> {
    let (status, content_type, body) = http_get_bytes(addr, path, headers)?;
    Some((
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// `http_get` with the body as it was sent (a download).
pub fn http_get_bytes(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String, Vec<u8>)> {
    let mut conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(PATIENCE)).ok()?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).ok()?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, content_type, raw[end + 4..].to_vec()))
}
