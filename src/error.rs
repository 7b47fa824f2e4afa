//! Errors gcviz reports, each printed once as a sentence, and the exit codes
//! they map to.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Exit code when gcviz itself fails (not the program it runs).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a command line that cannot be used.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug)]
pub enum Error {
    /// A file named on the command line could not be opened.
    Open { path: PathBuf, source: io::Error },
    /// Reading the trace failed.
    Read(io::Error),
    /// Writing output failed (other than a closed pipe, which is not an error).
    Write(io::Error),
    /// The page could not be served.
    Listen { addr: String, source: io::Error },
    /// The program could not be started.
    Spawn { program: String, source: io::Error },
    /// Settings that contradict each other.
    Usage(String),
}

impl Error {
    /// The exit code: a shell's for a program that cannot be found (127) or
    /// run (126), 2 for usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Error::Spawn { .. } => 126,
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open { path, source } => write!(f, "cannot open {}: {source}", path.display()),
            Error::Read(e) => write!(f, "cannot read the trace: {e}"),
            Error::Write(e) => write!(f, "cannot write output: {e}"),
            Error::Listen { addr, source } => {
                write!(f, "cannot serve the page on {addr}: {source}")
            }
            Error::Spawn { program, source } if source.kind() == io::ErrorKind::NotFound => {
                write!(f, "{program}: command not found")
            }
            Error::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
            Error::Usage(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Open { source, .. }
            | Error::Listen { source, .. }
            | Error::Spawn { source, .. } => Some(source),
            Error::Read(e) | Error::Write(e) => Some(e),
            Error::Usage(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A line on stderr that, unlike `eprintln!`, cannot panic: gcviz's
/// stderr may be a pipe whose reader went away.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "gcviz: {msg}");
}
