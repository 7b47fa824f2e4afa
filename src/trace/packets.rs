//! Packet input (wrapper mode): the program's stderr arrives one `write(2)`
//! per packet, so a runtime record is a subsequence of whole packets, each
//! one number piece or a run of literal pieces (a packet never holds part of
//! a piece), and every other packet is one whole write of the program.
//!
//! Candidate records are tracked incrementally, as threads of an automaton
//! over the record shapes (`pieces::shapes`, merged into one trie): a thread
//! is a start packet, a trie node and whether it is in a gap, so the work per
//! packet is bounded by the threads alive. Records never interleave (the
//! runtime's print lock), so when a thread completes, the best reading
//! ending at that packet is the record (the shape the process printed so
//! far, most packets taken as the runtime's, fewest insertions: see
//! `Thread::cost`), and every other thread is dropped. Two such readings with different text are
//! not guessed between: the bytes pass through as text and are counted as
//! unresolved.
//!
//! While a thread is alive the packets from its start on are held (at most
//! [`MAX_HOLD`] bytes; never released by a clock, so a record stalled for
//! seconds mid-way is still rebuilt), then emitted in their original order.
//!
//! A stream whose writes were joined before gcviz saw them (the program run
//! through a shell pipe into `tee`, docker, ssh) shows whole record lines
//! inside packets. Seen before any record was built from pieces (or, after,
//! a whole gc record with the next cycle's number: a `cat` in between that
//! kept up with the runtime's writes at first), that switches the stream to
//! the byte scanner for good.
//!
//! Pure: no I/O, no clock.

use std::sync::OnceLock;

use memchr::memchr;

use super::pieces::{Family, Piece, shapes};
use super::shapes::{Num, fits};
use super::{Anchors, Scanner, Sink, parse_record};

/// Bytes held while a record may be in progress. Past this the oldest
/// candidate is given up and its text passes through.
pub const MAX_HOLD: usize = 64 * 1024;
/// Candidate threads alive at once; past this the oldest start is given up.
/// A real stream has a few dozen (one record in progress and the readings
/// that skip a piece of it).
const MAX_THREADS: usize = 4096;
/// A reading that has fallen this many writes behind the best from the
/// same start is dropped: to catch up it would need as many more writes
/// equal to the record's pieces, in order, from the program. This keeps the
/// threads of one record in progress to a few dozen.
const MAX_LAG: usize = 8;

/// The record shapes as one trie: shapes sharing a prefix of pieces share
/// its nodes.
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    children: Vec<(Piece, u32)>,
    /// The pieces up to here are a whole record (its last piece ends in
    /// `\n`) of this family.
    terminal: Option<Family>,
    /// The bytes a piece after this node can start with (a bit each).
    firsts: [u64; 4],
}

