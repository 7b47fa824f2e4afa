//! The reader thread: takes the program's output as fast as it comes, so the
//! program only ever waits for its own output destination. Buffers travel to
//! the parser and come back through `recycle`, so reading copies nothing.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

/// Bytes asked for per read.
pub const CHUNK: usize = 64 * 1024;

/// Where the bytes come from.
pub trait Source {
    /// Reads into `buf`, returning how many bytes (0 at the end). A source
    /// that knows where each of the writer's writes began and ended (a
    /// packet pipe) pushes their lengths to `packets`, in order, summing to
    /// the count returned; a byte stream pushes nothing.
    fn read_chunk(&mut self, buf: &mut [u8], packets: &mut Vec<u32>) -> io::Result<usize>;

    /// Something about the source worth telling the user, once, after the
    /// chunk just read.
    fn take_notice(&mut self) -> Option<String> {
        None
    }
}

/// A byte stream (a pipe, a file): no write boundaries.
pub struct Bytes<R>(pub R);

impl<R: Read> Source for Bytes<R> {
    fn read_chunk(&mut self, buf: &mut [u8], _packets: &mut Vec<u32>) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The bytes of one read, in a buffer that can be sent back for reuse.
pub struct Chunk {
    buf: Vec<u8>,
    len: usize,
    packets: Vec<u32>,
    notice: Option<String>,
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The lengths of the writes the bytes were written in; empty when the
    /// source does not know them.
    pub fn packets(&self) -> &[u32] {
        &self.packets
    }

    /// What the source had to say after this read.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }
}

/// Reads `input` into chunks sent on `tx` until it ends or fails (the error
/// is sent too). Chunks sent back on `recycle` are reused.
pub fn read_loop(
    mut input: impl Source,
    tx: SyncSender<io::Result<Chunk>>,
    recycle: Receiver<Chunk>,
) {
    loop {
        // A reused buffer is already CHUNK bytes long: nothing to zero.
        let (mut buf, mut packets) = recycle
            .try_recv()
            .map(|c| (c.buf, c.packets))
            .unwrap_or_default();
        buf.resize(CHUNK, 0);
        packets.clear();
        match input.read_chunk(&mut buf, &mut packets) {
            Ok(0) => return,
            Ok(len) => {
                let notice = input.take_notice();
                let chunk = Chunk {
                    buf,
                    len,
                    packets,
                    notice,
                };
                if tx.send(Ok(chunk)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}
