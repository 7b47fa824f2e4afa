//! Rebuilds a record torn apart by other writers. The runtime writes a record
//! piece by piece, so other text can sit between any two pieces: find the
//! shape's pieces in order in a window of lines, other text allowed between
//! them, and keep the alignment with the fewest insertions, then the fewest
//! inserted bytes. A dynamic programme over the places each piece can match
//! keeps this linear in those places.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use memchr::memmem;

use super::num::digits_to_u64;
use super::pieces::{Family, Piece, shapes};
use super::shapes::{Num, fits, timestamps};

/// What the aligner found: which shape, and where each of its pieces is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    pub shape: usize,
    pub spans: Vec<Range<usize>>,
    /// Places where other text was inserted between two pieces.
    pub gaps: u32,
    /// How implausible the reading is (insertions, glued or mid-line
    /// starts, swallowed record words): lower is better.
    pub score: u32,
    /// Another reading that gives different record text is nearly as
    /// plausible: the bytes do not tell which the runtime printed.
    pub doubt: bool,
}

impl Alignment {
    /// Other text sits between the last piece and the newline.
    pub fn has_suffix_gap(&self) -> bool {
        match self.spans.as_slice() {
            [.., a, b] => a.end != b.start,
            _ => false,
        }
    }

    /// The record's own bytes, pieces joined.
    pub fn text(&self, window: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.spans.iter().map(|s| s.len()).sum());
        for s in &self.spans {
            out.extend_from_slice(&window[s.clone()]);
        }
        out
    }
}

/// What the caller knows that narrows the search.
pub struct Constraints<'a> {
    /// Is this gc number possible here (consecutive within a process, or 1),
    /// and if so, how many insertions' worth of doubt does it carry (a new
    /// process's first cycle where the next one was due)?
    pub gc_cost: &'a dyn Fn(u64) -> Option<u32>,
    /// Is this GOMAXPROCS possible here (the one of the last cycle)?
    pub accept_procs: &'a dyn Fn(u64) -> bool,
    /// Is this `@` time possible here (not before the last cycle's), and how
    /// much doubt does it carry (far later than the cycles so far came)?
    pub at_cost: &'a dyn Fn(f64) -> Option<u32>,
    /// The doubt a cumulative GC CPU percent carries (far from the last).
    pub pct_cost: &'a dyn Fn(u64) -> u32,
    /// Is this GC CPU percent, at this place in the window, possible?
    pub accept_pct: &'a dyn Fn(u64, Range<usize>) -> bool,
    /// Is this shape possible here (one process prints one shape)?
    pub accept_shape: &'a dyn Fn(Family) -> bool,
    /// The record must end exactly here.
    pub end_at: Option<usize>,
    /// More insertions than this are not believed.
    pub max_gaps: u32,
    /// The byte just before the window (already passed on), if any: the
    /// window may start in the middle of a line.
    pub before: Option<u8>,
}

/// (insertions, inserted bytes): lower is better.
type Cost = (u32, u64);
const INF: Cost = (u32::MAX, u64::MAX);

/// Where pieces can match in one window, computed once per window.
struct Places<'w> {
    window: &'w [u8],
    /// Maximal runs of digits, timestamps taking no part.
    runs: Vec<Range<usize>>,
    /// Timestamps other writers start their text with: no piece is there.
    blocked: Vec<Range<usize>>,
    literals: HashMap<&'static str, Vec<Range<usize>>>,
}

/// Longest number a piece can be (`u64::MAX` has 20 digits; `@` seconds of
/// a wrapped clock 15 digits and 3 decimals).
const MAX_DIGITS: usize = 20;

impl<'w> Places<'w> {
    fn new(window: &'w [u8]) -> Self {
        let blocked = timestamps(window);
        let mut runs = Vec::new();
        let mut i = 0;
        let mut next_block = 0;
        while i < window.len() {
            if let Some(b) = blocked.get(next_block)
                && i >= b.start
            {
                i = b.end.max(i);
                next_block += 1;
                continue;
            }
            if window[i].is_ascii_digit() {
                let start = i;
                let stop = blocked.get(next_block).map_or(window.len(), |b| b.start);
                while i < stop && window[i].is_ascii_digit() {
                    i += 1;
                }
                runs.push(start..i);
            } else {
                i += 1;
            }
        }
        Places {
            window,
            runs,
            blocked,
            literals: HashMap::new(),
        }
    }