impl Node {
    fn may_start(&self, b: u8) -> bool {
        self.firsts[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

const ROOT: u32 = 0;

impl Trie {
    fn get() -> &'static Trie {
        static TRIE: OnceLock<Trie> = OnceLock::new();
        TRIE.get_or_init(|| {
            let mut t = Trie {
                nodes: vec![Node::default()],
            };
            for shape in shapes() {
                let mut at = ROOT;
                for &p in &shape.pieces {
                    at = match t.nodes[at as usize].children.iter().find(|c| c.0 == p) {
                        Some(&(_, c)) => c,
                        None => {
                            let c = t.nodes.len() as u32;
                            t.nodes.push(Node::default());
                            t.nodes[at as usize].children.push((p, c));
                            c
                        }
                    };
                }
                t.nodes[at as usize].terminal = Some(shape.family);
            }
            for node in &mut t.nodes {
                for &(piece, _) in &node.children {
                    let firsts: &[u8] = match piece {
                        Piece::Lit(lit) => &lit.as_bytes()[..1],
                        Piece::Hex => b"0",
                        _ => b"0123456789",
                    };
                    for &b in firsts {
                        node.firsts[usize::from(b >> 6)] |= 1 << (b & 63);
                    }
                }
            }
            t
        })
    }

    /// The nodes reached from `node` by consuming exactly `packet` as one
    /// number piece or a run of literal pieces.
    fn advance(&self, node: u32, packet: &[u8], out: &mut Vec<u32>) {
        out.clear();
        for &(piece, child) in &self.nodes[node as usize].children {
            match piece {
                Piece::Lit(s) => self.literal_run(s.as_bytes(), child, packet, out),
                number if is_number(number, packet) => out.push(child),
                _ => {}
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    /// `packet` as the literal `lit` (leading to `child`) and, if longer,
    /// the literals after it.
    fn literal_run(&self, lit: &[u8], child: u32, packet: &[u8], out: &mut Vec<u32>) {
        let Some(rest) = packet.strip_prefix(lit) else {
            return;
        };
        if rest.is_empty() {
            out.push(child);
            return;
        }
        for &(piece, next) in &self.nodes[child as usize].children {
            if let Piece::Lit(s) = piece {
                self.literal_run(s.as_bytes(), next, rest, out);
            }
        }
    }
}

/// Whether a packet is one whole scav record line: the runtime writes it in
/// pieces, so it is either a program's copy of one or the runtime's writes
/// joined on the way and nothing else with them.
fn is_scav_line(packet: &[u8]) -> bool {
    packet.starts_with(b"scav ")
        && packet
            .strip_suffix(b"\n")
            .is_some_and(|body| memchr(b'\n', body).is_none() && parse_record(body).is_some())
}

/// What a walk over pieces joined in one packet found.
#[derive(Debug, Clone, Copy, Default)]
struct Joined {
    numbers: usize,
    literals: usize,
}

impl Joined {
    /// A number and a literal side by side: two of the runtime's writes.
    fn mixed(self) -> bool {
        self.numbers > 0 && self.literals > 0
    }
}

/// Where a walk over joined pieces may stop and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Only at the packet's end: a record's start, cut by the end of what
    /// another process read at once (text before it, or two pieces of it).
    AtEnd { text_before: bool },
    /// At the packet's end, or at the record's end with more after it: a
    /// record in progress continued by several of its pieces at once.
    EndOrRecordEnd,
}

impl Trie {
    /// Whether `bytes`, from `node` on, holds record pieces that the runtime
    /// can only have written apart (see [`Stop`]). Numbers are taken whole
    /// (the runtime's are always followed by a non-digit), literals exactly.
    fn joined(&self, node: u32, bytes: &[u8], seen: Joined, stop: Stop) -> bool {
        if seen.literals + seen.numbers == 0
            && bytes
                .first()
                .is_some_and(|&b| !self.nodes[node as usize].may_start(b))
        {
            return false;
        }
        let node = &self.nodes[node as usize];
        if bytes.is_empty() {
            return match stop {
                // A whole record line is not a start cut off.
                Stop::AtEnd { .. } if node.terminal.is_some() => false,
                Stop::AtEnd { text_before } => {
                    seen.mixed() || (text_before && seen.literals + seen.numbers > 0)
                }
                Stop::EndOrRecordEnd => seen.mixed(),
            };
        }
        if node.terminal.is_some() && stop == Stop::EndOrRecordEnd && seen.literals > 0 {
            // The runtime's last write of a record (its newline) carries
            // nothing after it.
            return true;
        }
        node.children.iter().any(|&(piece, child)| match piece {
            Piece::Lit(lit) => bytes.strip_prefix(lit.as_bytes()).is_some_and(|rest| {
                let seen = Joined {
                    literals: seen.literals + 1,
                    ..seen
                };
                self.joined(child, rest, seen, stop)
            }),
            number => {
                let len = number_len(number, bytes);
                len > 0 && is_number(number, &bytes[..len]) && {
                    let seen = Joined {
                        numbers: seen.numbers + 1,
                        ..seen
                    };
                    self.joined(child, &bytes[len..], seen, stop)
                }
            }
        })
    }
}

/// The length of the run of characters a number piece of this kind is made
/// of, at the start of `b`.
fn number_len(piece: Piece, b: &[u8]) -> usize {
    if piece == Piece::Hex {
        return match b.strip_prefix(b"0x") {
            Some(h) => 2 + h.iter().take_while(|c| c.is_ascii_hexdigit()).count(),
            None => 0,
        };
    }
    b.iter()
        .take_while(|&&c| c.is_ascii_digit() || c == b'.')
        .count()
}

impl Trie {
    /// Whether `packet` is exactly the first write of a record printed in
    /// several (`gc `, `scav `, ...; not `GC forced\n`, one write whole).
    fn starts_record(&self, packet: &[u8]) -> bool {
        self.nodes[ROOT as usize]
            .children
            .iter()
            .any(|&(piece, child)| {
                matches!(piece, Piece::Lit(lit) if lit.as_bytes() == packet)
                    && self.nodes[child as usize].terminal.is_none()
            })
    }
}

/// A packet that is exactly one number as the runtime prints it: no sign
/// (a negative number prints its `-` apart), no leading zeros, and the shape
/// of its piece (`@` seconds, milliseconds).
fn is_number(piece: Piece, b: &[u8]) -> bool {
    match piece {
        Piece::GcNumber | Piece::Procs | Piece::Uint | Piece::CpuPct => fits(Num::Uint, b),
        Piece::At => fits(Num::Secs, b),
        Piece::Millis => fits(Num::Millis, b),
        Piece::Hex => b
            .strip_prefix(b"0x")
            .is_some_and(|h| !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit)),
        Piece::Lit(_) => false,
    }
}

/// Where the probe's output goes.
struct Discard;

impl Sink for Discard {
    fn record(&mut self, _: std::sync::Arc<crate::trace::event::Event>) {}
    fn text(&mut self, _: &[u8]) {}
}

const NONE: u32 = u32::MAX;

/// The dedup slot of a (node, gap).
fn slot(node: u32, gap: bool) -> usize {
    2 * node as usize + usize::from(gap)
}

/// One reading in progress: a record begun at packet `start`, its pieces
/// matched up to `node`.
#[derive(Debug, Clone)]
struct Thread {
    node: u32,
    start: u64,
    /// Other packets came since the last one of this record.
    gap: bool,
    /// Runs of other packets inside the record so far.
    ins: u32,
    /// Another reading as cheap reached the same state with other text.
    ambiguous: bool,
    /// The record's packets, by index.
    members: Vec<u64>,
}

impl Thread {
    /// Readings are ranked by most packets taken as the runtime's, then by
    /// fewest insertions. A program write equal to one of the record's
    /// pieces is far rarer than the runtime's own piece: ranked by
    /// insertions alone, `0 MB stacks, 0 MB globals, ` torn twice would
    /// read as one insertion into a record without stacks.
    fn cost(&self) -> (std::cmp::Reverse<usize>, u32) {
        (std::cmp::Reverse(self.members.len()), self.ins)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Until a record's first write arrives alone (or a record arrives in
    /// pieces), the byte scanner decides (so a record split across joined
    /// writes is not lost), while a probe reads the same packets to learn
    /// whether the writes arrive one by one.
    Probe,
    Packets,
    /// Writes arrive joined: the byte scanner decides.
    Bytes,
}

/// Turns packets into records and program text; see the module docs.
pub struct Packets {
    trie: &'static Trie,
    mode: Mode,
    /// In `Mode::Probe`: a reassembler and scanner of its own, whose output
    /// goes nowhere.
    probe: Option<Box<(Packets, Scanner)>>,
    /// A record has been built from more than one packet: the runtime's
    /// writes do reach gcviz one by one.
    built: bool,
    /// A whole record line arrived in one packet: something joined the
    /// writes on their way.
    joined: bool,
    threads: Vec<Thread>,
    /// Scratch for the next packet's threads, and their dedup index: per
    /// (node, gap) the last thread in `next` there, and per thread the one
    /// before it at the same (node, gap) (from another start).
    next: Vec<Thread>,
    slots: Vec<u32>,
    links: Vec<u32>,
    done: Vec<Thread>,
    leaders: Vec<(u64, usize)>,
    steps: Vec<u32>,
    /// Packets held, from index `first` on: their bytes and their ranges.
    held: Vec<u8>,
    spans: Vec<(usize, usize)>,
    first: u64,
    /// Index of the next packet.
    count: u64,
    anchors: Anchors,
    found: Vec<usize>,
    /// The gc and scav shapes of the records so far: one process prints
    /// one shape of each.
    gc_shape: Option<Family>,
    scav_shape: Option<Family>,
}

impl Default for Packets {
    fn default() -> Self {
        Packets {
            trie: Trie::get(),
            mode: Mode::Probe,
            probe: None,
            built: false,
            joined: false,
            threads: Vec::new(),
            next: Vec::new(),
            slots: Vec::new(),
            links: Vec::new(),
            done: Vec::new(),
            leaders: Vec::new(),
            steps: Vec::new(),
            held: Vec::new(),
            spans: Vec::new(),
            first: 0,
            count: 0,
            anchors: Anchors::default(),
            found: Vec::new(),
            gc_shape: None,
            scav_shape: None,
        }
    }
}

impl Packets {
    /// A reassembler that trusts the packets from the start (no probe).
    fn packets_only() -> Self {
        Packets {
            mode: Mode::Packets,
            ..Packets::default()
        }
    }

    /// The stream turned out to arrive with its writes joined; the byte
    /// scanner reads it from then on.
    pub fn coalesced(&self) -> bool {
        self.joined
    }

    /// Takes bytes without write boundaries: the reader turned packets off
    /// (or never had them). From then on the byte scanner decides; what a
    /// record in progress held goes to it first.
    pub fn feed_bytes(&mut self, bytes: &[u8], scanner: &mut Scanner, sink: &mut impl Sink) {
        self.hand_to_bytes(scanner, sink);
        scanner.feed(bytes, sink);
    }

    /// The byte scanner decides from here on.
    fn hand_to_bytes(&mut self, scanner: &mut Scanner, sink: &mut impl Sink) {
        if self.mode == Mode::Bytes {
            return;
        }
        // In `Mode::Probe` the byte scanner has had every packet already.
        if self.mode == Mode::Packets {
            self.threads.clear();
            let held = std::mem::take(&mut self.held);
            self.spans.clear();
            scanner.feed(&held, sink);
        }
        self.mode = Mode::Bytes;
        self.probe = None;
    }

    /// Bytes held, waiting for a record in progress.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes the packets of one read: `bytes` is their concatenation,
    /// `lens` their lengths.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        lens: &[u32],
        scanner: &mut Scanner,
        sink: &mut impl Sink,
    ) {
        let mut at = 0;
        for &len in lens {
            let packet = &bytes[at..(at + len as usize).min(bytes.len())];
            match self.mode {
                Mode::Bytes => break,
                Mode::Probe => self.probe_packet(packet, scanner, sink),
                Mode::Packets => {
                    if self.holds_record_line(packet, false, scanner.next_gc())
                        || self.joins_pieces(packet)
                    {
                        self.joined = true;
                        self.hand_to_bytes(scanner, sink);
                        break;
                    }
                    if is_scav_line(packet) {
                        // A program's copy of a record, or the runtime's
                        // writes joined exactly: not guessed.
                        scanner.packet_unresolved();
                    }
                    self.packet(packet, scanner, sink);
                }
            }
            at += packet.len();
        }
        if self.mode == Mode::Bytes && at < bytes.len() {
            scanner.feed(&bytes[at..], sink);
        }
    }

    /// `Mode::Probe`: the byte scanner takes the packet; the probe learns
    /// from it. A record built from pieces (and nothing held by the byte
    /// scanner) switches to packets; a whole record line in one packet, to
    /// bytes for good.
    fn probe_packet(&mut self, packet: &[u8], scanner: &mut Scanner, sink: &mut impl Sink) {
        if self.trie.starts_record(packet) {
            // A record's first write alone, with nothing else in it: the
            // writes arrive one by one (for now). From here the packets
            // decide, this record included, and a join is caught as it
            // comes (`holds_record_line`, `joins_pieces`). What the byte
            // scanner still holds (a look-alike line it was waiting on) came
            // before this record, which no other record overlaps: it is
            // decided now.
            scanner.flush(sink);
            self.mode = Mode::Packets;
            self.probe = None;
            return self.packet(packet, scanner, sink);
        }
        scanner.feed(packet, sink);
        let probe = self
            .probe
            .get_or_insert_with(|| Box::new((Packets::packets_only(), Scanner::default())));
        let (p, scratch) = &mut **probe;
        if p.holds_record_line(packet, true, 0) {
            self.joined = true;
            self.hand_to_bytes(scanner, sink);
            return;
        }
        p.packet(packet, scratch, &mut Discard);
        if p.built && scanner.pending() == 0 {
            self.mode = Mode::Packets;
            self.built = true;
            self.probe = None;
        }
    }

    /// End of stream: what is held passes through. A record in progress,
    /// even one cut off after its first piece (a write of exactly `gc ` or
    /// `scav `, which the program's own whole writes hardly are), counts as
    /// unresolved: the program exited while the runtime printed it.
    pub fn finish(&mut self, scanner: &mut Scanner, sink: &mut impl Sink) {
        if !self.threads.is_empty() {
            scanner.packet_unresolved();
        }
        self.threads.clear();
        self.release_all(scanner, sink);
        scanner.finish(sink);
    }

    /// Whether a packet holds a whole record line (after other text or
    /// not): the writes were joined on their way. `GC forced` is one write.
    /// Before records were built from pieces any whole record line counts
    /// (`any`); after, only a whole gc record with the next cycle's number,
    /// or a whole scav record with other writes in the same packet: a
    /// program's own record-like line rarely is either, while a process in
    /// between that read the runtime's writes one by one at first (`cat`
    /// keeping up) and then joined them makes both.
    fn holds_record_line(&mut self, packet: &[u8], any: bool, next_gc: u64) -> bool {
        let any = any || !self.built;
        if memchr(b'\n', packet).is_none() || packet == b"GC forced\n" {
            return false;
        }
        for line in packet.split_inclusive(|&b| b == b'\n') {
            let Some(body) = line.strip_suffix(b"\n") else {
                continue;
            };
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            self.anchors.find(body, &mut self.found);
            let joined = self
                .found
                .iter()
                .any(|&at| match parse_record(&body[at..]) {
                    None => false,
                    Some(r) => {
                        any || r.gc_number() == Some(next_gc)
                            || (r.kind() == "scav" && body.len() - at + 1 < packet.len())
                    }
                });
            if joined {
                return true;
            }
        }
        false
    }

    /// Whether a packet holds record pieces the runtime writes apart,
    /// joined: something between the program and gcviz (`cat` falling
    /// behind) joined the writes after it had passed them on one by one.
    /// Either a record's start runs to the packet's end after other text
    /// or as a number and a literal together, or the packet continues a
    /// record in progress by a number and a literal together (or by its
    /// last piece and more). The program's own writes hardly do either:
    /// a look-alike line goes on with its own words, and a whole record
    /// line is [`Self::holds_record_line`]'s to judge. Caught there, the
    /// record goes to the byte scanner with what was held of it, and is
    /// not lost.
    fn joins_pieces(&self, packet: &[u8]) -> bool {
        let continues = self.threads.iter().any(|t| {
            self.trie
                .joined(t.node, packet, Joined::default(), Stop::EndOrRecordEnd)
        });
        continues
            || std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', packet).map(|i| i + 1))
                .filter(|&at| at < packet.len())
                .any(|at| {
                    let stop = Stop::AtEnd {
                        text_before: at > 0,
                    };
                    self.trie
                        .joined(ROOT, &packet[at..], Joined::default(), stop)
                })
    }

    fn packet(&mut self, packet: &[u8], scanner: &mut Scanner, sink: &mut impl Sink) {
        let idx = self.count;
        self.count += 1;
        let mut steps = std::mem::take(&mut self.steps);
        self.trie.advance(ROOT, packet, &mut steps);
        if self.threads.is_empty() && steps.is_empty() {
            self.steps = steps;
            // Nothing in progress and no record starts here: program text.
            return scanner.packet_text(packet, sink);
        }
        if self.spans.is_empty() {
            self.first = idx;
        }
        self.spans
            .push((self.held.len(), self.held.len() + packet.len()));
        self.held.extend_from_slice(packet);

        if self.slots.is_empty() {
            self.slots = vec![NONE; 2 * self.trie.nodes.len()];
        }
        self.next.clear();
        self.links.clear();
        for &child in &steps {
            let t = Thread {
                node: child,
                start: idx,
                gap: false,
                ins: 0,
                ambiguous: false,
                members: vec![idx],
            };
            self.merge(t);
        }
        let mut prev = std::mem::take(&mut self.threads);
        for t in prev.drain(..) {
            self.trie.advance(t.node, packet, &mut steps);
            for &child in &steps {
                let mut members = Vec::with_capacity(t.members.len() + 1);
                members.extend_from_slice(&t.members);
                members.push(idx);
                let taken = Thread {
                    node: child,
                    gap: false,
                    members,
                    ..t
                };
                self.merge(taken);
            }
            let skipped = Thread {
                gap: true,
                ins: t.ins + u32::from(!t.gap),
                ..t
            };
            self.merge(skipped);
        }
        self.steps = steps;
        for t in &self.next {
            self.slots[slot(t.node, t.gap)] = NONE;
        }
        // The best reading of each start sets how far behind others may be.
        self.leaders.clear();
        for t in &self.next {
            match self.leaders.iter_mut().find(|l| l.0 == t.start) {
                Some(l) => l.1 = l.1.max(t.members.len()),
                None => self.leaders.push((t.start, t.members.len())),
            }
        }
        self.done.clear();
        for t in self.next.drain(..) {
            let lead = self
                .leaders
                .iter()
                .find(|l| l.0 == t.start)
                .map_or(0, |l| l.1);
            if t.members.len() + MAX_LAG <= lead {
                continue;
            }
            if self.trie.nodes[t.node as usize].terminal.is_some() {
                self.done.push(t);
            } else {
                prev.push(t);
            }
        }
        self.threads = prev;
        if !self.done.is_empty() {
            let done = std::mem::take(&mut self.done);
            self.settle(&done, scanner, sink);
            self.done = done;
            return;
        }
        self.keep_bounds(scanner, sink);
    }

    /// Adds a thread to the next set, keeping one per (node, start, gap):
    /// the cheaper; at a tie, the first, marked ambiguous if the other's
    /// text differs.
    fn merge(&mut self, t: Thread) {
        let key = slot(t.node, t.gap);
        let mut at = self.slots[key];
        while at != NONE && self.next[at as usize].start != t.start {
            at = self.links[at as usize];
        }
        if at == NONE {
            self.links.push(self.slots[key]);
            self.slots[key] = self.next.len() as u32;
            self.next.push(t);
            return;
        }
        let i = at as usize;
        let old = &self.next[i];
        if t.cost() < old.cost() {
            self.next[i] = t;
        } else if t.cost() == old.cost() && !old.ambiguous {
            let differs = t.ambiguous || !self.same_text(&t.members, &old.members);
            self.next[i].ambiguous |= differs;
        }
    }

    /// The held bytes of packet `idx`.
    fn bytes(&self, idx: u64) -> &[u8] {
        let (a, b) = self.spans[(idx - self.first) as usize];
        &self.held[a..b]
    }

    fn same_text(&self, a: &[u64], b: &[u64]) -> bool {
        a == b
            || a.iter()
                .flat_map(|&m| self.bytes(m))
                .eq(b.iter().flat_map(|&m| self.bytes(m)))
    }

    fn text(&self, members: &[u64]) -> Vec<u8> {
        members
            .iter()
            .flat_map(|&m| self.bytes(m))
            .copied()
            .collect()
    }

    /// The family a completed thread's record belongs to.
    fn family(&self, t: &Thread) -> Option<Family> {
        self.trie.nodes[t.node as usize].terminal
    }

    /// Whether a record of `family` keeps to the shape seen so far.
    fn keeps_shape(&self, family: Option<Family>) -> bool {
        match family {
            Some(f @ Family::Gc(_)) => self.gc_shape.is_none_or(|g| g == f),
            Some(f @ Family::Scav(_)) => self.scav_shape.is_none_or(|g| g == f),
            _ => true,
        }
    }

    /// Threads completed at the last packet: the cheapest is the record,
    /// unless another as cheap reads other text. Readings that keep to the
    /// shape seen so far come first (another shape means another process,
    /// as with `go run`, and is taken only when nothing else fits).
    fn settle(&mut self, done: &[Thread], scanner: &mut Scanner, sink: &mut impl Sink) {
        let any_keeps = done.iter().any(|t| self.keeps_shape(self.family(t)));
        let fits = |t: &&Thread| !any_keeps || self.keeps_shape(self.family(t));
        let Some(best) = done.iter().filter(fits).map(Thread::cost).min() else {
            return;
        };
        let mut winners = done.iter().filter(fits).filter(|t| t.cost() == best);
        let Some(winner) = winners.next() else {
            return;
        };
        let text = self.text(&winner.members);
        let ambiguous =
            winner.ambiguous || winners.any(|t| !self.same_text(&t.members, &winner.members));
        // Every other reading overlaps this record: records never interleave.
        self.threads.clear();
        if ambiguous {
            scanner.packet_unresolved();
            return self.release_all(scanner, sink);
        }
        let members = &winner.members;
        let start = (members[0] - self.first) as usize;
        let held = std::mem::take(&mut self.held);
        let spans = std::mem::take(&mut self.spans);
        let cut = spans[start].0;
        if cut > 0 {
            scanner.packet_text(&held[..cut], sink);
        }
        let torn = members.windows(2).any(|w| w[1] != w[0] + 1);
        if !scanner.packet_record(&text, torn, sink) {
            // The grammar refused what the pieces allowed (a number too
            // large): text, never a guess.
            scanner.packet_unresolved();
            scanner.packet_text(&held[cut..], sink);
        } else {
            if members.len() > 1 {
                self.built = true;
            }
            match self.family(winner) {
                f @ Some(Family::Gc(_)) => self.gc_shape = f,
                f @ Some(Family::Scav(_)) => self.scav_shape = f,
                _ => {}
            }
            // The other writes inside the record, in order, joined where
            // they were adjacent.
            let mut run: Option<(usize, usize)> = None;
            let mut m = members.iter().peekable();
            for (i, &(a, b)) in spans.iter().enumerate().skip(start) {
                let idx = self.first + i as u64;
                if m.peek() == Some(&&idx) {
                    m.next();
                    if let Some((x, y)) = run.take() {
                        scanner.packet_text(&held[x..y], sink);
                    }
                } else {
                    run = Some(run.map_or((a, b), |(x, _)| (x, b)));
                }
            }
            if let Some((x, y)) = run {
                scanner.packet_text(&held[x..y], sink);
            }
        }
        self.held = held;
        self.held.clear();
        self.spans = spans;
        self.spans.clear();
    }

    /// Gives up the oldest candidates while too much is held, and passes on
    /// what no candidate needs.
    fn keep_bounds(&mut self, scanner: &mut Scanner, sink: &mut impl Sink) {
        while self.held.len() > MAX_HOLD || self.threads.len() > MAX_THREADS {
            let Some(oldest) = self.threads.iter().map(|t| t.start).min() else {
                break;
            };
            if self
                .threads
                .iter()
                .any(|t| t.start == oldest && t.members.len() >= 2)
            {
                scanner.packet_unresolved();
            }
            self.threads.retain(|t| t.start != oldest);
            self.release_before_oldest(scanner, sink);
        }
        self.release_before_oldest(scanner, sink);
    }

    /// Passes on the held packets before the oldest thread's start.
    fn release_before_oldest(&mut self, scanner: &mut Scanner, sink: &mut impl Sink) {
        let Some(oldest) = self.threads.iter().map(|t| t.start).min() else {
            return self.release_all(scanner, sink);
        };
        let n = (oldest - self.first) as usize;
        if n == 0 {
            return;
        }
        let cut = self.spans[n].0;
        scanner.packet_text(&self.held[..cut], sink);
        self.held.drain(..cut);
        self.spans.drain(..n);
        for s in &mut self.spans {
            s.0 -= cut;
            s.1 -= cut;
        }
        self.first = oldest;
    }

    fn release_all(&mut self, scanner: &mut Scanner, sink: &mut impl Sink) {
        if !self.held.is_empty() {
            scanner.packet_text(&self.held, sink);
        }
        self.held.clear();
        self.spans.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::trace::Stats;
    use crate::trace::event::Event;

    #[derive(Default, Debug, PartialEq)]
    struct Out {
        records: Vec<(String, bool)>,
        text: Vec<u8>,
    }

    impl Sink for Out {
        fn record(&mut self, event: Arc<Event>) {
            let raw = String::from_utf8(event.raw.to_vec()).unwrap();
            self.records.push((raw, event.repaired));
        }
        fn text(&mut self, bytes: &[u8]) {
            self.text.extend_from_slice(bytes);
        }
    }

    const GC: &str = "gc 7 @0.315s 4%: 0.016+0.24+0.045 ms clock, 0.033+0.099/0.053/0+0.091 ms cpu, 17->17->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
    const GC8: &str = "gc 8 @0.402s 4%: 0.019+0.31+0.002 ms clock, 0.038+0.12/0.061/0+0.004 ms cpu, 17->18->9 MB, 18 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)\n";
    const SCAV: &str = "scav 0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now, 99% util\n";

    /// A record as the runtime writes it: one write per number and per
    /// run of other text, the newline apart.
    fn pieces(record: &str) -> Vec<Vec<u8>> {
        let body = record.strip_suffix('\n').unwrap();
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut last = None;
        for b in body.bytes() {
            let digit = b.is_ascii_digit() || (b == b'.' && last == Some(true));
            match out.last_mut() {
                Some(p) if last == Some(digit) => p.push(b),
                _ => out.push(vec![b]),
            }
            last = Some(digit);
        }
        out.push(b"\n".to_vec());
        out
    }

    /// Feeds `packets` in chunks of `chunk` packets (all at once for 0).
    fn run_chunked(packets: &[Vec<u8>], chunk: usize) -> (Out, Stats, bool) {
        let mut p = Packets::packets_only();
        let mut scanner = Scanner::default();
        let mut out = Out::default();
        let chunk = if chunk == 0 {
            packets.len().max(1)
        } else {
            chunk
        };
        for group in packets.chunks(chunk) {
            let bytes: Vec<u8> = group.concat();
            let lens: Vec<u32> = group.iter().map(|g| g.len() as u32).collect();
            p.feed(&bytes, &lens, &mut scanner, &mut out);
            assert!(p.held() <= MAX_HOLD + 4096, "held {}", p.held());
        }
        p.finish(&mut scanner, &mut out);
        (out, scanner.stats().clone(), p.coalesced())
    }

    fn run(packets: &[Vec<u8>]) -> (Out, Stats) {
        let (out, stats, _) = run_chunked(packets, 0);
        (out, stats)
    }

    fn w(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn record(text: &str, torn: bool) -> (String, bool) {
        (text.trim_end().to_string(), torn)
    }

    #[test]
    fn packets_turned_off_mid_record_hand_what_is_held_to_the_byte_scanner() {
        // The reader turned packets off while a record was half written,
        // the program's text around its pieces: the rest arrives as bytes.
        let all = pieces(GC8);
        let (first, rest) = all.split_at(10);
        let mut packets: Vec<Vec<u8>> = pieces(GC);
        packets.extend_from_slice(&first[..4]);
        packets.push(w("served /api 200\n"));
        packets.extend_from_slice(&first[4..]);
        let mut p = Packets::packets_only();
        let mut scanner = Scanner::default();
        let mut out = Out::default();
        let lens: Vec<u32> = packets.iter().map(|g| g.len() as u32).collect();
        p.feed(&packets.concat(), &lens, &mut scanner, &mut out);
        let mut bytes = rest.concat();
        bytes.extend_from_slice(b"after\n");
        p.feed_bytes(&bytes, &mut scanner, &mut out);
        p.finish(&mut scanner, &mut out);
        assert_eq!(out.records, vec![record(GC, false), record(GC8, true)]);
        assert_eq!(out.text, b"served /api 200\nafter\n");
        assert!(!p.coalesced(), "turned off, not joined on the way");
        assert_eq!(scanner.stats().unresolved, 0);
    }

    #[test]
    fn a_record_cut_off_after_its_first_piece_is_unresolved() {
        let mut packets = pieces(GC);
        packets.push(w("bye\n"));
        packets.push(w("gc "));
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC, false)]);
        assert_eq!(out.text, b"bye\ngc ");
        assert_eq!(stats.unresolved, 1);
    }

    #[test]
    fn a_record_in_pieces_is_one_record() {
        let (out, stats) = run(&[pieces(GC), pieces(SCAV)].concat());
        assert_eq!(out.records, vec![record(GC, false), record(SCAV, false)]);
        assert_eq!(out.text, b"");
        assert_eq!(stats.unresolved, 0);
        assert_eq!(stats.lines, 2);
    }

    #[test]
    fn literals_joined_or_apart_are_the_same_record() {
        // Go 1.26+ writes `%` and `: ` apart, older versions `%: `.
        let mut apart = pieces(GC);
        let i = apart.iter().position(|p| p == b"%: ").unwrap();
        apart.splice(i..=i, [w("%"), w(": ")]);
        let (out, _) = run(&apart);
        assert_eq!(out.records, vec![record(GC, false)]);
    }

    #[test]
    fn a_torn_record_is_rebuilt_and_the_program_text_kept_in_order() {
        let mut packets = pieces(GC);
        let app = [
            "2026/12/02 11:00:00 request id=1 status=200\n",
            "piece w1-5",
            " end 5\n",
            "{\"level\":\"INFO\",\"seq\":7}\n",
        ];
        packets.insert(1, w(app[0]));
        packets.insert(5, w(app[1]));
        packets.insert(6, w(app[2]));
        packets.insert(packets.len() - 1, w(app[3]));
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC, true)]);
        assert_eq!(out.text, app.concat().as_bytes());
        assert_eq!(stats.repaired, 1);
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn text_around_a_record_keeps_its_place() {
        let mut packets = vec![w("before\n")];
        packets.extend(pieces(GC));
        packets.push(w("after\n"));
        let (out, _) = run(&packets);
        assert_eq!(out.records, vec![record(GC, false)]);
        assert_eq!(out.text, b"before\nafter\n");
    }

