//! Any bytes, in any chunking, through the scanner: no panic, bounded
//! holding, and the same records and text as feeding them whole.
#![no_main]

use std::sync::Arc;

use gcviz::trace::event::Event;
use gcviz::trace::{Scanner, Sink};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Collect(Vec<Box<[u8]>>, Vec<u8>);

impl Sink for Collect {
    fn record(&mut self, e: Arc<Event>) {
        self.0.push(e.raw.clone());
    }
    fn text(&mut self, b: &[u8]) {
        self.1.extend_from_slice(b);
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, the rest is the stream.
    let Some((&k, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(k % 31) + 1;
    let mut whole = Collect::default();
    let mut s = Scanner::default();
    s.feed(input, &mut whole);
    s.finish(&mut whole);
    let mut parts = Collect::default();
    let mut s = Scanner::default();
    for c in input.chunks(chunk) {
        s.feed(c, &mut parts);
        assert!(s.pending() <= 80 * 1024);
    }
    s.finish(&mut parts);
    assert_eq!(whole.0, parts.0);
    assert_eq!(whole.1, parts.1);
});