    fn signed(&self, r: &Range<usize>) -> bool {
        r.start > 0 && self.window[r.start - 1] == b'-'
    }

    /// Does `r` start inside the fraction of a decimal (`0.021` read as
    /// `0.02` then `1`)?
    fn in_fraction(&self, r: &Range<usize>) -> bool {
        let w = self.window;
        let mut from = r.start;
        while from > 0 && w[from - 1].is_ascii_digit() {
            from -= 1;
        }
        from > 0 && w[from - 1] == b'.'
    }

    fn is_blocked(&self, r: &Range<usize>) -> bool {
        let i = self.blocked.partition_point(|b| b.end <= r.start);
        self.blocked.get(i).is_some_and(|b| b.start < r.end)
    }

    fn literal(&mut self, lit: &'static str) -> &[Range<usize>] {
        let window = self.window;
        if !self.literals.contains_key(lit) {
            let mut found: Vec<Range<usize>> = memmem::find_iter(window, lit.as_bytes())
                .map(|p| p..p + lit.len())
                .collect();
            // A line ending converted to CRLF downstream still ends the record.
            if let Some(stem) = lit.strip_suffix('\n') {
                let crlf = format!("{stem}\r\n");
                found.extend(memmem::find_iter(window, crlf.as_bytes()).map(|p| p..p + crlf.len()));
                found.sort_by_key(|r| r.start);
            }
            found.retain(|r| !self.is_blocked(r));
            self.literals.insert(lit, found);
        }
        &self.literals[lit]
    }

    /// Every place a number of `shape` can be: any part of a run of digits
    /// (other text may end or start with digits right beside a piece), or
    /// two runs joined by a dot, that has the shape.
    fn numbers(&self, shape: Num) -> Vec<Range<usize>> {
        let w = self.window;
        let mut out = Vec::new();
        for (k, run) in self.runs.iter().enumerate() {
            // Integers inside this run.
            if shape != Num::Secs {
                for s in run.clone() {
                    for e in s + 1..=run.end.min(s + MAX_DIGITS) {
                        if fits(shape, &w[s..e]) {
                            out.push(s..e);
                        }
                    }
                }
            }
            // Decimals: the end of this run, a dot, the start of the next.
            let Some(next) = self.runs.get(k + 1) else {
                continue;
            };
            if shape == Num::Uint || next.start != run.end + 1 || w[run.end] != b'.' {
                continue;
            }
            for s in run.end.saturating_sub(MAX_DIGITS).max(run.start)..run.end {
                for e in next.start + 1..=next.end.min(next.start + 3) {
                    if fits(shape, &w[s..e]) {
                        out.push(s..e);
                    }
                }
            }
        }
        out.sort_by_key(|r| (r.start, r.end));
        out
    }

    fn candidates(&mut self, piece: Piece, c: &Constraints) -> Vec<Range<usize>> {
        let window = self.window;
        let value = |r: &Range<usize>| digits_to_u64(&window[r.clone()]);
        match piece {
            Piece::Lit(lit) => self.literal(lit).to_vec(),
            Piece::Uint => self.numbers(Num::Uint),
            Piece::CpuPct => {
                let mut n = self.numbers(Num::Uint);
                n.retain(|r| value(r).is_some_and(|v| (c.accept_pct)(v, r.clone())));
                n
            }
            // Durations and times are never signed: `@-1.5s` is not `@`
            // then other text `-` then `1.5`.
            Piece::Millis => {
                let mut n = self.numbers(Num::Millis);
                n.retain(|r| !self.signed(r));
                n
            }
            Piece::At => {
                let mut at = self.numbers(Num::Secs);
                at.retain(|r| {
                    !self.signed(r)
                        && std::str::from_utf8(&window[r.clone()])
                            .ok()
                            .and_then(|t| t.parse::<f64>().ok())
                            .is_some_and(|v| (c.at_cost)(v).is_some())
                });
                at
            }
            // The runtime writes these right after their text piece: never
            // the tail of a decimal (`0.021` read as `0.02` then `1`).
            Piece::GcNumber => {
                let mut n = self.numbers(Num::Uint);
                n.retain(|r| {
                    !self.in_fraction(r) && value(r).and_then(|v| (c.gc_cost)(v)).is_some()
                });
                n
            }
            Piece::Procs => {
                let mut n = self.numbers(Num::Uint);
                n.retain(|r| !self.in_fraction(r) && value(r).is_some_and(|v| (c.accept_procs)(v)));
                n
            }
            Piece::Hex => memmem::find_iter(window, b"0x")
                .filter_map(|p| {
                    let n = window[p + 2..]
                        .iter()
                        .take_while(|b| b.is_ascii_hexdigit())
                        .count();
                    (n > 0).then_some(p..p + 2 + n)
                })
                .collect(),
        }
    }
}

