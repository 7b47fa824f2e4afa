//! Helpers shared by the integration tests; `binary` runs the real gcviz.
#![allow(dead_code)]

pub mod binary;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gcviz::trace::event::Event;
use gcviz::trace::{Scanner, Sink, Stats};

/// Collects a scanner's output.
#[derive(Default)]
pub struct Collect {
    pub events: Vec<Event>,
    pub text: Vec<u8>,
}

impl Collect {
    /// The gc numbers of the records, in order.
    pub fn gc_numbers(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| e.record.gc_number())
            .collect()
    }
}

impl Sink for Collect {
    fn record(&mut self, event: Arc<Event>) {
        self.events
            .push(Arc::try_unwrap(event).unwrap_or_else(|e| (*e).clone()));
    }
    fn text(&mut self, bytes: &[u8]) {
        self.text.extend_from_slice(bytes);
    }
}

/// Scans `input` fed in chunks of the given sizes (cycled), then finishes.
pub fn scan_chunked(input: &[u8], sizes: &[usize]) -> (Collect, Stats) {
    let mut scanner = Scanner::default();
    let mut out = Collect::default();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = sizes[i % sizes.len()].max(1).min(input.len() - at);
        scanner.feed(&input[at..at + n], &mut out);
        at += n;
        i += 1;
    }
    scanner.finish(&mut out);
    let stats = scanner.stats().clone();
    (out, stats)
}

pub fn scan(input: &[u8]) -> (Collect, Stats) {
    scan_chunked(input, &[64 * 1024])
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every file under `dir` (recursively) whose name ends with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A program's writes, from the side file its `GCVIZ_APP_LOG` names
/// (`LEN\n` and the LEN bytes, per write).
pub fn app_writes(side: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < side.len() {
        let nl = at + side[at..].iter().position(|&b| b == b'\n').unwrap();
        let len: usize = std::str::from_utf8(&side[at..nl]).unwrap().parse().unwrap();
        out.push(&side[nl + 1..nl + 1 + len]);
        at = nl + 1 + len;
    }
    out
}

/// A prerequisite the test cannot run without: under `CI=true` its absence
/// fails the test; elsewhere the test says why it is skipped.
pub fn require(what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_none() {
        let msg = format!("{what} not found: run the tests through .ci/test, which installs it");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// GOROOT of the Go toolchain the tests build with (`GCVIZ_GOROOT`, set by
/// .ci/test), or `None` after saying why (a failure under CI).
pub fn goroot() -> Option<PathBuf> {
    let found = std::env::var_os("GCVIZ_GOROOT")
        .map(PathBuf::from)
        .filter(|p| p.join("bin/go").is_file());
    require("a Go toolchain (GCVIZ_GOROOT)", found)
}

/// The Chromium binary for browser tests (`GCVIZ_CHROMIUM`, set by .ci/test).
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("GCVIZ_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    require("Chromium (GCVIZ_CHROMIUM)", found)
}

/// fixtures/programs/NAME built with the test toolchain, or `None` after
/// saying why (a failure under CI).
pub fn program(name: &str) -> Option<PathBuf> {
    let source = fixtures().join("programs").join(name).join("main.go");
    Some(go_build(&goroot()?, &source))
}

/// Builds `source` (a single-file Go `package main`) with the test
/// toolchain, once per test run; returns the binary.
pub fn go_build(goroot: &Path, source: &Path) -> PathBuf {
    let stem = source
        .parent()
        .and_then(|p| p.file_name())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-bin");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(&stem);
    let lock = out_dir.join(format!("{stem}.lock"));
    // Tests run in parallel threads and processes: build under a lock file.
    let _guard = FileLock::take(&lock);
    if out.is_file()
        && out.metadata().unwrap().modified().unwrap()
            >= source.metadata().unwrap().modified().unwrap()
    {
        return out;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache");
    let status = std::process::Command::new(goroot.join("bin/go"))
        .args(["build", "-o"])
        .arg(&out)
        .arg(source)
        .env("GOROOT", goroot)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", &cache)
        .env("GOPATH", cache.join("gopath"))
        .status()
        .expect("running go build");
    assert!(status.success(), "go build {} failed", source.display());
    out
}

/// An exclusive lock held while the value lives (a directory created atomically).
pub struct FileLock(PathBuf);

impl FileLock {
    pub fn take(path: &Path) -> FileLock {
        let dir = path.with_extension("lockdir");
        let start = std::time::Instant::now();
        while std::fs::create_dir(&dir).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(300),
                "stale lock {}",
                dir.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileLock(dir)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