    #[test]
    fn a_lone_newline_written_right_after_the_p_is_still_one_newline_of_text() {
        let mut packets = pieces(GC);
        let nl = packets.len() - 1;
        packets.insert(nl, w("\n"));
        packets.push(w("next line\n"));
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC, false)]);
        assert_eq!(out.text, b"\nnext line\n");
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn a_program_write_equal_to_a_number_piece_with_other_digits_is_not_guessed() {
        // `gc `, the program's `3`, the runtime's `7`: either could be the
        // gc number at one insertion each.
        let mut packets = pieces(GC);
        packets.insert(1, w("3"));
        let all: Vec<u8> = packets.concat();
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![]);
        assert_eq!(out.text, all);
        assert_eq!(stats.unresolved, 1);
    }

    #[test]
    fn a_program_write_equal_to_the_same_number_piece_is_one_record() {
        // Both readings give the same record and the same text.
        let mut packets = pieces(GC);
        packets.insert(2, w("7"));
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC, true)]);
        assert_eq!(out.text, b"7");
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn a_record_stalled_behind_much_program_text_is_kept() {
        let mut packets = pieces(GC);
        let lines: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("while the runtime sleeps {i}\n").into_bytes())
            .collect();
        let text = lines.concat();
        assert!(text.len() < MAX_HOLD);
        packets.splice(20..20, lines);
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC, true)]);
        assert_eq!(out.text, text);
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn holding_is_bounded_and_a_record_that_never_ends_passes_through() {
        // A record cut off after its first pieces, then more text than is
        // ever held, then a whole record.
        let mut packets: Vec<Vec<u8>> = pieces(GC)[..6].to_vec();
        let mut want = packets.concat();
        for i in 0..3000 {
            packets.push(format!("line {i} of the program's own output\n").into_bytes());
            want.extend_from_slice(packets.last().unwrap());
        }
        packets.extend(pieces(GC8));
        let (out, stats) = run(&packets);
        assert_eq!(out.records, vec![record(GC8, false)]);
        assert_eq!(out.text, want);
        assert_eq!(stats.unresolved, 1);
    }

    #[test]
    fn program_text_without_records_passes_at_once() {
        let mut p = Packets::packets_only();
        let mut scanner = Scanner::default();
        let mut out = Out::default();
        let bytes = b"gc is fun\nscav";
        p.feed(bytes, &[10, 4], &mut scanner, &mut out);
        assert_eq!(out.text, bytes);
        assert_eq!(p.held(), 0);
    }

    #[test]
    fn joined_writes_switch_to_the_byte_scanner() {
        // `./app 2>&1 | tee log`: tee writes what it read, records whole.
        let packets = [
            w("hello\n"),
            [GC.as_bytes(), b"some text\n", SCAV.as_bytes()].concat(),
            [b"more gc ".as_slice(), &GC8.as_bytes()[3..]].concat(),
        ];
        let (out, stats, coalesced) = run_chunked(&packets, 1);
        assert!(coalesced);
        assert_eq!(
            out.records,
            vec![record(GC, false), record(SCAV, false), record(GC8, false)]
        );
        assert_eq!(out.text, b"hello\nsome text\nmore ");
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn after_a_record_built_from_pieces_a_whole_record_line_is_program_text() {
        let old = GC8.replacen("gc 8 ", "gc 3 ", 1);
        let mut packets = pieces(GC);
        packets.push(w(&old));
        let (out, _, coalesced) = run_chunked(&packets, 3);
        assert!(!coalesced);
        assert_eq!(out.records, vec![record(GC, false)]);
        assert_eq!(out.text, old.as_bytes());
    }

    #[test]
    fn after_records_built_from_pieces_the_next_cycle_whole_means_joined_writes() {
        // A `cat` in between that kept up at first, then joined writes.
        let mut packets = pieces(GC);
        packets.push(w(&format!("text\n{GC8}")));
        let (out, _, coalesced) = run_chunked(&packets, 3);
        assert!(coalesced);
        assert_eq!(out.records, vec![record(GC, false), record(GC8, false)]);
        assert_eq!(out.text, b"text\n");
    }

    /// The packets of `records` (each in pieces) and `app` lines, in
    /// order, the first `apart` writes one by one and the rest joined in
    /// reads of `group` writes, as by a `cat` that kept up at first.
    fn joined_after(writes: &[Vec<u8>], apart: usize, group: usize) -> Vec<Vec<u8>> {
        let (first, rest) = writes.split_at(apart);
        first
            .iter()
            .cloned()
            .chain(rest.chunks(group).map(<[Vec<u8>]>::concat))
            .collect()
    }

    #[test]
    fn a_record_cut_by_a_joined_read_is_rebuilt_from_the_bytes() {
        // Records built from pieces first; then `cat` falls behind, and a
        // read ends half way through the next record, text before it.
        let gc9 = GC8.replacen("gc 8 ", "gc 9 ", 1);
        let mut writes = pieces(GC);
        let apart = writes.len();
        writes.push(w("text\n"));
        writes.extend(pieces(GC8));
        writes.push(w("more text\n"));
        writes.extend(pieces(&gc9));
        for group in [2, 3, 5, 8] {
            let (out, stats, coalesced) = run_chunked(&joined_after(&writes, apart, group), 1);
            assert!(coalesced, "group {group}");
            assert_eq!(
                out.records,
                vec![record(GC, false), record(GC8, false), record(&gc9, false)],
                "group {group}"
            );
            assert_eq!(out.text, b"text\nmore text\n", "group {group}");
            assert_eq!(stats.unresolved, 0);
        }
    }

    #[test]
    fn the_first_record_is_the_packets_to_decide_once_its_first_write_comes_alone() {
        // Torn where the bytes alone cannot tell `8%` from `68%`: the
        // program wrote ` part2=706` and the runtime `8`, glued in a pipe.
        const REC: &str = "gc 151 @0.960s 8%: 0.14+0.41+0.73 ms clock, 0.29+0.054/0.28/0+1.4 ms cpu, 15->15->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
        let rec = pieces(REC);
        let mut packets = vec![
            w("piece w1-1 end 1\n"),
            w("piece w3-343"),
            rec[0].clone(),
            w(" end 43\n"),
            rec[1].clone(),
            rec[2].clone(),
            w("piece w0-353"),
            rec[3].clone(),
            w(" part1=353"),
            rec[4].clone(),
            w(" part2=706"),
            rec[5].clone(),
            w(" end 53\n"),
        ];
        packets.extend_from_slice(&rec[6..]);
        let app =
            "piece w1-1 end 1\npiece w3-343 end 43\npiece w0-353 part1=353 part2=706 end 53\n";
        let (out, stats, coalesced) = run_chunked(&packets, 1);
        assert!(!coalesced);
        assert_eq!(out.records, vec![record(REC, true)]);
        assert_eq!(out.text, app.as_bytes());
        assert_eq!(stats.unresolved, 0);
        // The same bytes with no write boundaries are not guessed at.
        let mut scanner = Scanner::default();
        let mut bytes_out = Out::default();
        scanner.feed(&packets.concat(), &mut bytes_out);
        scanner.finish(&mut bytes_out);
        assert_eq!(bytes_out.records, vec![]);
        assert_eq!(scanner.stats().unresolved, 1);
    }

    #[test]
    fn a_look_alike_line_the_byte_scanner_holds_does_not_keep_the_first_record_from_the_packets() {
        // The start of a live run of the realwriters program: a look-alike
        // line the byte scanner waits on, then the first record torn right
        // where `part1=0` and the runtime's `1` read `part1=01` as bytes.
        const REC: &str = "gc 1 @0.002s 55%: 7.1+1.6+0.008 ms clock, 14+0.28/0.35/0+0.017 ms cpu, 3->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P\n";
        let rec = pieces(REC);
        let app = [
            "2026/12/02 16:25:16 worker gc 0 @ node-3 finished\n",
            "{\"time\":\"2026-12-02T16:25:16.411742198Z\",\"level\":\"INFO\"}\n",
            "\r   0% [>                    ] 0/5000",
            "piece w1-0",
            " part1=0",
            " end 0\n",
        ];
        let mut packets = vec![w(app[0]), w(app[1]), rec[0].clone()];
        packets.extend([w(app[2]), w(app[3]), w(app[4]), rec[1].clone(), w(app[5])]);
        packets.extend_from_slice(&rec[2..]);
        // The byte scanner waits on the look-alike line when `gc ` comes.
        let mut bytes = Scanner::default();
        bytes.feed(&packets[..2].concat(), &mut Out::default());
        assert!(bytes.pending() > 0);
        let (out, stats, coalesced) = run_chunked(&packets, 1);
        assert!(!coalesced);
        assert_eq!(out.records, vec![record(REC, true)]);
        assert_eq!(out.text, app.concat().as_bytes());
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn a_whole_scav_record_read_with_other_writes_means_joined_writes() {
        let mut packets = pieces(GC);
        packets.push(w(&format!("text\n{SCAV}more\n")));
        let (out, _, coalesced) = run_chunked(&packets, 1);
        assert!(coalesced);
        assert_eq!(out.records, vec![record(GC, false), record(SCAV, false)]);
        assert_eq!(out.text, b"text\nmore\n");
        // Written alone, it is the program's (a copy of a record).
        let mut packets = pieces(GC);
        packets.push(w(SCAV));
        let (out, _, coalesced) = run_chunked(&packets, 1);
        assert!(!coalesced);
        assert_eq!(out.records, vec![record(GC, false)]);
        assert_eq!(out.text, SCAV.as_bytes());
    }

    #[test]
    fn a_record_begun_in_pieces_and_ended_joined_is_rebuilt() {
        // `gc ` read alone, then the rest of the record and the program's
        // next line in one read.
        let mut packets = pieces(GC);
        let rest = pieces(GC8);
        packets.push(rest[0].clone());
        packets.push([rest[1..].concat(), w("after\n")].concat());
        let (out, _, coalesced) = run_chunked(&packets, 1);
        assert!(coalesced);
        assert_eq!(out.records, vec![record(GC, false), record(GC8, false)]);
        assert_eq!(out.text, b"after\n");
        // The record's newline read with the text after it.
        let mut packets = pieces(GC);
        let rest = pieces(GC8);
        packets.extend_from_slice(&rest[..rest.len() - 1]);
        packets.push(w("\nafter\n"));
        let (out, _, coalesced) = run_chunked(&packets, 1);
        assert!(coalesced);
        assert_eq!(out.records, vec![record(GC, false), record(GC8, false)]);
        assert_eq!(out.text, b"after\n");
    }

    #[test]
    fn look_alike_program_writes_do_not_look_joined() {
        // The realwriters program's look-alikes, a log line that starts with
        // digits, and a line that starts like a record, each written inside
        // a record in progress and between records.
        let look_alikes = [
            "2026/12/02 11:26:50 gc 11 @2.371s 71%: summary of the last 11 runs\n",
            "2026/12/02 11:26:41 worker gc 3 @ node-7 finished\n",
            "2026/12/02 11:26:41 scav 9 KiB work done in 0.09 ms\n",
            "2026/12/02 11:26:41 scheduled on 3 P\n",
            "gc 49 is what we call it here\n",
            "5 @ node-7\n",
            "0.5/12 done\n",
        ];
        let mut packets = pieces(GC);
        let mut app = Vec::new();
        let rec = pieces(GC8);
        for (i, p) in rec.iter().enumerate() {
            packets.push(p.clone());
            let l = look_alikes[i % look_alikes.len()];
            packets.push(w(l));
            app.extend_from_slice(l.as_bytes());
        }
        let (out, stats, coalesced) = run_chunked(&packets, 1);
        assert!(!coalesced);
        assert_eq!(out.records, vec![record(GC, false), record(GC8, true)]);
        assert_eq!(out.text, app);
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn gc_forced_is_one_write_and_not_a_sign_of_joined_writes() {
        let packets = [vec![w("GC forced\n")], pieces(GC)].concat();
        let (out, _, coalesced) = run_chunked(&packets, 0);
        assert!(!coalesced);
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.records[0].0, "GC forced");
    }

    #[test]
    fn numbers_are_printed_without_sign_or_leading_zeros() {
        assert!(is_number(Piece::Uint, b"0"));
        assert!(is_number(Piece::Uint, b"120"));
        assert!(!is_number(Piece::Uint, b"012"));
        assert!(!is_number(Piece::Uint, b"-1"));
        assert!(!is_number(Piece::Uint, b""));
        assert!(is_number(Piece::Millis, b"0.016"));
        assert!(is_number(Piece::Millis, b"12"));
        assert!(!is_number(Piece::Millis, b"0."));
        assert!(!is_number(Piece::Millis, b".5"));
        assert!(
            !is_number(Piece::Millis, b"1"),
            "below 10 ms has a fraction"
        );
        assert!(is_number(Piece::At, b"0.016"));
        assert!(!is_number(Piece::At, b"0.16"));
        assert!(is_number(Piece::Hex, b"0x1f"));
        assert!(!is_number(Piece::Hex, b"0x"));
    }

    /// Program writes that cannot be a record's piece: log-like lines and
    /// line pieces of letters, spaces and punctuation.
    fn app_write() -> impl Strategy<Value = Vec<u8>> {
        proptest::string::string_regex("[a-f]{1,8}(( |;|=)[a-f0-9]{1,8}){0,6}(;|\n| )?")
            .unwrap()
            .prop_map(String::into_bytes)
    }

    /// Records torn by program writes at random piece boundaries: the
    /// packets, the records' text and the program's text.
    fn torn_packets() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<String>, Vec<u8>)> {
        let one = (
            0..3usize,
            proptest::collection::vec((any::<prop::sample::Index>(), app_write()), 0..4),
            proptest::collection::vec(app_write(), 0..3),
        );
        proptest::collection::vec(one, 1..8).prop_map(|recs| {
            let mut packets = Vec::new();
            let mut records = Vec::new();
            let mut app = Vec::new();
            for (which, tears, between) in recs {
                for t in between {
                    app.extend_from_slice(&t);
                    packets.push(t);
                }
                let rec = [GC, GC8, SCAV][which];
                let mut ps = pieces(rec);
                // Later tears first, so indices stay valid.
                let mut tears: Vec<(usize, Vec<u8>)> = tears
                    .into_iter()
                    .map(|(i, t)| (1 + i.index(ps.len() - 1), t))
                    .collect();
                tears.sort_by_key(|t| std::cmp::Reverse(t.0));
                let mut inserted = Vec::new();
                for (at, t) in tears {
                    inserted.push((at, t.clone()));
                    ps.insert(at, t);
                }
                inserted.reverse();
                for (_, t) in inserted {
                    app.extend_from_slice(&t);
                }
                packets.extend(ps);
                records.push(rec.trim_end().to_string());
            }
            (packets, records, app)
        })
    }

    /// Gc record `n` of one process, in the Go 1.18+ shape.
    fn gc_record(n: u64) -> String {
        format!(
            "gc {n} @{}.{:03}s 4%: 0.016+0.24+0.045 ms clock, 0.033+0.099/0.053/0+0.091 ms cpu, 17->17->{} MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P\n",
            n / 10,
            n % 10 * 100,
            n % 9
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..crate::trace::proptest_config() })]

        /// `cat` between the program and gcviz: the writes arrive one by
        /// one at first, then joined in reads of any size. Every record (gc
        /// and scav) is kept, and the program's lines are exactly its lines;
        /// except a scav record read whole and alone after the records built
        /// from pieces, which is what a program's copy of one looks like: it
        /// passes through as text and counts as unresolved.
        #[test]
        fn writes_joined_after_records_arrived_in_pieces_lose_nothing(
            lines in proptest::collection::vec(proptest::collection::vec(app_write(), 0..3), 2..8),
            apart_extra in 0..200usize,
            groups in proptest::collection::vec(1..12usize, 1..40),
        ) {
            // Each write, and the record it is a piece of (none: the program's).
            let mut writes: Vec<(Vec<u8>, Option<usize>)> = Vec::new();
            let mut records = Vec::new();
            let mut add = |writes: &mut Vec<_>, rec: &str| {
                writes.extend(pieces(rec).into_iter().map(|p| (p, Some(records.len()))));
                records.push(rec.trim_end().to_string());
            };
            add(&mut writes, &gc_record(1));
            let apart = writes.len() + apart_extra;
            for (i, ls) in lines.iter().enumerate() {
                for l in ls {
                    writes.push(([l.as_slice(), b"\n"].concat(), None));
                }
                add(&mut writes, &gc_record(i as u64 + 2));
                if i % 2 == 1 {
                    add(&mut writes, &SCAV.replacen(" 0 KiB", &format!(" {i} KiB"), 1));
                }
            }
            let apart = apart.min(writes.len());
            let mut reads: Vec<&[(Vec<u8>, Option<usize>)]> = writes[..apart].chunks(1).collect();
            let mut rest = &writes[apart..];
            for &g in groups.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (read, more) = rest.split_at(g.min(rest.len()));
                reads.push(read);
                rest = more;
            }
            let alone: Vec<usize> = reads
                .iter()
                .filter_map(|read| {
                    let r = read[0].1?;
                    let whole = read.iter().all(|w| w.1 == Some(r))
                        && writes.iter().filter(|w| w.1 == Some(r)).count() == read.len();
                    (whole && records[r].starts_with("scav ")).then_some(r)
                })
                .collect();
            let packets: Vec<Vec<u8>> = reads
                .iter()
                .map(|read| read.iter().flat_map(|w| w.0.iter().copied()).collect())
                .collect();
            let (out, stats, _) = run_chunked(&packets, 1);
            let got: Vec<String> = out.records.iter().map(|r| r.0.clone()).collect();
            // Before the switch to the byte scanner, such a scav record is
            // text; after, a record.
            let missing: Vec<usize> = (0..records.len()).filter(|&i| !got.contains(&records[i])).collect();
            prop_assert!(missing.iter().all(|i| alone.contains(i)), "lost {:?}", missing);
            let want: Vec<String> = (0..records.len())
                .filter(|i| !missing.contains(i))
                .map(|i| records[i].clone())
                .collect();
            let text: Vec<u8> = writes
                .iter()
                .filter(|w| w.1.is_none_or(|r| missing.contains(&r)))
                .flat_map(|w| w.0.iter().copied())
                .collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(out.text, text);
            prop_assert_eq!(stats.unresolved, missing.len() as u64);
        }

        #[test]
        fn torn_records_and_program_text_come_apart_exactly((packets, records, app) in torn_packets()) {
            let (out, stats) = run(&packets);
            let got: Vec<String> = out.records.iter().map(|r| r.0.clone()).collect();
            prop_assert_eq!(got, records);
            prop_assert_eq!(out.text, app);
            prop_assert_eq!(stats.unresolved, 0);
        }

        #[test]
        fn decisions_do_not_depend_on_how_packets_are_grouped_into_reads(
            (packets, _, _) in torn_packets(),
            extra in proptest::collection::vec(
                prop_oneof![Just(w("\n")), Just(w("7")), Just(w(" P")), Just(w("gc ")), Just(w("3")), app_write()],
                0..6),
            at in proptest::collection::vec(any::<prop::sample::Index>(), 6),
            chunk in 1..9usize,
        ) {
            // Tricky writes too: ones that equal a piece.
            let mut packets = packets;
            for (e, i) in extra.into_iter().zip(at) {
                let i = i.index(packets.len() + 1);
                packets.insert(i, e);
            }
            let whole = run_chunked(&packets, 0);
            let split = run_chunked(&packets, chunk);
            prop_assert_eq!(&whole.0, &split.0);
            prop_assert_eq!(&whole.1, &split.1);
            let all: Vec<u8> = packets.concat();
            let kept: usize = whole.0.text.len() + whole.0.records.iter().map(|r| r.0.len() + 1).sum::<usize>();
            prop_assert_eq!(kept, all.len(), "every byte is text or a record");
        }
    }
}
