//! `gcviz parse`: a trace file or stdin to NDJSON on stdout, a summary on
//! stderr and, on request, the pass-through text on stderr.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::Arc;

use crate::cli::ParseArgs;
use crate::error::{Error, Result};
use crate::store::history::Stamped;
use crate::trace::clock::{Anchor, Clock};
use crate::trace::event::Event;
use crate::trace::{Scanner, Sink, Stats};

/// Writes records as NDJSON and, optionally, the pass-through text.
struct NdjsonSink<W: Write, P: Write> {
    out: Option<W>,
    passthrough: Option<P>,
    error: Option<io::Error>,
    /// `wall_s` from the log's own line timestamps (crate::trace::clock).
    clock: Clock,
}

impl<W: Write, P: Write> Sink for NdjsonSink<W, P> {
    fn record(&mut self, event: Arc<Event>) {
        let (Some(out), None) = (self.out.as_mut(), self.error.as_ref()) else {
            return;
        };
        let wall_s = self.clock.stamp(event.t_s, 0.0);
        let line = Stamped { event, wall_s }.json();
        let res = out
            .write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = res {
            self.error = Some(e);
        }
    }

    fn text(&mut self, bytes: &[u8]) {
        self.clock.text(bytes);
        if let (Some(p), None) = (self.passthrough.as_mut(), self.error.as_ref())
            && let Err(e) = p.write_all(bytes)
        {
            self.error = Some(e);
        }
    }
}

/// Runs `gcviz parse`. A closed stdout (`| head`) ends it quietly.
pub fn run(args: &ParseArgs) -> Result<()> {
    let input: Box<dyn Read> = match &args.file {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => Box::new(File::open(p).map_err(|source| Error::Open {
            path: p.clone(),
            source,
        })?),
    };
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    let mut sink = NdjsonSink {
        out: (!args.summary_only).then(|| BufWriter::with_capacity(256 * 1024, stdout)),
        passthrough: args
            .passthrough
            .then(|| BufWriter::with_capacity(64 * 1024, io::stderr())),
        error: None,
        clock: Clock::new(Anchor::None),
    };
    let stats = scan_all(input, &mut sink)?;
    let flushed = sink
        .out
        .as_mut()
        .map_or(Ok(()), |o| o.flush())
        .and_then(|()| sink.passthrough.as_mut().map_or(Ok(()), |p| p.flush()));
    if let Some(e) = sink.error.take().or(flushed.err()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(Error::Write(e));
        }
        return Ok(());
    }
    drop(sink);
    let mut stderr = stderr;
    let _ = writeln!(stderr, "gcviz: {}", summary(&stats));
    Ok(())
}

/// Feeds a whole reader through a scanner.
fn scan_all(mut input: impl Read, sink: &mut impl Sink) -> Result<Stats> {
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        scanner.feed(&buf[..n], sink);
    }
    scanner.finish(sink);
    Ok(scanner.stats().clone())
}

/// One line: records by kind, repaired, unresolved, gaps, processes.
pub fn summary(s: &Stats) -> String {
    format!(
        "{} records ({} gc, {} scav, {} scvg, {} gc_forced); {} repaired, {} unresolved, {} missing cycles, {} processes; {} lines, {} long lines, {} other runtime lines",
        s.records,
        s.gc,
        s.scav,
        s.scvg,
        s.gc_forced,
        s.repaired,
        s.unresolved,
        s.gaps,
        if s.records == 0 { 0 } else { s.restarts + 1 },
        s.lines,
        s.long_lines,
        s.other_runtime
    )
}
