//! Running the real gcviz binary for a test: its page URL, its stderr, raw
//! HTTP requests to it, and killing it when the test ends (even by panic).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `gcviz` with its stdout discarded and stdin empty; add arguments, stdin, env.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gcviz"));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

/// A running gcviz, killed on drop.
pub struct Gcviz {
    child: Child,
    /// The page, as gcviz printed it.
    pub url: String,
    /// `host:port` of the page.
    pub addr: String,
    /// Standard input, when the command asked for a pipe.
    pub stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
}

impl Gcviz {
    /// gcviz reading `log` on its stdin and serving on after the end, once
    /// it has read all of it (`/api/status` says `eof`); and that status.
    pub fn serving_file(log: &Path, patience: Duration) -> (Gcviz, Value) {
        let mut cmd = command();
        cmd.args(["--keep-serving", "-p", "0"])
            .stdin(std::fs::File::open(log).unwrap());
        let gcviz = Gcviz::start(cmd);
        let start = Instant::now();
        loop {
            let status: Value = serde_json::from_str(&gcviz.get("/api/status")).unwrap();
            if status["state"] == "eof" {
                return (gcviz, status);
            }
            assert!(
                start.elapsed() < patience,
                "gcviz did not finish reading: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `cmd` and waits for the `live page at` line on its stderr.
    pub fn start(mut cmd: Command) -> Gcviz {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("starting gcviz");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let all = stderr.clone();
        // Drained to the end so that gcviz (and the program whose stderr it
        // passes through) never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                if let Some(rest) = line.split_once("live page at ").map(|(_, r)| r) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        let stdin = child.stdin.take();
        let mut started = Gcviz {
            child,
            url: String::new(),
            addr: String::new(),
            stdin,
            stderr,
        };
        started.url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "gcviz printed no page URL; its stderr: {}",
                    started.stderr()
                )
            });
        started.addr = started
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        started
    }

    /// Everything gcviz wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An HTTP/1.0 connection with `GET path` sent: HTTP/1.0 so that even a
    /// stream arrives unchunked, exactly as it is sent.
    fn request(&self, path: &str) -> TcpStream {
        let mut conn = TcpStream::connect(&self.addr).expect("connecting to gcviz");
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(conn, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        conn
    }

    /// The body of `GET path`.
    pub fn get(&self, path: &str) -> String {
        let mut res = String::new();
        self.request(path)
            .read_to_string(&mut res)
            .expect("reading a response");
        let (head, body) = res.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "GET {path}: {head}"
        );
        body.to_string()
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
    }
}
