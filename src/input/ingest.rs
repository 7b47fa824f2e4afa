//! Reads the program's stderr (or a pipe) on its own threads, so the program
//! only ever waits for its own output destination: one thread reads as fast
//! as the bytes come, another parses, writes the pass-through text and
//! publishes records to the hub (which never blocks).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use crate::input::reader::{self, Source};
use crate::store::hub::{Hub, Publisher};
use crate::trace::clock::Clock;
use crate::trace::event::Event;
use crate::trace::{Packets, Scanner, Sink, Stats};

/// Chunks waiting between the reader and the parser.
const QUEUE: usize = 256;

/// Names a file to which wrapper mode appends every write of the program's
/// stderr as it was read (`LEN\n` + bytes each, the format of
/// `fixtures/packets/`): a run gcviz misread can be replayed exactly.
pub const PACKETS_LOG_ENV: &str = "GCVIZ_PACKETS_LOG";

/// The `GCVIZ_PACKETS_LOG` copy of each write, written on the parser thread
/// (the program never waits for it); given up, said once, if it fails.
struct PacketsLog(Option<io::BufWriter<std::fs::File>>);

impl PacketsLog {
    fn from_env() -> Self {
        let Some(path) = std::env::var_os(PACKETS_LOG_ENV) else {
            return PacketsLog(None);
        };
        match std::fs::File::create(&path) {
            Ok(f) => PacketsLog(Some(io::BufWriter::new(f))),
            Err(e) => {
                crate::error::say(&format!(
                    "cannot write {PACKETS_LOG_ENV} file {}: {e}",
                    std::path::Path::new(&path).display()
                ));
                PacketsLog(None)
            }
        }
    }

    fn write(&mut self, bytes: &[u8], lens: &[u32]) {
        let Some(w) = self.0.as_mut() else {
            return;
        };
        let mut at = 0;
        let result = lens.iter().try_for_each(|&len| {
            let packet = &bytes[at..(at + len as usize).min(bytes.len())];
            at += packet.len();
            writeln!(w, "{}", packet.len())?;
            w.write_all(packet)
        });
        if let Err(e) = result.and_then(|()| w.flush()) {
            crate::error::say(&format!("stopped writing the {PACKETS_LOG_ENV} file: {e}"));
            self.0 = None;
        }
    }
}

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
    /// Wall-clock times for records (crate::trace::clock), and this chunk's arrival.
    clock: Clock,
    now_unix: f64,
    /// The last byte of the program's text passed through.
    last: Option<u8>,
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
    crate::error::say(&msg);
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
    /// The program's text passed through so far ends a line (or there is
    /// none).
    fn at_line_start(&self) -> bool {
        self.last.is_none_or(|b| b == b'\n')
    }

    /// A sink for the next chunk, holding the hub until it is dropped.
    fn sink<'a>(&'a mut self, hub: &'a Hub) -> ChunkSink<'a, W> {
        self.now_unix = crate::trace::clock::now_unix();
        ChunkSink {
            out: self,
            hub: hub.publisher(),
        }
    }

    /// Writes the text held for the chunk, and the record file's buffer, so
    /// that gcviz ending at any moment loses at most the chunk in progress.
    fn flush(&mut self) {
        if let Some(&b) = self.pending.last() {
            self.last = Some(b);
        }
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
            let mut packets_log = PacketsLog::from_env();
            let mut notices: Vec<String> = Vec::new();
            let mut out = Out {
                text,
                pending: Vec::new(),
                text_failed: false,
                closed: false,
                record,
                record_failed: None,
                hub: hub.clone(),
                clock: Clock::new(hub.clock_anchor()),
                now_unix: 0.0,
                last: None,
            };
            let result = loop {
                // Held text waits for more input, never for a clock: what is
                // decided does not depend on when the bytes arrive.
                match rx.recv() {
                    Ok(Ok(mut chunk)) => {
                        if let Some(n) = chunk.take_notice() {
                            notices.push(n);
                        }
                        let mut sink = out.sink(&hub);
                        if chunk.packets().is_empty() {
                            packets.feed_bytes(chunk.bytes(), &mut scanner, &mut sink);
                        } else {
                            let (b, p) = (chunk.bytes(), chunk.packets());
                            packets_log.write(b, p);
                            packets.feed(b, p, &mut scanner, &mut sink);
                        }
                        sink.hub.set_stats(scanner.stats());
                        drop(sink);
                        if packets.coalesced() && !said_joined {
                            said_joined = true;
                            notices.push(
                                "the program's stderr arrives with its writes joined \
                                 (through a shell pipe, docker or ssh?): torn records are \
                                 rebuilt from the bytes alone"
                                    .into(),
                            );
                        }
                        // The reader may have ended; then the buffer just goes.
                        let _ = recycle_tx.send(chunk);
                    }
                    Ok(Err(e)) => break Err(e),
                    Err(_) => break Ok(()),
                }
                out.flush();
                // Said between the program's lines, never inside one.
                if out.at_line_start() {
                    for n in notices.drain(..) {
                        crate::error::say(&n);
                    }
                }
                if out.closed {
                    break Err(io::Error::new(io::ErrorKind::BrokenPipe, OutputClosed));
                }
            };
            let mut sink = out.sink(&hub);
            packets.finish(&mut scanner, &mut sink);
            sink.hub.set_stats(scanner.stats());
            drop(sink);
            out.flush();
            for n in notices.drain(..) {
                crate::error::say(&n);
            }
            result.map(|()| scanner.stats().clone())
        })
        .expect("spawning a thread")
}
