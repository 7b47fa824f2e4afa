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
    /// The pass-through destination failed (a full disk): reported once,
    /// no longer written; the program's output is still read and parsed.
    text_failed: bool,
    /// The reader of the pass-through went away (a closed pipe): gcviz stops
    /// reading, as `cat` would, so that the writer learns it too.
    closed: bool,
    record: Option<Box<dyn Write + Send>>,
    /// Writing the record file failed during a chunk: reported at its end
    /// (the hub is held while the chunk's records are published).
    record_failed: Option<io::Error>,
    /// Where write failures are reported (the page's status).
    hub: Hub,
}

/// The error ingestion ends with when the reader of its pass-through text
/// went away: see [`output_closed`].
#[derive(Debug)]
struct OutputClosed;

impl std::fmt::Display for OutputClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the output was closed")
    }
}

impl std::error::Error for OutputClosed {}

/// Whether ingestion stopped because the reader of the pass-through text
/// went away (`gcviz | head -1`): not a failure, the end of the pipeline.
pub fn output_closed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<OutputClosed>())
}

/// Says once, on stderr and in the page's status, that `what` can no longer
/// be written.
fn report(hub: &Hub, what: &str, e: &io::Error) {
    let msg = format!("cannot write {what}: {e}; gcviz stopped writing it");
    crate::say(&msg);
    hub.update_status(true, |s| s.errors.push(msg));
}

/// The scanner's sink for one chunk of input: records go to the hub through
/// one publisher (one lock for the chunk), text is kept for `Out::flush`.
struct ChunkSink<'a, W: Write> {
    out: &'a mut Out<W>,
    hub: Publisher<'a>,
}

impl<W: Write> Sink for ChunkSink<'_, W> {
    fn record(&mut self, event: Arc<Event>) {
        if let Some(f) = self.out.record.as_mut()
            && let Err(e) = f.write_all(&event.raw).and_then(|()| f.write_all(b"\n"))
        {
            self.out.record = None;
            self.out.record_failed = Some(e);
        }
        self.hub.publish(event);
    }

    fn text(&mut self, bytes: &[u8]) {
        self.out.pending.extend_from_slice(bytes);
    }
}

impl<W: Write> Out<W> {
    /// A sink for the next chunk, holding the hub until it is dropped.
    fn sink<'a>(&'a mut self, hub: &'a Hub) -> ChunkSink<'a, W> {
        ChunkSink {
            out: self,
            hub: hub.publisher(),
        }
    }

    /// Writes the text held for the chunk, and the record file's buffer, so
    /// that gcviz ending at any moment loses at most the chunk in progress.
    fn flush(&mut self) {
        if !self.text_failed && !self.closed && !self.pending.is_empty() {
            let res = self
                .text
                .write_all(&self.pending)
                .and_then(|()| self.text.flush());
            match res {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
                Err(e) => {
                    report(&self.hub, "the program's output", &e);
                    self.text_failed = true;
                }
            }
        }
        self.pending.clear();
        if let Some(e) = self.record_failed.take() {
            report(&self.hub, "the --record file", &e);
        }
        if let Some(f) = self.record.as_mut()
            && let Err(e) = f.flush()
        {
            self.record = None;
            report(&self.hub, "the --record file", &e);
        }
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
                text_failed: false,
                closed: false,
                record,
                record_failed: None,
                hub: hub.clone(),
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
                if out.closed {
                    break Err(io::Error::new(io::ErrorKind::BrokenPipe, OutputClosed));
                }
            };
            let mut sink = out.sink(&hub);
            scanner.finish(&mut sink);
            sink.hub.set_stats(scanner.stats());
            drop(sink);
            out.flush();
            result.map(|()| scanner.stats().clone())
        })
        .expect("spawning a thread")
}
