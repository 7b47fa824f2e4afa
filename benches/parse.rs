//! Parser throughput on real traces, each beside the limit measured in the
//! same run: splitting the same bytes into lines with memchr.
//!
//! cargo bench --bench parse

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gcviz::trace::event::Event;
use gcviz::trace::{Scanner, Sink};

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
        g.bench_function("gcviz scanner", |b| {
            b.iter(|| {
                let mut s = Scanner::default();
                let mut out = Count(0, 0);
                for chunk in input.chunks(64 * 1024) {
                    s.feed(chunk, &mut out);
                }
                s.finish(&mut out);
                out.0
            })
        });
        g.bench_function("limit: memchr line split", |b| {
            b.iter(|| memchr::memchr_iter(b'\n', black_box(&input)).count())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
