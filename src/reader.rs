//! The reader thread: takes the program's output as fast as it comes, so the
//! program only ever waits for its own output destination. Buffers travel to
//! the parser and come back through `recycle`, so reading copies nothing.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

/// Bytes asked for per read.
pub const CHUNK: usize = 64 * 1024;

/// The bytes of one read, in a buffer that can be sent back for reuse.
pub struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads `input` into chunks sent on `tx` until it ends or fails (the error
/// is sent too). Chunks sent back on `recycle` are reused.
pub fn read_loop(
    mut input: impl Read,
    tx: SyncSender<io::Result<Chunk>>,
    recycle: Receiver<Chunk>,
) {
    loop {
        // A reused buffer is already CHUNK bytes long: nothing to zero.
        let mut buf = recycle.try_recv().map(|c| c.buf).unwrap_or_default();
        buf.resize(CHUNK, 0);
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(len) => {
                if tx.send(Ok(Chunk { buf, len })).is_err() {
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
