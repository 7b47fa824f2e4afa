//! Streaming: raw stderr bytes in any chunking -> typed events plus the
//! program's own text, byte for byte. Lines with no possible record pass
//! straight through; a line with a record start that does not parse whole
//! opens a window of up to a few lines that the repair aligner searches. Every
//! buffer is bounded; what cannot be rebuilt is counted and passed through.
//! Pure: the caller passes the time in.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use memchr::{memchr, memrchr};
use serde::Serialize;

use super::progress::Progress;
use super::repair::{self, Alignment, Constraints};
use super::shapes::plausible;
use super::timeline::{Step, Timeline};
use super::{Anchors, gc_line, is_other_runtime_line, parse_record};
use crate::trace::analysis::Analysis;
use crate::trace::event::{Event, Record};

/// Where the scanner's output goes.
pub trait Sink {
    /// A record, already in the shared allocation it will live in (built
    /// there once instead of moved through every layer).
    fn record(&mut self, event: Arc<Event>);
    /// Text that is not a runtime record, in stream order.
    fn text(&mut self, bytes: &[u8]);
}

/// Bounds on what the scanner holds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A line longer than this is passed through in pieces and counted.
    pub max_line: usize,
    /// A torn record is searched for over at most this many lines...
    pub window_lines: usize,
    /// ... and this many bytes.
    pub window_bytes: usize,
    /// A record torn into more places than this is not believed.
    pub max_gaps: u32,
    /// Lines to look past a record whose newline came after other text.
    pub lookahead_lines: usize,
    /// Window over which GC CPU and frequency are computed.
    pub analysis_window_s: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            window_lines: 256,
            window_bytes: 64 * 1024,
            max_gaps: 12,
            lookahead_lines: 4,
            analysis_window_s: 10.0,
        }
    }
}

/// What the scanner has seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub bytes: u64,
    pub lines: u64,
    pub records: u64,
    pub gc: u64,
    pub scav: u64,
    pub scvg: u64,
    pub gc_forced: u64,
    /// Records rebuilt from pieces torn apart by other writes.
    pub repaired: u64,
    /// Text that started like a record but could not be rebuilt (passed through).
    pub unresolved: u64,
    /// gc cycles missing between consecutive numbers of one process.
    pub gaps: u64,
    /// Times the gc numbers restarted (another process in the same stream).
    pub restarts: u64,
    /// Lines longer than the limit, passed through in pieces.
    pub long_lines: u64,
    /// `pacer:`, `SCHED`, `init` lines of other GODEBUG settings.
    pub other_runtime: u64,
}

/// Most records fill their line: the record, if `line` is one.
fn whole_line_record(line: &[u8]) -> Option<Record> {
    match line.first() {
        Some(b'g' | b's' | b'G' | b'f') => parse_record(strip_eol(line)),
        _ => None,
    }
}

/// A line that needs no window: plain text, or one whole record (after other
/// text). `None` when it starts a record that does not parse whole.
fn decide_line(
    anchors: &Anchors,
    found: &mut Vec<usize>,
    stats: &mut Stats,
    line: &[u8],
) -> Option<Decided> {
    match whole_line_record(line) {
        Some(r) => Some(Decided::Record(0, r)),
        None => decide_by_anchors(anchors, found, stats, line),
    }
}

/// `decide_line` for a line that is not a whole record from its first byte.
fn decide_by_anchors(
    anchors: &Anchors,
    found: &mut Vec<usize>,
    stats: &mut Stats,
    line: &[u8],
) -> Option<Decided> {
    anchors.find(line, found);
    if found.is_empty() {
        if is_other_runtime_line(strip_eol(line)) {
            stats.other_runtime += 1;
        }
        return Some(Decided::Text);
    }
    // Every anchor starts with a byte `whole_line_record` tries: one at 0
    // has been parsed already.
    let body = strip_eol(line);
    found
        .iter()
        .filter(|&&at| at > 0)
        .find_map(|&at| parse_record(&body[at..]).map(|r| Decided::Record(at, r)))
}

/// What a line turned out to be.
// Returned by value once per line and consumed at once: boxing the record
// would cost an allocation per record on the hottest path.
#[allow(clippy::large_enum_variant)]
enum Decided {
    Text,
    /// A record starting at this offset, after other text.
    Record(usize, Record),
}

/// When held text must be decided now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    No,
    Eof,
}

