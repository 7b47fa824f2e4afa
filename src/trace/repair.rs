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
    /// Maximal `\d+(\.\d+)?` runs: (span, has a fraction).
    numbers: Vec<(Range<usize>, bool)>,
    literals: HashMap<&'static str, Vec<Range<usize>>>,
}

impl<'w> Places<'w> {
    fn new(window: &'w [u8]) -> Self {
        let mut numbers = Vec::new();
        let mut i = 0;
        while i < window.len() {
            if window[i].is_ascii_digit() {
                let start = i;
                while i < window.len() && window[i].is_ascii_digit() {
                    i += 1;
                }
                let mut frac = false;
                if i + 1 < window.len() && window[i] == b'.' && window[i + 1].is_ascii_digit() {
                    frac = true;
                    i += 1;
                    while i < window.len() && window[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                numbers.push((start..i, frac));
            } else {
                i += 1;
            }
        }
        Places {
            window,
            numbers,
            literals: HashMap::new(),
        }
    }

    fn literal(&mut self, lit: &'static str) -> &[Range<usize>] {
        let window = self.window;
        self.literals.entry(lit).or_insert_with(|| {
            let mut found: Vec<Range<usize>> = memmem::find_iter(window, lit.as_bytes())
                .map(|p| p..p + lit.len())
                .collect();
            // A line ending converted to CRLF downstream still ends the record.
            if let Some(stem) = lit.strip_suffix('\n') {
                let crlf = format!("{stem}\r\n");
                found.extend(memmem::find_iter(window, crlf.as_bytes()).map(|p| p..p + crlf.len()));
                found.sort_by_key(|r| r.start);
            }
            found
        })
    }

    fn candidates(&mut self, piece: Piece, c: &Constraints) -> Vec<Range<usize>> {
        let window = self.window;
        match piece {
            Piece::Lit(lit) => self.literal(lit).to_vec(),
            Piece::Decimal => self.numbers.iter().map(|(r, _)| r.clone()).collect(),
            // A number, or the front of a longer run of digits: another
            // write that starts with digits can follow a number piece
            // (`4` then `0.5s half a record` reads `40.5s`).
            Piece::Uint => self
                .numbers
                .iter()
                .flat_map(|(r, _)| {
                    let digits = window[r.clone()]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    (r.start + 1..=r.start + digits).map(move |end| r.start..end)
                })
                .collect(),
            Piece::GcNumber | Piece::Procs => {
                let accept = |n: u64| {
                    if piece == Piece::GcNumber {
                        (c.gc_cost)(n).is_some()
                    } else {
                        (c.accept_procs)(n)
                    }
                };
                self.numbers
                    .iter()
                    .filter(|(r, f)| !f && digits_to_u64(&window[r.clone()]).is_some_and(accept))
                    .map(|(r, _)| r.clone())
                    .collect()
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
    window: &[u8],
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
            let extra = lookalike_after(window, pieces[i], pieces[i + 1], e);
            let found = (j1..next.len()).find(|&jj| {
                let (g, key) = gap_key(window, nb[jj], next[jj].start);
                g != u32::MAX && (g + 1 + extra, key - e as u64) == remaining
            })?;
            remaining = nb[found];
            found
        };
        spans.push(next[here].clone());
    }
    Some(spans)
}

/// The doubt each piece's place carries by itself (a gc number that starts a
/// new process), in insertions; none for most pieces.
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

/// More insertions when the other text after `piece` starts with what looks
/// like part of the record:
/// - a number piece ends inside a run of digits (the other text starts with
///   a digit or dot right after it): rare, so whole numbers are preferred;
/// - digits sit right where the gc number or GOMAXPROCS goes but are not
///   this record's: the runtime writes that number straight after the piece
///   before it, so `gc 1 @0.5s` that does not fit is the program's own line,
///   not the runtime's `gc ` followed by other text that happens to read
///   `1 @0.5s`.
fn lookalike_after(window: &[u8], piece: Piece, next: Piece, end: usize) -> u32 {
    let number = matches!(
        piece,
        Piece::Uint | Piece::GcNumber | Piece::Procs | Piece::Decimal
    );
    match window.get(end) {
        Some(b) if number && b.is_ascii_digit() => 1,
        // Another write starting with a digit (a count, a time) is far
        // likelier than one starting with a dot: `4` then `0.5s`, not `40`
        // then `.5s`.
        Some(b'.') if number => 2,
        Some(b) if matches!(next, Piece::GcNumber | Piece::Procs) && b.is_ascii_digit() => 1,
        _ => 0,
    }
}

/// The cost of reaching a piece at `start` after other text, keyed so that
/// the gap from any earlier end `e` costs `(g + 1, key - e)`. Other writes
/// end at word boundaries (a newline, `;`, a space), so a gap whose last byte
/// is glued to the piece (`P1-538` read as `P1-` then the number `538`, or
/// `seq=182`) counts
/// as one more insertion.
fn gap_key(window: &[u8], rest: Cost, start: usize) -> Cost {
    if rest == INF {
        return INF;
    }
    let glued = start > 0
        && window.get(start).is_some_and(u8::is_ascii_alphanumeric)
        && matches!(window[start - 1], b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'.' | b'_' | b'=' | b'#');
    (rest.0 + u32::from(glued), rest.1 + start as u64)
}

/// Gaps between the spans that contain a distinctive piece of some record
/// shape (any text piece of six bytes or more).
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
        .filter(|w| {
            let gap = &window[w[0].end..w[1].start];
            words.iter().any(|f| f.find(gap).is_some())
        })
        .count() as u32
}

/// The best alignment of any record shape in `window`, if one exists.
pub fn align(window: &[u8], c: &Constraints) -> Option<Alignment> {
    let mut places = Places::new(window);
    let mut best: Option<(Cost, usize, Alignment)> = None;
    for (index, shape) in shapes().iter().enumerate() {
        if !(c.accept_shape)(shape.family) {
            continue;
        }
        let Some((cost, alignment)) = align_shape(&mut places, &shape.pieces, index, c) else {
            continue;
        };
        let start = alignment.spans[0].start;
        // A reading whose insertions swallow a record's own words (` MB
        // stacks, ` read as other text by the shorter pre-1.18 shape) is
        // worth two more insertions.
        let cost = (cost.0 + 2 * swallowed(window, &alignment.spans), cost.1);
        let alignment = Alignment {
            score: cost.0,
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
        if better {
            best = Some((cost, start, alignment));
        }
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
            let key = gap_key(places.window, nb[j], next[j].start);
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
                let extra = lookalike_after(places.window, pieces[i], pieces[i + 1], e);
                let gap = match suffix[j1] {
                    INF => INF,
                    (g, key) if g < c.max_gaps => (g + 1 + extra, key - e as u64),
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
            walk(window, pieces, &cands, &own, &best, j).map(|spans| (cost, spans))
        })
        .min_by_key(|(cost, spans)| {
            (
                stray_starts(window, c.before, spans),
                std::cmp::Reverse(spans[0].start),
                cost.1,
            )
        })?;
    let gaps = spans.windows(2).filter(|w| w[0].end != w[1].start).count() as u32;
    Some((
        cost,
        Alignment {
            shape,
            spans,
            gaps,
            score: cost.0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::GcFormat;

    fn any(_: u64) -> bool {
        true
    }

    fn rebuild(window: &str) -> (String, String, u32) {
        let c = Constraints {
            gc_cost: &|_| Some(0),
            accept_procs: &any,
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