/// The pieces' places when piece 0 is at `cands[0][j]`: walk forward, taking
/// the touching place when it keeps the cost, else the earliest that does.
fn walk(
    places: &Places,
    pieces: &[Piece],
    cands: &[Vec<Range<usize>>],
    own: &Own,
    best: &[Vec<Cost>],
    j: usize,
) -> Option<Vec<Range<usize>>> {
    let k = cands.len();
    let mut spans = Vec::with_capacity(k);
    let mut here = j;
    let mut remaining = best[0][j];
    spans.push(cands[0][here].clone());
    for i in 0..k - 1 {
        remaining.0 -= own.cost(i, here);
        let e = cands[i][here].end;
        let next = &cands[i + 1];
        let nb = &best[i + 1];
        let j0 = next.partition_point(|n| n.start < e);
        let touching = (j0..next.len())
            .take_while(|&jj| next[jj].start == e)
            .find(|&jj| nb[jj] == remaining);
        here = if let Some(jj) = touching {
            jj
        } else {
            let j1 = next.partition_point(|n| n.start <= e);
            let extra = places.after_cost(pieces[i], pieces[i + 1], e);
            let found = (j1..next.len()).find(|&jj| {
                let (g, key) = places.gap_key(nb[jj], &next[jj]);
                g != u32::MAX && (g + GAP + extra, key - e as u64) == remaining
            })?;
            remaining = nb[found];
            found
        };
        spans.push(next[here].clone());
    }
    Some(spans)
}

/// The doubt each piece's place carries by itself (an `@` time or a GC CPU
/// percent far from the last cycle's); none for most pieces.
struct Own(Vec<Vec<u32>>);