/// Lines of the buffer, relative to `head`, being searched for a torn record.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// End of the last line in the window.
    end: usize,
    lines: usize,
}

pub struct Scanner {
    limits: Limits,
    buf: Vec<u8>,
    /// First byte of `buf` not yet decided.
    head: usize,
    /// 1-based line number of `buf[head]`.
    line_no: u64,
    window: Option<Window>,
    /// Which record shapes' text pieces have all been found, searched from
    /// the start of some window at or before the current one.
    bound: Progress,
    /// Stream offset of `buf[0]`.
    dropped: u64,
    /// The current partial line was already counted as too long.
    long_line: bool,
    /// Bytes of the current line already passed through.
    line_sent: usize,
    /// The last byte decided (passed on or part of a record).
    prev: Option<u8>,
    anchors: Anchors,
    found: Vec<usize>,
    /// Anchors of the span being decided directly.
    span_anchors: Vec<usize>,
    /// Lines a window grew by, by stream offset: does the line start a
    /// record that does not parse whole? Asked again when the window is
    /// given up and the line comes first: the answer is kept, not searched
    /// again. At most one window's lines.
    line_needs: VecDeque<(u64, bool)>,
    timeline: Timeline,
    analysis: Analysis,
    seq: u64,
    stats: Stats,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(Limits::default())
    }
}

impl Scanner {
    pub fn new(limits: Limits) -> Self {
        let analysis = Analysis::new(limits.analysis_window_s);
        Scanner {
            limits,
            buf: Vec::new(),
            head: 0,
            line_no: 1,
            window: None,
            bound: Progress::default(),
            dropped: 0,
            long_line: false,
            line_sent: 0,
            prev: None,
            anchors: Anchors::default(),
            found: Vec::new(),
            span_anchors: Vec::new(),
            line_needs: VecDeque::new(),
            timeline: Timeline::default(),
            analysis,
            seq: 0,
            stats: Stats::default(),
        }
    }

