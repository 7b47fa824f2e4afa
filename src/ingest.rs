//! Reads the program's stderr (or a pipe) on its own threads, so the program
//! only ever waits for its own output destination: one thread reads as fast
//! as the bytes come, another parses, writes the pass-through text and
//! publishes records to the hub (which never blocks).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use crate::event::Event;
use crate::hub::{Hub, Publisher};
use crate::reader::{self, Source};
use crate::trace::{Packets, Scanner, Sink, Stats};

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
    spawn_source(reader::Bytes(input), text, hub, record)
}

/// [`spawn`] for any source, such as the program's stderr in wrapper mode,
/// whose chunks may carry the boundaries of the program's writes: those go
/// through the packet reassembler, the rest through the byte scanner.
pub(crate) fn spawn_source<S, W>(
    input: S,
    text: W,
    hub: Hub,
    record: Option<Box<dyn Write + Send>>,
) -> JoinHandle<io::Result<Stats>>
where
    S: Source + Send + 'static,
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
            let mut scanner = Scanner::default();
            let mut packets = Packets::default();
            let mut said_joined = false;
            let mut out = Out {
                text,
                pending: Vec::new(),
                broken: false,
                record,
            };
            let result = loop {
                // Held text waits for more input, never for a clock: what is
                // decided does not depend on when the bytes arrive.
                match rx.recv() {
                    Ok(Ok(chunk)) => {
                        let mut sink = out.sink(&hub);
                        if chunk.packets().is_empty() {
                            scanner.feed(chunk.bytes(), &mut sink);
                        } else {
                            let (b, p) = (chunk.bytes(), chunk.packets());
                            packets.feed(b, p, &mut scanner, &mut sink);
                        }
                        sink.hub.set_stats(scanner.stats());
                        drop(sink);
                        if packets.coalesced() && !said_joined {
                            said_joined = true;
                            out.flush();
                            eprintln!(
                                "gcviz: the program's stderr arrives with its writes joined \
                                 (through a shell pipe, docker or ssh?): torn records are \
                                 rebuilt from the bytes alone"
                            );
                        }
                        // The reader may have ended; then the buffer just goes.
                        let _ = recycle_tx.send(chunk);
                    }
                    Ok(Err(e)) => break Err(e),
                    Err(_) => break Ok(()),
                }
                out.flush();
            };
            let mut sink = out.sink(&hub);
            packets.finish(&mut scanner, &mut sink);
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