impl Own {
    fn new(window: &[u8], pieces: &[Piece], cands: &[Vec<Range<usize>>], c: &Constraints) -> Self {
        Own(pieces
            .iter()
            .zip(cands)
            .map(|(&piece, places)| match piece {
                Piece::GcNumber => places
                    .iter()
                    .map(|r| {
                        digits_to_u64(&window[r.clone()])
                            .and_then(c.gc_cost)
                            .unwrap_or(0)
                    })
                    .collect(),
                Piece::CpuPct => places
                    .iter()
                    .map(|r| digits_to_u64(&window[r.clone()]).map_or(0, c.pct_cost))
                    .collect(),
                Piece::At => places
                    .iter()
                    .map(|r| {
                        std::str::from_utf8(&window[r.clone()])
                            .ok()
                            .and_then(|t| t.parse::<f64>().ok())
                            .and_then(c.at_cost)
                            .unwrap_or(0)
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .collect())
    }

    fn cost(&self, piece: usize, place: usize) -> u32 {
        self.0[piece].get(place).copied().unwrap_or(0)
    }
}

/// Record starts (`gc `, `scav `...) other than this record's own, in the
/// text up to its end, that are glued to the text before them.
fn stray_starts(window: &[u8], before: Option<u8>, spans: &[Range<usize>]) -> usize {
    let end = spans.last().map_or(0, |s| s.end);
    let mut found = Vec::new();
    super::Anchors::default().find(&window[..end], &mut found);
    found
        .iter()
        .filter(|&&p| {
            let prev = if p > 0 { Some(window[p - 1]) } else { before };
            p != spans[0].start && prev.is_some_and(|b| !b.is_ascii_whitespace())
        })
        .count()
}

/// What one insertion of other writes between two pieces costs. A boundary
/// that splits a word of other text costs half of it (see `glued`), so one
/// odd boundary never outweighs an insertion.
const GAP: u32 = 2;

/// Could `l` and `r` be two bytes of one word (`P1-538`, `seq=182`,
/// `1001/5000`, `42026`)? Other writes start and end at word boundaries far
/// more often than inside a word.
fn glued(l: u8, r: u8) -> bool {
    let word =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'=' | b'#' | b'/');
    word(l) && word(r) && (l.is_ascii_alphanumeric() || r.is_ascii_alphanumeric())
}

impl Places<'_> {
    /// Does a timestamp (the start of another writer's line) begin at `at`?
    fn timestamp_at(&self, at: usize) -> bool {
        let i = self.blocked.partition_point(|b| b.start < at);
        self.blocked.get(i).is_some_and(|b| b.start == at)
    }

    /// The cost of other text starting right after `piece`, which ends at
    /// `end`, beyond the insertion itself:
    /// - it glues onto the piece (`1001` then `/5000`, `4` then `0.5s`);
    /// - a number is followed by a dot: `4` then `0.5s`, not `40` then `.5s`;
    /// - digits sit right where the gc number or GOMAXPROCS goes but are not
    ///   this record's: the runtime writes that number straight after the
    ///   piece before it, so `gc 1 @0.5s` that does not fit is the program's
    ///   own line, not the runtime's `gc ` followed by other text that
    ///   happens to read `1 @0.5s`; the same, by half, for any number.
    ///
    /// A timestamp starts another writer's line: nothing odd about it.
    fn after_cost(&self, piece: Piece, next: Piece, end: usize) -> u32 {
        let w = self.window;
        let (Some(&r), Some(&l)) = (w.get(end), end.checked_sub(1).and_then(|p| w.get(p))) else {
            return 0;
        };
        if self.timestamp_at(end) {
            return 0;
        }
        let number = !matches!(piece, Piece::Lit(_));
        // Another write that starts as if it went on with the number before
        // it (`1001` then `/5000`, `4` then `0.5s`) is rarer than one that
        // ends inside a word (a progress bar's `1001/5000` followed by the
        // runtime's next number): a full insertion's worth.
        let mut cost = match r {
            b'0'..=b'9' | b'/' | b':' | b'-' if number => GAP,
            b'.' if number => GAP + 1,
            _ if !number && glued(l, r) => 1,
            _ => 0,
        };
        // The runtime writes a number straight after the text before it:
        // digits right there that are not the record's are a coincidence.
        if r.is_ascii_digit()
            && (matches!(next, Piece::GcNumber | Piece::Procs)
                || (!number && next != Piece::Hex && !matches!(next, Piece::Lit(_))))
        {
            cost += 1;
        }
        cost
    }

    /// The cost of other text ending right before a piece at `start`,
    /// beyond the insertion itself:
    /// - its last byte glues onto the piece (`P1-538` read as `P1-` then the
    ///   number `538`, or `seq=182`);
    /// - it ends with a dot, slash or colon right before a number piece;
    /// - it does not end a line: most programs write whole lines, so a piece
    ///   after a partial line means the other writer wrote one (a progress
    ///   bar, a line in pieces) or that the reading splits one line in two.
    fn before_cost(&self, place: &Range<usize>) -> u32 {
        let w = self.window;
        let start = place.start;
        let r = w.get(start).copied().unwrap_or(b' ');
        match start.checked_sub(1).map(|p| w[p]) {
            None | Some(b'\n') => 0,
            // A write ending in `0.` or `12/` with the runtime's digits
            // after it: a number's tail read as a number.
            Some(b'.' | b'/' | b':') if r.is_ascii_digit() => 1 + GAP,
            Some(l) if l.is_ascii_digit() && r.is_ascii_digit() => 1 + self.split_cost(place),
            Some(l) => 1 + u32::from(glued(l, r)),
        }
    }

    /// A number piece that starts right after other digits: a glued word
    /// (a progress bar's `1001/5000` followed by the runtime's `5.2`), or,
    /// when the digits before are a fraction's (`0.039` read as `0.0` then
    /// `39`), the runtime's own number cut in two: a full insertion's worth.
    fn split_cost(&self, place: &Range<usize>) -> u32 {
        if self.in_fraction(place) { GAP } else { 1 }
    }

    /// The cost of reaching `piece` at `place` after other text, keyed so that
    /// the gap from any earlier end `e` costs `(g + GAP + after, key - e)`.
    fn gap_key(&self, rest: Cost, place: &Range<usize>) -> Cost {
        if rest == INF {
            return INF;
        }
        (
            rest.0 + self.before_cost(place),
            rest.1 + place.start as u64,
        )
    }
}

/// Record words in a reading's gaps beyond which it swallows a record.
const SWALLOWS_A_RECORD: u32 = 3;

/// Distinctive pieces of record shapes (any text piece of six bytes or more)
/// inside the gaps between the spans, counted once per gap. Records never
/// interleave, so another record's words in a gap are either the program's
/// look-alike text or a reading that swallowed a real record.
fn swallowed(window: &[u8], spans: &[Range<usize>]) -> u32 {
    static WORDS: OnceLock<Vec<memmem::Finder<'static>>> = OnceLock::new();
    let words = WORDS.get_or_init(|| {
        let mut lits: Vec<&'static str> = shapes()
            .iter()
            .flat_map(|s| s.pieces.iter())
            .filter_map(|p| match p {
                Piece::Lit(l) if l.trim().len() >= 6 => Some(*l),
                _ => None,
            })
            .collect();
        lits.sort_unstable();
        lits.dedup();
        lits.into_iter()
            .map(|l| memmem::Finder::new(l.as_bytes()))
            .collect()
    });
    spans
        .windows(2)
        .filter(|w| w[0].end < w[1].start)
        .map(|w| {
            let gap = &window[w[0].end..w[1].start];
            words.iter().filter(|f| f.find(gap).is_some()).count() as u32
        })
        .sum()
}

/// The best alignment of any record shape in `window`, if one exists.
/// The `@` times a gc record could have in `window` (each place that reads
/// as one and that `c` accepts), once each.
pub fn at_values(window: &[u8], c: &Constraints) -> Vec<f64> {
    let mut places = Places::new(window);
    let mut out: Vec<f64> = places
        .candidates(Piece::At, c)
        .iter()
        .filter_map(|r| std::str::from_utf8(&window[r.clone()]).ok()?.parse().ok())
        .collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

pub fn align(window: &[u8], c: &Constraints) -> Option<Alignment> {
    let mut places = Places::new(window);
    let mut best: Option<(Cost, usize, Alignment)> = None;
    let mut runner_up = u32::MAX;
    for (index, shape) in shapes().iter().enumerate() {
        if !(c.accept_shape)(shape.family) {
            continue;
        }
        let Some((cost, alignment)) = align_shape(&mut places, &shape.pieces, index, c) else {
            continue;
        };
        let start = alignment.spans[0].start;
        let swallowed = swallowed(window, &alignment.spans);
        // Records never interleave: other text holding most of a record's
        // words (` ms clock, `, ` ms cpu, `, ` MB goal, `) between this
        // record's pieces is a real record this reading would swallow.
        if swallowed >= SWALLOWS_A_RECORD {
            continue;
        }
        // A reading whose insertions swallow a record's own words (` MB
        // stacks, ` read as other text by the shorter pre-1.18 shape) is
        // worth two more insertions per word.
        let cost = (cost.0 + 2 * GAP * swallowed, cost.1);
        let alignment = Alignment {
            score: cost.0,
            doubt: alignment.doubt,
            ..alignment
        };
        // Fewer insertions, then the later start, then fewer inserted bytes,
        // then table order.
        let better = match &best {
            None => true,
            Some((bc, bstart, _)) => {
                (cost.0, std::cmp::Reverse(start), cost.1)
                    < (bc.0, std::cmp::Reverse(*bstart), bc.1)
            }
        };
        let text = alignment.text(window);
        if better {
            if let Some((bc, _, prev)) = &best
                && prev.text(window) != text
            {
                runner_up = runner_up.min(bc.0);
            }
            best = Some((cost, start, alignment));
        } else if best
            .as_ref()
            .is_some_and(|(_, _, b)| b.text(window) != text)
        {
            runner_up = runner_up.min(cost.0);
        }
    }
    // Another shape reads other record text nearly as well.
    if let Some((bc, _, b)) = best.as_mut()
        && runner_up <= bc.0
    {
        b.doubt = true;
    }
    best.map(|(_, _, a)| a)
}

fn align_shape(
    places: &mut Places,
    pieces: &[Piece],
    shape: usize,
    c: &Constraints,
) -> Option<(Cost, Alignment)> {
    let mut cands: Vec<Vec<Range<usize>>> = Vec::with_capacity(pieces.len());
    for &p in pieces {
        let list = places.candidates(p, c);
        if list.is_empty() {
            return None;
        }
        cands.push(list);
    }
    if let (Some(end), Some(last)) = (c.end_at, cands.last_mut()) {
        last.retain(|r| r.end == end);
        if last.is_empty() {
            return None;
        }
    }
    // best[i][j]: cost of pieces i.. with piece i at cands[i][j].
    let own = Own::new(places.window, pieces, &cands, c);
    let with_own = |i: usize, j: usize, cost: Cost| match cost {
        INF => INF,
        (g, bytes) => (g + own.cost(i, j), bytes),
    };
    let k = pieces.len();
    let mut best: Vec<Vec<Cost>> = vec![Vec::new(); k];
    best[k - 1] = (0..cands[k - 1].len())
        .map(|j| with_own(k - 1, j, (0, 0)))
        .collect();
    for i in (0..k - 1).rev() {
        let next = &cands[i + 1];
        let nb = &best[i + 1];
        // Suffix minimum of (insertions, inserted bytes + start): the gap cost
        // from an end `e` is then (g + 1, key - e), ordered the same way.
        let mut suffix = vec![INF; next.len() + 1];
        for j in (0..next.len()).rev() {
            let key = places.gap_key(nb[j], &next[j]);
            suffix[j] = key.min(suffix[j + 1]);
        }
        let row = cands[i]
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let e = r.end;
                let j0 = next.partition_point(|n| n.start < e);
                // Several places can start at `e` (a number or the front of a
                // longer run of digits): the best of them.
                let touching = (j0..next.len())
                    .take_while(|&jj| next[jj].start == e)
                    .map(|jj| nb[jj])
                    .min()
                    .unwrap_or(INF);
                let j1 = next.partition_point(|n| n.start <= e);
                let extra = places.after_cost(pieces[i], pieces[i + 1], e);
                let gap = match suffix[j1] {
                    INF => INF,
                    (g, key) if g < c.max_gaps * 2 * GAP => (g + GAP + extra, key - e as u64),
                    _ => INF,
                };
                with_own(i, j, touching.min(gap))
            })
            .collect();
        best[i] = row;
    }
    // Other text before the record on its own line is one more insertion
    // (the program wrote part of a line first): so a record start at the
    // beginning of a line beats a `gc ` inside the program's words later on
    // it.
    let window = places.window;
    let mut ranked: Vec<(Cost, usize)> = best[0]
        .iter()
        .enumerate()
        .filter(|(_, cost)| **cost != INF)
        .map(|(j, cost)| {
            let start = cands[0][j].start;
            let prev = if start > 0 {
                Some(window[start - 1])
            } else {
                c.before
            };
            let mid_line = prev.is_some_and(|b| b != b'\n');
            ((cost.0 + u32::from(mid_line), cost.1), j)
        })
        .collect();
    let fewest = ranked.iter().map(|(c, _)| c.0).min()?;
    ranked.retain(|(c, _)| c.0 == fewest);
    // Among as cheap readings: fewest record starts left glued to other text
    // (`part1;gc ` is the runtime's, `the gc ran` the program's words), then
    // the later start, then fewest inserted bytes.
    let (cost, spans) = ranked
        .into_iter()
        .filter_map(|(cost, j)| {
            walk(places, pieces, &cands, &own, &best, j).map(|spans| (cost, spans))
        })
        .min_by_key(|(cost, spans)| {
            (
                stray_starts(window, c.before, spans),
                std::cmp::Reverse(spans[0].start),
                cost.1,
            )
        })?;
    let gaps = spans.windows(2).filter(|w| w[0].end != w[1].start).count() as u32;
    let rival = rival_score(places, pieces, &cands, &own, &best, &spans, c.before);
    Some((
        cost,
        Alignment {
            shape,
            spans,
            gaps,
            score: cost.0,
            doubt: rival <= cost.0,
        },
    ))
}

/// The score of the most plausible reading of this shape that puts some
/// number piece on other text than `chosen` does, so gives a record that
/// differs in a value. Forward scores (pieces up to `i` with piece `i` at a
/// place) plus the backward ones (`best`) give the best reading through each
/// place.
fn rival_score(
    places: &Places,
    pieces: &[Piece],
    cands: &[Vec<Range<usize>>],
    own: &Own,
    best: &[Vec<Cost>],
    chosen: &[Range<usize>],
    before: Option<u8>,
) -> u32 {
    let w = places.window;
    let add = |a: u32, b: u32| a.saturating_add(b);
    let start_cost = |r: &Range<usize>| {
        let prev = if r.start > 0 {
            Some(w[r.start - 1])
        } else {
            before
        };
        u32::from(prev.is_some_and(|b| b != b'\n'))
    };
    let mut fwd: Vec<u32> = cands[0]
        .iter()
        .enumerate()
        .map(|(j, r)| add(start_cost(r), own.cost(0, j)))
        .collect();
    let mut rival = u32::MAX;
    for i in 0..pieces.len() {
        if i > 0 {
            let (prev, here) = (&cands[i - 1], &cands[i]);
            // Previous places by end, with the best way to leave each one
            // through other text.
            let mut order: Vec<usize> = (0..prev.len()).collect();
            order.sort_by_key(|&j| prev[j].end);
            let mut leave = Vec::with_capacity(order.len());
            let mut low = u32::MAX;
            for &j in &order {
                let cost = add(
                    fwd[j],
                    places.after_cost(pieces[i - 1], pieces[i], prev[j].end),
                );
                low = low.min(cost);
                leave.push(low);
            }
            fwd = here
                .iter()
                .enumerate()
                .map(|(jj, r)| {
                    let lo = order.partition_point(|&j| prev[j].end < r.start);
                    let hi = order.partition_point(|&j| prev[j].end <= r.start);
                    let touching = order[lo..hi]
                        .iter()
                        .map(|&j| fwd[j])
                        .min()
                        .unwrap_or(u32::MAX);
                    let through = match lo {
                        0 => u32::MAX,
                        n => add(leave[n - 1], GAP + places.before_cost(r)),
                    };
                    add(touching.min(through), own.cost(i, jj))
                })
                .collect();
        }
        if matches!(pieces[i], Piece::Lit(_)) {
            continue;
        }
        let text = &w[chosen[i].clone()];
        for (j, r) in cands[i].iter().enumerate() {
            if &w[r.clone()] != text && best[i][j] != INF {
                let through = add(fwd[j], best[i][j].0 - own.cost(i, j));
                rival = rival.min(through);
            }
        }
    }
    rival
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::GcFormat;

    fn any(_: u64) -> bool {
        true
    }

    fn rebuild(window: &str) -> (String, String, u32) {
        let c = Constraints {
            gc_cost: &|_| Some(0),
            accept_procs: &any,
            at_cost: &|_| Some(0),
            pct_cost: &|_| 0,
            accept_pct: &|_, _| true,
            accept_shape: &|_| true,
            end_at: None,
            max_gaps: 8,
            before: None,
        };
        rebuild_with(window, &c)
    }

    /// The record's text, the other text around it and the insertions.
    fn rebuild_with(window: &str, c: &Constraints) -> (String, String, u32) {
        let a = align(window.as_bytes(), c).expect("aligns");
        let text = String::from_utf8(a.text(window.as_bytes())).unwrap();
        let mut foreign = String::new();
        let mut at = 0;
        for s in &a.spans {
            foreign.push_str(&window[at..s.start]);
            at = s.end;
        }
        foreign.push_str(&window[at..]);
        (text, foreign, a.gaps)
    }

    const LINE: &str = "gc 54 @0.108s 5%: 0.010+0.13+0.011 ms clock, 0.021+0.050/0.10/0.020+0.022 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";

    #[test]
    fn clean_line_needs_no_insertion() {
        assert_eq!(rebuild(LINE), (LINE.to_string(), String::new(), 0));
    }

    #[test]
    fn split_after_gc_and_over_three_lines() {
        let torn = "PARTIAL P1-943 part1;gc APPLINE w0 seq=941 the quick brown fox\n54 @APPLINE w1 seq=942 jumps\n0.108s 5%: 0.010+0.13+0.011 ms clock, 0.021+0.050/0.10/0.020+0.022 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
        let (text, foreign, gaps) = rebuild(torn);
        assert_eq!(text, LINE);
        assert_eq!(
            foreign,
            "PARTIAL P1-943 part1;APPLINE w0 seq=941 the quick brown fox\nAPPLINE w1 seq=942 jumps\n"
        );
        assert_eq!(gaps, 2);
    }

    #[test]
    fn partial_write_with_digits_inside() {
        let torn = "gc PARTIAL P1-872 part1;54 @0.108s 5%: 0.010+NONLi 0.13+0.011 ms clock, 0.021+0.050/0.10/0.020+0.022 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
        let (text, foreign, _) = rebuild(torn);
        assert_eq!(text, LINE);
        assert_eq!(foreign, "PARTIAL P1-872 part1;NONLi ");
    }

    #[test]
    fn crlf_and_forced() {
        let (text, foreign, gaps) = rebuild(
            "scav 0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now, 99% util (forced)\r\n",
        );
        assert!(text.ends_with("(forced)\r\n"), "{text}");
        assert_eq!((foreign.as_str(), gaps), ("", 0));
    }

    #[test]
    fn gc_number_constraint_rules_out_lookalikes() {
        let c = Constraints {
            gc_cost: &|n| (n == 7).then_some(0),
            accept_procs: &any,
            at_cost: &|_| Some(0),
            pct_cost: &|_| 0,
            accept_pct: &|_, _| true,
            accept_shape: &|_| true,
            end_at: None,
            max_gaps: 8,
            before: None,
        };
        let w = LINE.replace("gc 54", "gc 5");
        assert!(align(w.as_bytes(), &c).is_none());
    }

    #[test]
    fn shape_and_procs_of_the_process_rule_out_shorter_readings() {
        // gc 421 torn four times (Go 1.27.3): without knowing the shape, the
        // pre-1.18 reading `16 MB goal, 0 P` needs fewer insertions.
        let w = " part2;gc 421 @0.531s 11%: 0.036+0.15+0.022 ms clock, 0.072+0.12/0.031/0+0.045 ms cpu, 14->14->8 MB, APPLINE w1 seq=441 the gc ran 0 times\n16 MB goal, 0PARTIAL P1-426 part1; MB stacks, 0 part2; MB globals, 2 part3 END P1-426\n P\n";
        let c = Constraints {
            gc_cost: &|n| (n == 421).then_some(0),
            accept_procs: &|p| p == 2,
            at_cost: &|_| Some(0),
            pct_cost: &|_| 0,
            accept_pct: &|_, _| true,
            accept_shape: &|f| f == Family::Gc(GcFormat::Go1_18),
            end_at: None,
            max_gaps: 8,
            before: None,
        };
        let a = align(w.as_bytes(), &c).expect("aligns");
        let text = String::from_utf8(a.text(w.as_bytes())).unwrap();
        assert_eq!(
            text,
            "gc 421 @0.531s 11%: 0.036+0.15+0.022 ms clock, 0.072+0.12/0.031/0+0.045 ms cpu, 14->14->8 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
        );
        assert_eq!(a.gaps, 4);
    }

    #[test]
    fn other_text_starting_with_digits_right_after_a_number() {
        // Captured from a Go 1.27 program writing `gc 1 @` and then
        // `0.5s half a record\n` while a GC record was being printed: the
        // runtime's `4` and the program's `0.5s` read `40.5s`.
        let w = "gc 1 @gc 10 @0.008s 9%: 0.013+0.18+0.003 ms clock, 0.026+0.050/0.032/0+0.007 ms cpu, 40.5s half a record\n->6->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";
        let (text, foreign, gaps) = rebuild(w);
        assert_eq!(
            text,
            "gc 10 @0.008s 9%: 0.013+0.18+0.003 ms clock, 0.026+0.050/0.032/0+0.007 ms cpu, 4->6->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
        );
        assert_eq!(foreign, "gc 1 @0.5s half a record\n");
        assert_eq!(gaps, 1);
    }

    #[test]
    fn a_record_started_after_a_partial_line_beats_an_earlier_lookalike() {
        // As in a CI run of wrap-edge garbage (Go 1.27): the program wrote
        // `gc 1 @0.5s half a record\n`, then `scav `; the runtime's `gc `
        // came next, then the program's `\n`, then the rest of the record.
        // gcviz read the program's `gc ` as the runtime's and passed
        // `1 @0.5s half a record\nscav gc \n` on. A gc number of 1 is always
        // possible (a new process), as in the scanner.
        let w = "gc 1 @0.5s half a record\nscav gc \n7 @0.019s 2%: 0.013+0.18+0.003 ms clock, 0.026+0.050/0.032/0+0.007 ms cpu, 4->6->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\ngc 99999999999999999999999 @1.0s 0%: nonsense\n";
        let c = Constraints {
            gc_cost: &|n| match n {
                7 => Some(0),
                1 => Some(1),
                _ => None,
            },
            accept_procs: &|p| p == 2,
            at_cost: &|_| Some(0),
            pct_cost: &|_| 0,
            accept_pct: &|_, _| true,
            accept_shape: &|f| f == Family::Gc(GcFormat::Go1_18),
            end_at: None,
            max_gaps: 8,
            before: None,
        };
        let (_, foreign, _) = rebuild_with(w, &c);
        assert_eq!(
            foreign,
            "gc 1 @0.5s half a record\nscav \ngc 99999999999999999999999 @1.0s 0%: nonsense\n"
        );
    }
}