    /// The gc number the next cycle of the current process will print.
    pub fn next_gc(&self) -> u64 {
        self.timeline.next_gc()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes held, waiting for the rest of a record.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Takes the next chunk of the stream. What it decides does not depend
    /// on how the stream is cut into chunks, nor on when they arrive.
    pub fn feed(&mut self, bytes: &[u8], sink: &mut impl Sink) {
        self.stats.bytes += bytes.len() as u64;
        let mut bytes = bytes;
        if self.pending() > 0 && self.window.is_none() {
            // Complete the held line first; then, with nothing held, the rest
            // can be decided straight from the input.
            let Some(nl) = memchr(b'\n', bytes) else {
                self.buf.extend_from_slice(bytes);
                return self.pump(Flush::No, sink);
            };
            self.buf.extend_from_slice(&bytes[..=nl]);
            self.pump(Flush::No, sink);
            bytes = &bytes[nl + 1..];
        }
        let rest = if self.pending() == 0 {
            self.direct(bytes, sink)
        } else {
            bytes
        };
        self.buf.extend_from_slice(rest);
        self.pump(Flush::No, sink);
    }

    /// With nothing held, decides whole lines straight from the input (the
    /// common case: plain text, or a record that parses whole) without
    /// copying them; returns the rest, from the first line that needs more.
    fn direct<'a>(&mut self, bytes: &'a [u8], sink: &mut impl Sink) -> &'a [u8] {
        // Every record contains one of its anchors, so a line without one is
        // text. The anchors are searched once for the rest of the span (not
        // per line), when the first line that is not a whole record comes:
        // a span of records alone never needs them.
        let mut anchors = std::mem::take(&mut self.span_anchors);
        let mut searched_from = None;
        let mut next = 0;
        let mut text_from = 0;
        let mut at = 0;
        let mut gc_len = 0;
        loop {
            // The common case first: a gc record filling its line, whose
            // parse also finds the line's end. Records that fill their line
            // go out at once (carried in `Decided` they would be copied again).
            let gc = gc_line(&bytes[at..], &mut gc_len);
            let end = match &gc {
                Some(_) => at + gc_len,
                None => match memchr(b'\n', &bytes[at..]) {
                    Some(nl) => at + nl + 1,
                    None => break,
                },
            };
            let line = &bytes[at..end];
            if self.line_sent + line.len() > self.limits.max_line {
                break;
            }
            if let Some(record) = gc {
                self.pass_record(record, bytes, &mut text_from, at, end, sink);
            } else if let Some(record) = whole_line_record(line) {
                self.pass_record(record, bytes, &mut text_from, at, end, sink);
            } else {
                let base = *searched_from.get_or_insert_with(|| {
                    self.anchors.find(&bytes[at..], &mut anchors);
                    at
                });
                while anchors.get(next).is_some_and(|&p| base + p < at) {
                    next += 1;
                }
                let decided = if anchors.get(next).is_some_and(|&p| base + p < end) {
                    decide_by_anchors(&self.anchors, &mut self.found, &mut self.stats, line)
                } else {
                    if is_other_runtime_line(strip_eol(line)) {
                        self.stats.other_runtime += 1;
                    }
                    Some(Decided::Text)
                };
                match decided {
                    Some(Decided::Text) => {}
                    Some(Decided::Record(start, record)) => {
                        self.pass_record(record, bytes, &mut text_from, at + start, end, sink);
                    }
                    None => break,
                }
            }
            self.line_no += 1;
            self.stats.lines += 1;
            self.line_sent = 0;
            self.long_line = false;
            at = end;
            self.prev = Some(b'\n');
        }
        if text_from < at {
            sink.text(&bytes[text_from..at]);
        }
        self.span_anchors = anchors;
        self.dropped += at as u64;
        &bytes[at..]
    }

    /// Write-boundary (packet) input: text known to be the program's own
    /// whole writes. It bypasses the byte search; lines are still counted so
    /// record line numbers stay right. Call only while nothing is held
    /// (`pending() == 0`), i.e. on a scanner used for packets alone.
    pub fn packet_text(&mut self, bytes: &[u8], sink: &mut impl Sink) {
        debug_assert_eq!(self.pending(), 0, "packet input on a byte scanner");
        self.stats.bytes += bytes.len() as u64;
        let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.line_no += lines;
        self.stats.lines += lines;
        if let Some(&last) = bytes.last() {
            self.prev = Some(last);
        }
        sink.text(bytes);
    }

    /// Write-boundary (packet) input: one runtime record's text, its pieces
    /// joined, with its newline. `torn`: other writes came between its
    /// pieces. Returns false, emitting nothing, when the text is not exactly
    /// one record.
    pub fn packet_record(&mut self, text: &[u8], torn: bool, sink: &mut impl Sink) -> bool {
        debug_assert_eq!(self.pending(), 0, "packet input on a byte scanner");
        let body = strip_eol(text);
        let Some(record) = parse_record(body) else {
            return false;
        };
        self.stats.bytes += text.len() as u64;
        let raw = body.to_vec();
        self.emit(record, self.line_no, torn, raw, sink);
        let lines = memchr::memchr_iter(b'\n', text).count() as u64;
        self.line_no += lines;
        self.stats.lines += lines;
        self.prev = Some(b'\n');
        true
    }

    /// End of stream: everything held is decided.
    pub fn finish(&mut self, sink: &mut impl Sink) {
        self.flush(sink);
    }

    /// Decides everything held now, as at the end of the stream, when what
    /// comes next is known to start afresh (a record's first write, seen
    /// apart); more can be fed after.
    pub fn flush(&mut self, sink: &mut impl Sink) {
        self.pump(Flush::Eof, sink);
    }

    fn pump(&mut self, flush: Flush, sink: &mut impl Sink) {
        while if self.window.is_some() {
            self.step_window(flush, sink)
        } else {
            self.step_line(flush, sink)
        } {}
        if self.head > 0 {
            self.prev = Some(self.buf[self.head - 1]);
            self.buf.drain(..self.head);
            self.dropped += self.head as u64;
            self.head = 0;
        }
    }

    /// The next complete line at or after `from` (relative to head): its end.
    fn line_end(&self, from: usize) -> Option<usize> {
        memchr(b'\n', &self.buf[self.head + from..]).map(|i| from + i + 1)
    }

    /// No window open: decide the next line. Returns whether it made progress.
    fn step_line(&mut self, flush: Flush, sink: &mut impl Sink) -> bool {
        let Some(end) = self.line_end(0) else {
            return self.step_partial(flush, sink);
        };
        let line_start = self.head;
        self.note_line_length(end);
        let line = &self.buf[line_start..line_start + end];
        match decide_line(&self.anchors, &mut self.found, &mut self.stats, line) {
            Some(Decided::Text) => {
                sink.text(line);
                self.consume_line(end);
                return true;
            }
            Some(Decided::Record(at, record)) => {
                sink.text(&line[..at]);
                let raw = strip_eol(&line[at..]).to_vec();
                self.emit(record, self.line_no, false, raw, sink);
                self.consume_line(end);
                return true;
            }
            None => {}
        }
        if end > self.limits.window_bytes {
            self.count_fragment(line_start, end);
            sink.text(&self.buf[line_start..line_start + end]);
            self.consume_text(end);
            return true;
        }
        self.window = Some(Window { end, lines: 1 });
        true
    }

    /// A record that fills the rest of the line from one of its anchors.
    fn whole_record(&self, start: usize, end: usize) -> Option<(usize, Record)> {
        let line = strip_eol(&self.buf[start..start + end]);
        self.found
            .iter()
            .find_map(|&at| parse_record(&line[at..]).map(|r| (at, r)))
    }

    /// The buffer holds no complete line: release what cannot start a record
    /// now, so a prompt shows at once; the rest waits for more input.
    fn step_partial(&mut self, flush: Flush, sink: &mut impl Sink) -> bool {
        if self.pending() == 0 {
            return false;
        }
        let release = if flush != Flush::No {
            let len = self.pending();
            self.count_fragment(self.head, len);
            len
        } else if self.pending() > self.limits.max_line {
            // Held text never grows past the limit, record start or not: keep
            // only as much as one record can be.
            self.pending() - MAX_RECORD
        } else {
            let rest = &self.buf[self.head..];
            self.anchors
                .hold_from(rest, &mut self.found)
                .unwrap_or(rest.len())
        };
        self.note_line_length(self.pending());
        if release > 0 {
            sink.text(&self.buf[self.head..self.head + release]);
            self.head += release;
            self.line_sent += release;
        }
        false
    }

    /// A window is open: try to rebuild its record, or grow or give it up.
    /// Nothing here depends on time: a record whose pieces are slow to come
    /// is waited for, bounded by the bytes and lines held.
    fn step_window(&mut self, flush: Flush, sink: &mut impl Sink) -> bool {
        let Some(mut w) = self.window.take() else {
            return false;
        };
        let feasible = self.feasible(w.end);
        if feasible && let Some(al) = self.align(w.end, None) {
            self.window = Some(w);
            if !al.has_suffix_gap() {
                return self.commit(al, sink);
            }
            return match self.settle_suffix(al, flush) {
                Some(al) => self.commit(al, sink),
                None => false,
            };
        }
        if w.lines >= self.limits.window_lines || w.end >= self.limits.window_bytes {
            return self.abandon(feasible, Some(w), sink);
        }
        match self.line_end(w.end) {
            // Nothing more will come: give up on this line.
            None if flush == Flush::Eof => self.abandon(feasible, Some(w), sink),
            None => {
                let too_long = self.pending() - w.end > self.limits.max_line;
                self.window = Some(w);
                if too_long {
                    return self.abandon(feasible, Some(w), sink);
                }
                false
            }
            Some(end) => {
                // Runtime records never interleave: a whole record on the next
                // line means the window's record will not be completed.
                let (start, len) = (self.head + w.end, end - w.end);
                self.anchors
                    .find(&self.buf[start..start + len], &mut self.found);
                if !self.found.is_empty() && self.whole_record(start, len).is_some() {
                    return self.abandon(feasible, Some(w), sink);
                }
                // Not a whole record: with an anchor, it starts one that does
                // not parse whole.
                let needs = !self.found.is_empty();
                let at = self.dropped + start as u64;
                let head = self.dropped + self.head as u64;
                while self.line_needs.front().is_some_and(|&(o, _)| o < head) {
                    self.line_needs.pop_front();
                }
                self.line_needs.push_back((at, needs));
                w.end = end;
                w.lines += 1;
                self.window = Some(w);
                true
            }
        }
    }

    /// Could the window's first `end` bytes hold every text piece of some
    /// record shape? Asked of the search from the earliest window still
    /// open (or since closed) first: until that one finds them all, no later
    /// window can. Only then is the window searched from its own start.
    ///
    /// That first search runs ahead over every whole line held (up to a
    /// window's bytes), so text arriving in large reads is searched once per
    /// read, not once per line.
    fn feasible(&mut self, end: usize) -> bool {
        let base = self.dropped + self.head as u64;
        let window_end = base + end as u64;
        if self.bound.searched_to().is_none_or(|s| s < window_end) {
            let limit = self.pending().min(self.limits.window_bytes.max(end));
            let ahead = memrchr(b'\n', &self.buf[self.head + end..self.head + limit])
                .map_or(end, |i| end + i + 1);
            self.bound
                .advance(&self.buf[self.head..self.head + ahead], base);
        }
        if self.bound.complete_at().is_none_or(|c| c > window_end) {
            return false;
        }
        let mut own = Progress::default();
        let complete = own.advance(&self.buf[self.head..self.head + end], base);
        self.bound = own;
        complete.is_some_and(|c| c <= window_end)
    }

    /// Aligns the window's first `end` bytes. A reading in doubt is looked
    /// at again knowing how far the GC CPU percent can move: see
    /// [`Self::align_knowing_the_pct`].
    fn align(&self, end: usize, end_at: Option<usize>) -> Option<Alignment> {
        let tl = &self.timeline;
        let window = &self.buf[self.head..self.head + end];
        let align = |at_cost: &dyn Fn(f64) -> Option<u32>,
                     accept_pct: &dyn Fn(u64, Range<usize>) -> bool|
         -> Option<Alignment> {
            let c = Constraints {
                gc_cost: &|n| tl.gc_cost(n),
                accept_procs: &|p| tl.accepts_procs(p),
                at_cost,
                pct_cost: &|p| tl.pct_cost(p),
                accept_pct,
                accept_shape: &|f| tl.accepts_shape(f),
                end_at,
                max_gaps: self.limits.max_gaps,
                before: if self.head > 0 {
                    Some(self.buf[self.head - 1])
                } else {
                    self.prev
                },
            };
            repair::align(window, &c)
        };
        let first = align(&|t| tl.at_cost(t), &|_, _| true)?;
        if !first.doubt {
            return Some(first);
        }
        Some(self.align_knowing_the_pct(window, &align).unwrap_or(first))
    }

    /// The GC CPU percent is cumulative, so it can move only so far from the
    /// last cycle's: how far depends on the record's own `@` and on how long
    /// its phases took (its clock times, which come after the percent). For
    /// each `@` the window offers, the readings whose percent is possible
    /// (with every number after it as large as any clock time could be) are
    /// aligned again. When only one record text is left among the cheapest,
    /// and nothing in that reading is in doubt, it is the record; otherwise
    /// `None`. No reading is dropped that the runtime could have printed.
    fn align_knowing_the_pct(&self, window: &[u8], align: &AlignWith) -> Option<Alignment> {
        let tl = &self.timeline;
        let ats = {
            let c = Constraints {
                gc_cost: &|_| Some(0),
                accept_procs: &|_| true,
                at_cost: &|t| tl.at_cost(t),
                pct_cost: &|_| 0,
                accept_pct: &|_, _| true,
                accept_shape: &|_| true,
                end_at: None,
                max_gaps: self.limits.max_gaps,
                before: None,
            };
            repair::at_values(window, &c)
        };
        let room = ClockRoom::new(window);
        let mut best: Option<(Alignment, Vec<u8>)> = None;
        let mut tie = false;
        for at in ats {
            tl.pct_bounds(at, 0.0)?;
            let only_this = |t: f64| if t == at { tl.at_cost(t) } else { None };
            let possible = |pct: u64, place: Range<usize>| {
                let wall = room.after(window, place.end);
                tl.pct_bounds(at, wall)
                    .is_none_or(|(low, high)| (low..=high).contains(&pct))
            };
            let Some(al) = align(&only_this, &possible) else {
                continue;
            };
            let text = al.text(window);
            match &best {
                Some((b, t)) if al.score == b.score => tie |= *t != text || al.doubt,
                Some((b, _)) if al.score > b.score => {}
                _ => {
                    tie = al.doubt;
                    best = Some((al, text));
                }
            }
        }
        let (al, _) = best?;
        (!tie).then_some(Alignment { doubt: false, ..al })
    }

    /// Other text sits between a record's last piece and a newline: that
    /// newline may be the other text's own, with the record's last pieces on
    /// the next lines (` P`, ` (forced)`, or its newline alone). Re-align over
    /// a few more lines and keep a later end that needs fewer insertions (or as
    /// few, when the later line is just the record's tail). `None`: wait for
    /// more input.
    fn settle_suffix(&mut self, al: Alignment, flush: Flush) -> Option<Alignment> {
        let mut best = al;
        let mut at = best.spans.last().map_or(0, |s| s.end);
        for _ in 0..self.limits.lookahead_lines {
            let Some(end) = self.line_end(at) else {
                return if flush == Flush::No { None } else { Some(best) };
            };
            if end > self.limits.window_bytes {
                break;
            }
            let (start, len) = (self.head + at, end - at);
            // Runtime records never interleave: a whole record on this line
            // means the record being settled ended before it.
            self.anchors
                .find(&self.buf[start..start + len], &mut self.found);
            if !self.found.is_empty() && self.whole_record(start, len).is_some() {
                break;
            }
            if let Some(later) = self.align(end, Some(end)) {
                let body = strip_eol(&self.buf[start..start + len]);
                let tail_only =
                    body.is_empty() || body == b" (forced)" || body == b" [controller reset]";
                let same_record = later.spans[0] == best.spans[0];
                if same_record
                    && (later.score < best.score || (later.score == best.score && tail_only))
                {
                    best = later;
                }
            }
            at = end;
        }
        Some(best)
    }

    /// Emits a rebuilt record and the other text around and inside it. A
    /// reading in doubt is not believed: its bytes pass through as they came
    /// and it counts as unresolved.
    fn commit(&mut self, al: Alignment, sink: &mut impl Sink) -> bool {
        let window = &self.buf[self.head..];
        let text = al.text(window);
        let record = parse_record(strip_eol(&text));
        let implausible = match &record {
            Some(Record::Gc(g)) => al.gaps > 0 && !plausible(g),
            _ => false,
        };
        if al.doubt || implausible {
            let end = al.spans.last().map_or(0, |s| s.end);
            self.window = None;
            self.unresolved();
            sink.text(&self.buf[self.head..self.head + end]);
            self.consume_text(end);
            return true;
        }
        let Some(record) = record else {
            return self.abandon(false, None, sink);
        };
        let start = al.spans[0].start;
        let line = self.line_no + memchr::memchr_iter(b'\n', &window[..start]).count() as u64;
        let mut at = 0;
        for s in &al.spans {
            if s.start > at {
                sink.text(&window[at..s.start]);
            }
            at = s.end;
        }
        let raw = strip_eol(&text).to_vec();
        self.emit(record, line, al.gaps > 0, raw, sink);
        self.window = None;
        self.consume_text(at);
        true
    }

    /// Gives up on the window's first line: it passes through as text.
    /// `held_a_record`: every text piece of some record shape was in the
    /// window, yet no reading could be believed: an unresolved record.
    /// `window`: the lines after the first were already looked at (none is a
    /// whole record): if the next line needs a window too, they make it, so
    /// text full of `gc` words is looked at once per line, not once per
    /// window it falls in.
    fn abandon(
        &mut self,
        held_a_record: bool,
        window: Option<Window>,
        sink: &mut impl Sink,
    ) -> bool {
        self.window = None;
        let end = self.line_end(0).unwrap_or(self.pending());
        // Text that only mentions a record's words (`worker gc 3 @ node-7`)
        // is the program's: only a window that held a whole record's text
        // pieces counts.
        if held_a_record {
            self.unresolved();
        }
        sink.text(&self.buf[self.head..self.head + end]);
        self.consume_text(end);
        let Some(mut w) = window.filter(|w| w.end > end) else {
            return true;
        };
        w.end -= end;
        w.lines -= 1;
        // Its other lines are text, or start a record that does not parse
        // whole: text goes out, the next such start keeps the rest.
        while w.lines > 0 {
            let Some(next) = self.line_end(0).filter(|&n| n <= w.end) else {
                break;
            };
            if self.needs_window(next) {
                self.window = Some(w);
                break;
            }
            let line = &self.buf[self.head..self.head + next];
            if is_other_runtime_line(strip_eol(line)) {
                self.stats.other_runtime += 1;
            }
            sink.text(line);
            self.consume_text(next);
            w.end -= next;
            w.lines -= 1;
        }
        true
    }

    /// Does the line of `len` bytes at `head` start a record that does not
    /// parse whole?
    fn needs_window(&mut self, len: usize) -> bool {
        let at = self.dropped + self.head as u64;
        while let Some(&(o, needs)) = self.line_needs.front() {
            if o > at {
                break;
            }
            self.line_needs.pop_front();
            if o == at {
                return needs;
            }
        }
        let line = &self.buf[self.head..self.head + len];
        if whole_line_record(line).is_some() {
            return false;
        }
        self.anchors.find(line, &mut self.found);
        let body = strip_eol(line);
        !self.found.is_empty()
            && !self
                .found
                .iter()
                .any(|&at| at > 0 && parse_record(&body[at..]).is_some())
    }

    /// A record that could not be rebuilt: counted, and its cycle may be
    /// the one the next rebuilt record's number skips.
    fn unresolved(&mut self) {
        self.stats.unresolved += 1;
        self.timeline.unresolved();
    }

    /// Counts text passed through that began like a record (`gc 12`, `scav 0`),
    /// as opposed to text that merely mentions gc.
    fn count_fragment(&mut self, start: usize, len: usize) {
        let text = &self.buf[start..start + len];
        self.anchors.find(text, &mut self.found);
        if self.found.iter().any(|&at| looks_like_record(&text[at..])) {
            self.stats.unresolved += 1;
        }
    }

    /// Advances past one whole line of `len` bytes.
    fn consume_line(&mut self, len: usize) {
        self.long_line = false;
        self.line_sent = 0;
        self.line_no += 1;
        self.stats.lines += 1;
        self.head += len;
    }

    /// Counts a line once when it grows past the limit (`len` more bytes of
    /// it are in the buffer).
    fn note_line_length(&mut self, len: usize) {
        if !self.long_line && self.line_sent + len > self.limits.max_line {
            self.long_line = true;
            self.stats.long_lines += 1;
        }
    }

    /// Advances past `len` decided bytes, counting the lines they end.
    fn consume_text(&mut self, len: usize) {
        let lines =
            memchr::memchr_iter(b'\n', &self.buf[self.head..self.head + len]).count() as u64;
        if lines > 0 {
            self.long_line = false;
            self.line_sent = 0;
        }
        self.line_no += lines;
        self.stats.lines += lines;
        self.head += len;
    }

    /// Passes on `span[*text_from..start]`, then the record that runs from
    /// `start` to the end of its line at `end`.
    #[inline(always)]
    fn pass_record(
        &mut self,
        record: Record,
        span: &[u8],
        text_from: &mut usize,
        start: usize,
        end: usize,
        sink: &mut impl Sink,
    ) {
        sink.text(&span[*text_from..start]);
        *text_from = end;
        let raw = strip_eol(&span[start..end]).to_vec();
        self.emit(record, self.line_no, false, raw, sink);
    }

    fn emit(
        &mut self,
        record: Record,
        line: u64,
        repaired: bool,
        raw: Vec<u8>,
        sink: &mut impl Sink,
    ) {
        // The record goes straight into its shared allocation; the fields
        // derived from it are filled in there (nothing else holds it yet).
        let mut event = Arc::new(Event {
            seq: self.seq,
            proc: 0,
            line,
            repaired,
            t_s: None,
            record,
            window: None,
            raw: raw.into_boxed_slice(),
        });
        let e = Arc::get_mut(&mut event).expect("a new event is not shared");
        e.t_s = match &e.record {
            Record::Gc(g) => {
                self.stats.gc += 1;
                self.note_gc(g.gc);
                let t = self.timeline.on_gc(g);
                e.window = Some(self.analysis.on_gc(self.timeline.proc(), g));
                Some(t)
            }
            Record::LegacyGc(g) => {
                self.stats.gc += 1;
                self.note_gc(g.gc);
                None
            }
            Record::Scav(sc) => {
                self.stats.scav += 1;
                self.timeline.on_scav(sc.format);
                self.timeline.last_t_s()
            }
            Record::Scvg(_) | Record::ScvgReleased(_) => {
                self.stats.scvg += 1;
                self.timeline.last_t_s()
            }
            Record::GcForced(_) => {
                self.stats.gc_forced += 1;
                self.timeline.last_t_s()
            }
        };
        e.proc = self.timeline.proc();
        self.stats.records += 1;
        if repaired {
            self.stats.repaired += 1;
        }
        self.seq += 1;
        sink.record(event);
    }

    /// Tracks gc numbers: a restart means another process, a jump lost cycles.
    fn note_gc(&mut self, n: u64) {
        match self.timeline.note_gc(n) {
            Step::Restart => self.stats.restarts += 1,
            Step::Skipped(lost) => self.stats.gaps += lost,
        }
    }
}

