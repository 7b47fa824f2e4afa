//! Reads the program's stderr (or a pipe) on its own threads, so the program
//! only ever waits for its own output destination: one thread reads as fast
//! as the bytes come, another parses, writes the pass-through text and
//! publishes records to the hub (which never blocks).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::event::Event;
use crate::hub::{Hub, Publisher};
use crate::reader;
use crate::trace::{Scanner, Sink, Stats};

/// How often held text is reconsidered when no input arrives.
const TICK: Duration = Duration::from_millis(20);
/// Chunks waiting between the reader and the parser.
const QUEUE: usize = 256;

/// Where pass-through text and the `--record` copy go.
struct Out<W: Write> {
    text: W,
    pending: Vec<u8>,
    /// The pass-through destination failed (a closed terminal): keep
    /// consuming the program's output, stop writing.
    broken: bool,
    record: Option<Box<dyn Write + Send>>,
    /// Wall-clock times for records (crate::clock), and this chunk's arrival.
    clock: Clock,
    now_unix: f64,
}

/// The scanner's sink for one chunk of input: records go to the hub through
/// one publisher (one lock for the chunk), text is kept for `Out::flush`.
struct ChunkSink<'a, W: Write> {
    out: &'a mut Out<W>,
    hub: Publisher<'a>,
}

impl<W: Write> Sink for ChunkSink<'_, W> {
    fn record(&mut self, event: Arc<Event>) {
        if let Some(f) = self.out.record.as_mut() {
            let ok = f.write_all(&event.raw).and_then(|()| f.write_all(b"\n"));
            if ok.is_err() {
                self.out.record = None;
            }
        }
        let wall = self.out.clock.stamp(event.t_s, self.out.now_unix);
        self.hub.publish_at(event, wall);
    }

    fn text(&mut self, bytes: &[u8]) {
        self.out.clock.text(bytes);
        self.hub.text(bytes);
        self.out.pending.extend_from_slice(bytes);
    }
}

impl<W: Write> Out<W> {
    /// A sink for the next chunk, holding the hub until it is dropped.
    fn sink<'a>(&'a mut self, hub: &'a Hub) -> ChunkSink<'a, W> {
        self.now_unix = crate::clock::now_unix();
        ChunkSink {
            out: self,
            hub: hub.publisher(),
        }
    }

    fn flush(&mut self) {
        if !self.broken && !self.pending.is_empty() {
            let res = self
                .text
                .write_all(&self.pending)
                .and_then(|()| self.text.flush());
            self.broken = res.is_err();
        }
        self.pending.clear();
    }
}

/// Starts reading `input` until it ends; the handle yields the scanner's
/// counts. `record` receives every record's text, one per line.
pub fn spawn<R, W>(
    input: R,
    text: W,
    hub: Hub,
    record: Option<Box<dyn Write + Send>>,
) -> JoinHandle<io::Result<Stats>>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel::<io::Result<reader::Chunk>>(QUEUE);
    let (recycle_tx, recycle_rx) = mpsc::channel::<reader::Chunk>();
    thread::Builder::new()
        .name("gcviz-read".into())
        .spawn(move || reader::read_loop(input, tx, recycle_rx))
        .expect("spawning a thread");
    thread::Builder::new()
        .name("gcviz-parse".into())
        .spawn(move || {
            let start = Instant::now();
            let now = || start.elapsed().as_millis() as u64;
            let mut scanner = Scanner::default();
            let mut out = Out {
                text,
                pending: Vec::new(),
                broken: false,
                record,
                clock: Clock::new(hub.clock_anchor()),
                now_unix: 0.0,
            };
            let result = loop {
                // Ticks matter only while text is held: an idle gcviz sleeps.
                let got = if scanner.pending() > 0 {
                    rx.recv_timeout(TICK)
                } else {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                };
                match got {
                    Ok(Ok(chunk)) => {
                        let mut sink = out.sink(&hub);
                        scanner.feed(chunk.bytes(), now(), &mut sink);
                        sink.hub.set_stats(scanner.stats());
                        drop(sink);
                        // The reader may have ended; then the buffer just goes.
                        let _ = recycle_tx.send(chunk);
                    }
                    Ok(Err(e)) => break Err(e),
                    Err(RecvTimeoutError::Timeout) => {
                        let mut sink = out.sink(&hub);
                        scanner.tick(now(), &mut sink);
                        sink.hub.set_stats(scanner.stats());
                    }
                    Err(RecvTimeoutError::Disconnected) => break Ok(()),
                }
                out.flush();
            };
            let mut sink = out.sink(&hub);
            scanner.finish(&mut sink);
            sink.hub.set_stats(scanner.stats());
            drop(sink);
            out.flush();
            if let Some(f) = out.record.as_mut() {
                let _ = f.flush();
            }
            result.map(|()| scanner.stats().clone())
        })
        .expect("spawning a thread")
}
