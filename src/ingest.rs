//! Reads the program's stderr (or a pipe) on its own threads, so the program
//! only ever waits for its own output destination: one thread reads as fast
//! as the bytes come, another parses, writes the pass-through text and
//! publishes records to the hub (which never blocks).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::hub::Hub;
use crate::reader;
use crate::trace::{Scanner, Sink, Stats};

/// How often held text is reconsidered when no input arrives.
const TICK: Duration = Duration::from_millis(20);
/// Chunks waiting between the reader and the parser.
const QUEUE: usize = 256;

/// Where records and pass-through text go.
struct Out<W: Write> {
    hub: Hub,
    text: W,
    pending: Vec<u8>,
    /// The pass-through destination failed (a closed terminal): keep
    /// consuming the program's output, stop writing.
    broken: bool,
    record: Option<Box<dyn Write + Send>>,
}

impl<W: Write> Sink for Out<W> {
    fn record(&mut self, event: Arc<Event>) {
        if let Some(f) = self.record.as_mut() {
            let ok = f.write_all(&event.raw).and_then(|()| f.write_all(b"\n"));
            if ok.is_err() {
                self.record = None;
            }
        }
        self.hub.publish_shared(event);
    }

    fn text(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }
}

impl<W: Write> Out<W> {
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
                hub: hub.clone(),
                text,
                pending: Vec::new(),
                broken: false,
                record,
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
                        scanner.feed(chunk.bytes(), now(), &mut out);
                        // The reader may have ended; then the buffer just goes.
                        let _ = recycle_tx.send(chunk);
                    }
                    Ok(Err(e)) => break Err(e),
                    Err(RecvTimeoutError::Timeout) => scanner.tick(now(), &mut out),
                    Err(RecvTimeoutError::Disconnected) => break Ok(()),
                }
                out.flush();
                hub.set_stats(scanner.stats());
            };
            scanner.finish(&mut out);
            out.flush();
            if let Some(f) = out.record.as_mut() {
                let _ = f.flush();
            }
            hub.set_stats(scanner.stats());
            result.map(|()| scanner.stats().clone())
        })
        .expect("spawning a thread")
}