/// One record is never longer than this (a gc line with every number at its
/// widest is under 400 bytes).
const MAX_RECORD: usize = 1024;

/// An alignment of the window with these `@` costs and percents allowed.
type AlignWith<'a> = dyn Fn(&dyn Fn(f64) -> Option<u32>, &dyn Fn(u64, Range<usize>) -> bool) -> Option<Alignment>
    + 'a;

/// The most a record's clock times (up to five, Go 1.5's count; each in
/// its own run of digits, `+` between them) could add up to if they are
/// among the digits of a window from some place on: each run counted as all
/// its digits read as one number of milliseconds (`0.960` as 960), more than
/// any part of it could read. Built once per window: every percent place
/// asks.
struct ClockRoom {
    /// Runs of digits and dots: where each starts and ends.
    runs: Vec<Range<usize>>,
    /// For each run, the five largest values among it and the runs after.
    largest: Vec<[f64; 5]>,
}

impl ClockRoom {
    fn new(window: &[u8]) -> Self {
        let mut runs = Vec::new();
        let mut at = 0;
        while at < window.len() {
            let len = window[at..].iter().take_while(|&&b| is_run_byte(b)).count();
            if len > 0 {
                runs.push(at..at + len);
            }
            at += len.max(1);
        }
        let mut largest = vec![[0.0; 5]; runs.len()];
        let mut top = [0.0; 5];
        for (i, r) in runs.iter().enumerate().rev() {
            top = with(top, run_ms(&window[r.clone()]));
            largest[i] = top;
        }
        ClockRoom { runs, largest }
    }

