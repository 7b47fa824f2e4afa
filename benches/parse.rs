//! Parser throughput on real traces, each beside the limit measured in the
//! same run: splitting the same bytes into lines with memchr. And wrapper
//! mode's reassembly on a live run's packets (one per write), beside the
//! byte scanner on the same bytes.
//!
//! cargo bench --bench parse

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gcviz::trace::event::Event;
use gcviz::trace::{Packets, Scanner, Sink};

struct Count(u64, u64);

impl Sink for Count {
    fn record(&mut self, e: Arc<Event>) {
        self.0 += 1;
        black_box(e);
    }
    fn text(&mut self, b: &[u8]) {
        self.1 += b.len() as u64;
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
    .unwrap()
}

/// A clean real trace repeated to about 8 MB, gc numbers kept increasing.
fn clean_trace() -> Vec<u8> {
    let one = fixture("traces/go1.27.3/memlimit.log");
    let mut out = Vec::new();
    while out.len() < 8 << 20 {
        out.extend_from_slice(&one);
    }
    out
}

/// The byte scanner over `input` in 64 KiB reads: the records found.
fn scan_all(input: &[u8]) -> u64 {
    let mut s = Scanner::default();
    let mut out = Count(0, 0);
    for chunk in input.chunks(64 * 1024) {
        s.feed(chunk, &mut out);
    }
    s.finish(&mut out);
    out.0
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("clean go1.27 memlimit trace", clean_trace()),
        (
            "chatty go1.22 trace (torn records)",
            fixture("traces/go1.22.10/chatty.log"),
        ),
    ];
    for (name, input) in cases {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("gcviz scanner", |b| b.iter(|| scan_all(&input)));
        g.bench_function("limit: memchr line split", |b| {
            b.iter(|| memchr::memchr_iter(b'\n', black_box(&input)).count())
        });
        g.finish();
    }
}

/// A live wrapper run's packets (`LEN\n` + bytes each): their bytes, joined,
/// and their lengths.
fn live_packets() -> (Vec<u8>, Vec<u32>) {
    use std::io::Read;
    let gz = fixture("packets/go1.27.3-all-8p.packets.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let (mut bytes, mut lens) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < raw.len() {
        let nl = at + memchr::memchr(b'\n', &raw[at..]).unwrap();
        let len: usize = std::str::from_utf8(&raw[at..nl]).unwrap().parse().unwrap();
        bytes.extend_from_slice(&raw[nl + 1..nl + 1 + len]);
        lens.push(len as u32);
        at = nl + 1 + len;
    }
    (bytes, lens)
}

fn bench_packets(c: &mut Criterion) {
    let (bytes, lens) = live_packets();
    let mut g = c.benchmark_group(format!(
        "live wrapper run, {} writes (realwriters, all writers)",
        lens.len()
    ));
    g.throughput(Throughput::Elements(lens.len() as u64));
    g.bench_function("packets (wrapper mode)", |b| {
        b.iter(|| {
            let mut p = Packets::default();
            let mut s = Scanner::default();
            let mut out = Count(0, 0);
            // As the reader hands them on: up to 64 writes a read.
            let mut at = 0;
            for group in lens.chunks(64) {
                let n: usize = group.iter().map(|&l| l as usize).sum();
                p.feed(&bytes[at..at + n], group, &mut s, &mut out);
                at += n;
            }
            p.finish(&mut s, &mut out);
            out.0
        })
    });
    g.bench_function("byte scanner, same bytes (pipe mode)", |b| {
        b.iter(|| scan_all(&bytes))
    });
    g.finish();
}

criterion_group!(benches, bench, bench_packets);
criterion_main!(benches);
