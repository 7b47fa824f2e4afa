//! The `--record` copy of every record: never the input itself, opened only
//! once the page is up (a failed start must not empty a file), and flushed
//! whenever gcviz may end (after each chunk of input, at exit, on a signal),
//! so an end loses at most the record being written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// The open record file, for the signal paths that flush it before gcviz
/// dies. One per process: only one `--record` can be given.
static OPEN: OnceLock<Shared> = OnceLock::new();

type Shared = Arc<Mutex<BufWriter<File>>>;

/// Refuses a record file that is gcviz's standard input: writing it would
/// empty the log being read (`gcviz --record log < log`).
pub fn check(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) => refuse_if_input(path, &m),
        Err(_) => Ok(()),
    }
}

fn refuse_if_input(path: &Path, file: &std::fs::Metadata) -> Result<()> {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| File::from(fd).metadata());
    let Ok(stdin) = stdin else {
        return Ok(());
    };
    if stdin.dev() == file.dev() && stdin.ino() == file.ino() {
        return Err(Error::Usage(format!(
            "--record {} is also the input: it would be emptied before it is read",
            path.display()
        )));
    }
    Ok(())
}

/// Opens (and empties) the record file, after checking again that it is not
/// the input: the check and the emptying are on the same open file.
pub fn open(path: &Path) -> Result<Box<dyn Write + Send>> {
    let open_error = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(open_error)?;
    let meta = f.metadata().map_err(open_error)?;
    refuse_if_input(path, &meta)?;
    // Emptied like `>` would; a device or a pipe is written as it is.
    if meta.is_file() {
        f.set_len(0).map_err(open_error)?;
    }
    let shared = Arc::new(Mutex::new(BufWriter::new(f)));
    let _ = OPEN.set(shared.clone());
    Ok(Box::new(Record(shared)))
}

/// Writes what is buffered: called before gcviz ends on a signal.
pub fn flush() {
    if let Some(f) = OPEN.get() {
        let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// The writer the parser thread holds; the lock is shared only with
/// [`flush`], so it is never contended in normal running.
struct Record(Shared);

impl Write for Record {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}