    /// The room from `from` on, in seconds: a run `from` cuts counts from
    /// there.
    fn after(&self, window: &[u8], from: usize) -> f64 {
        let next = self.runs.partition_point(|r| r.start < from);
        let mut top = self.largest.get(next).copied().unwrap_or([0.0; 5]);
        if let Some(cut) = next.checked_sub(1).map(|i| &self.runs[i])
            && cut.end > from
        {
            top = with(top, run_ms(&window[from..cut.end]));
        }
        top.iter().sum::<f64>() / 1000.0
    }
}

fn is_run_byte(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// A run's digits read as one number of milliseconds.
fn run_ms(run: &[u8]) -> f64 {
    run.iter()
        .filter(|b| b.is_ascii_digit())
        .fold(0.0, |n, &d| (n * 10.0 + f64::from(d - b'0')).min(1e12))
}

/// The five largest of `top` and `v`.
fn with(mut top: [f64; 5], v: f64) -> [f64; 5] {
    if v > top[4] {
        top[4] = v;
        top.sort_by(|a, b| b.total_cmp(a));
    }
    top
}

/// The start of a record: its first piece and the number after it.
fn looks_like_record(text: &[u8]) -> bool {
    let digit_at = |n: usize| {
        text.get(n)
            .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
    };
    (text.starts_with(b"gc ") && digit_at(3))
        || (text.starts_with(b"gc") && digit_at(2))
        || (text.starts_with(b"scav ") && digit_at(5))
        || (text.starts_with(b"scvg") && (digit_at(4) || text.get(4) == Some(&b':')))
        || text.starts_with(b"forced scvg")
        || text.starts_with(b"GC forced")
}

/// A line without its `\n` and one `\r` before it.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// For packet input (src/trace/packets.rs): what the reassembler decides
/// that the scanner's own counts must show.
impl Scanner {
    /// Text that began a record but could not be rebuilt, passed through.
    pub(crate) fn packet_unresolved(&mut self) {
        self.stats.unresolved += 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The room computed afresh from `from`: every run after it, sorted.
    fn room_afresh(window: &[u8], from: usize) -> f64 {
        let mut runs: Vec<f64> = window[from.min(window.len())..]
            .split(|&b| !is_run_byte(b))
            .map(run_ms)
            .filter(|&ms| ms > 0.0)
            .collect();
        runs.sort_by(|a, b| b.total_cmp(a));
        runs.iter().take(5).sum::<f64>() / 1000.0
    }

    proptest! {
        #![proptest_config(crate::trace::proptest_config())]

        #[test]
        fn clock_room_built_once_answers_as_a_fresh_look_would(
            window in "[0-9. a+/%]{0,80}",
            from in 0..90usize,
        ) {
            let w = window.as_bytes();
            let from = from.min(w.len());
            prop_assert_eq!(ClockRoom::new(w).after(w, from), room_afresh(w, from));
        }
    }
}
