//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gcviz::event::Event;
use gcviz::trace::{Scanner, Sink, Stats};

/// Collects a scanner's output.
#[derive(Default)]
pub struct Collect {
    pub events: Vec<Event>,
    pub text: Vec<u8>,
}

impl Sink for Collect {
    fn record(&mut self, event: Event) {
        self.events.push(event);
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
        scanner.feed(&input[at..at + n], 0, &mut out);
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
