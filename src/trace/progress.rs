//! Is a record possible yet? Before the aligner (`repair`) is asked to
//! rebuild a record from a window of lines, every text piece of some record
//! shape must be there, in order. This module answers that as lines arrive,
//! for every spec, searching only bytes not searched before.
//!
//! In: a window (bytes with their stream offset) that only ever grows at its
//! end or loses bytes at its start. Out: whether some spec is complete.
//! Never: search a byte twice for the same piece from the same place (bar a
//! piece's length at the end), allocate per byte, or touch I/O.

use std::sync::OnceLock;

use memchr::memmem;

use super::pieces::required_texts;

/// Every spec's required text pieces as ids into one list of the distinct
/// pieces, each with its searcher.
struct Tables {
    finders: Vec<memmem::Finder<'static>>,
    /// Per piece: the other pieces it contains (`scvg` in `scvg: inuse: `,
    /// `(` in ` KiB work (bg), `). Where one of them is not found, neither
    /// is the piece, and it need not be searched.
    contains: Vec<Vec<u32>>,
    /// Per spec: its pieces, in order, as ids.
    specs: Vec<Vec<u32>>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut pieces: Vec<&'static str> = Vec::new();
        let specs = required_texts()
            .iter()
            .map(|texts| {
                texts
                    .iter()
                    .map(|t| match pieces.iter().position(|p| p == t) {
                        Some(i) => i as u32,
                        None => {
                            pieces.push(t);
                            (pieces.len() - 1) as u32
                        }
                    })
                    .collect()
            })
            .collect();
        let contains = pieces
            .iter()
            .map(|big| {
                (0..pieces.len() as u32)
                    .filter(|&i| {
                        let small = pieces[i as usize];
                        small.len() < big.len() && big.contains(small)
                    })
                    .collect()
            })
            .collect();
        let finders = pieces
            .iter()
            .map(|p| memmem::Finder::new(p.as_bytes()))
            .collect();
        Tables {
            finders,
            contains,
            specs,
        }
    })
}

/// How far each record spec's text pieces have been found, in order, from
/// some place in the stream. Found from an earlier place, the pieces are
/// found no later than from a later one: so one search serves every window
/// that starts after it, until it completes.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Per spec: the next piece to find, and the stream offset to search
    /// from.
    at: Vec<(usize, u64)>,
    /// Per piece, the last search: (call, from, where found). Specs share
    /// pieces (`scvg`, `+`): one search serves all that wait for the same
    /// piece from the same place in the same call.
    memo: Vec<(u64, u64, Option<u64>)>,
    /// Calls so far.
    call: u64,
    /// The stream offset searched to. Every spec not complete has searched
    /// to there.
    searched_to: Option<u64>,
    /// Where the first spec to have all its pieces has its last one.
    complete_at: Option<u64>,
}

impl Progress {
    /// Searches `text`, which starts at stream offset `base` and ends at
    /// the end of a line, further. Returns the stream offset at which some
    /// spec first has all its text pieces in order, if it does by the end of
    /// `text`: a window from where this search started holds a record's
    /// pieces exactly when it ends there or later. Each spec takes the
    /// leftmost occurrence of its next piece at or after its place, then
    /// looks for the following piece from that one's end, so each completes
    /// as early as it can.
    ///
    /// `text` only ever grows by whole lines at its end or loses bytes at
    /// its start. No piece holds a newline but at its end, so none straddles
    /// the end of `text`: a piece not found is searched for next time from
    /// there, and every spec waiting then waits from the same place.
    pub fn advance(&mut self, text: &[u8], base: u64) -> Option<u64> {
        debug_assert!(text.last().is_none_or(|&b| b == b'\n'));
        let t = tables();
        if self.at.is_empty() {
            self.at = vec![(0, base); t.specs.len()];
            self.memo = vec![(0, 0, None); t.finders.len()];
        }
        let end = base + text.len() as u64;
        if self.searched_to.is_some_and(|s| s >= end) {
            return self.complete_at;
        }
        self.call += 1;
        let mut memo = Memo {
            call: self.call,
            slots: &mut self.memo,
        };
        for (ids, (next, from)) in t.specs.iter().zip(self.at.iter_mut()) {
            while let Some(&id) = ids.get(*next) {
                let at = (*from).clamp(base, end);
                match memo.find(t, id, text, base, at) {
                    Some(p) => {
                        *from = p + t.finders[id as usize].needle().len() as u64;
                        *next += 1;
                        if *next == ids.len() {
                            self.complete_at =
                                Some(self.complete_at.map_or(*from, |c| c.min(*from)));
                        }
                    }
                    None => {
                        *from = end;
                        break;
                    }
                }
            }
        }
        self.searched_to = Some(end);
        self.complete_at
    }

    /// The stream offset searched to.
    pub fn searched_to(&self) -> Option<u64> {
        self.searched_to
    }

    /// Where the first spec to have all its pieces has its last one.
    pub fn complete_at(&self) -> Option<u64> {
        self.complete_at
    }
}

/// This call's searches.
struct Memo<'a> {
    call: u64,
    slots: &'a mut [(u64, u64, Option<u64>)],
}

impl Memo<'_> {
    fn get(&self, id: u32, at: u64) -> Option<Option<u64>> {
        let (call, from, found) = self.slots[id as usize];
        (call == self.call && from == at).then_some(found)
    }

    /// Where piece `id` first occurs at or after stream offset `at` in
    /// `window` (which starts at `base`).
    fn find(&mut self, t: &Tables, id: u32, window: &[u8], base: u64, at: u64) -> Option<u64> {
        if let Some(found) = self.get(id, at) {
            return found;
        }
        // A piece it contains, already looked for from here and not found.
        let ruled_out = t.contains[id as usize]
            .iter()
            .any(|&small| self.get(small, at) == Some(None));
        let found = if ruled_out {
            None
        } else {
            t.finders[id as usize]
                .find(&window[(at - base) as usize..])
                .map(|p| at + p as u64)
        };
        self.slots[id as usize] = (self.call, at, found);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memchr::memmem;
    use proptest::prelude::*;

    /// The plain reading of the rule: per spec, find each piece with a
    /// substring search from the end of the one before, over the window
    /// seen whole.
    fn complete_from_scratch(window: &[u8]) -> bool {
        required_texts().iter().any(|texts| {
            let mut at = 0;
            texts
                .iter()
                .all(|t| match memmem::find(&window[at..], t.as_bytes()) {
                    Some(p) => {
                        at += p + t.len();
                        true
                    }
                    None => false,
                })
        })
    }

    const LINE: &[u8] = b"gc 7 @0.512s 3%: 0.011+1.2+0.003 ms clock, 0.045+0.3/1.1/2.0+0.012 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P\n";

    #[test]
    fn a_record_torn_over_lines_completes_only_with_its_last_piece() {
        let lines: [&[u8]; 3] = [
            b"gc 7 @0.512s 3%: 0.011+1.2+0.003 ms clock, 2026/12/02 10:00:00 served /api 200\n",
            b"0.045+0.3/1.1/2.0+0.012 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4progress 40%\n",
            b" P\n",
        ];
        let mut p = Progress::default();
        let mut window = Vec::new();
        let mut done = Vec::new();
        for line in lines {
            window.extend_from_slice(line);
            done.push(p.advance(&window, 0));
        }
        let end = window.len() as u64;
        assert_eq!(done, [None, None, Some(end)]);
    }

    #[test]
    fn text_that_only_mentions_record_words_never_completes() {
        let text = b"worker gc 3 @ node-7 finished\ngc 5 @2.123s 12%: summary\n\
                     cache at 7 MB goal reached, 1->4->4 entries\nscheduled on 8 P\n";
        let mut p = Progress::default();
        assert_eq!(p.advance(text, 0), None);
        assert!(!complete_from_scratch(text));
    }

    /// Lines of record pieces and other text, and how a window moves over
    /// them: lines it grows by, lines it loses at its start.
    fn moving_window() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<usize>, Vec<usize>)> {
        let atoms = prop::sample::select(vec![
            &b"gc "[..],
            b" @",
            b"s ",
            b"%",
            b": ",
            b"+",
            b" ms clock, ",
            b"/",
            b" ms cpu, ",
            b"->",
            b" MB, ",
            b" MB goal, ",
            b" P",
            b"scav ",
            b" KiB work (bg), ",
            b" KiB work (eager), ",
            b" KiB now, ",
            b"% util",
            b"scvg",
            b"scvg: ",
            b"forced ",
            b"inuse: ",
            b", idle: ",
            b"(",
            b"): ",
            b" KiB work, ",
            b"GC forced",
            b"12",
            b"0.5",
            b"2026/12/02 ",
            b"ms",
            b" M",
            b"B goal",
        ]);
        let line = prop::collection::vec(atoms, 0..12).prop_map(|v| {
            let mut l = v.concat();
            l.push(b'\n');
            l
        });
        (
            prop::collection::vec(line, 0..40),
            prop::collection::vec(1usize..6, 1..10),
            prop::collection::vec(0usize..4, 1..10),
        )
    }

    /// Per spec alone, one substring search per piece: the shared searches
    /// must keep exactly its state.
    fn reference(at: &mut Vec<(usize, u64)>, window: &[u8], base: u64) -> Option<u64> {
        let texts = required_texts();
        if at.is_empty() {
            *at = vec![(0, base); texts.len()];
        }
        let end = base + window.len() as u64;
        let mut complete: Option<u64> = None;
        for (texts, (next, from)) in texts.iter().zip(at.iter_mut()) {
            while let Some(t) = texts.get(*next) {
                let from_here = (*from).clamp(base, end);
                match memmem::find(&window[(from_here - base) as usize..], t.as_bytes()) {
                    Some(p) => {
                        *from = from_here + (p + t.len()) as u64;
                        *next += 1;
                    }
                    None => {
                        *from = end;
                        break;
                    }
                }
            }
            if *next == texts.len() {
                complete = Some(complete.map_or(*from, |c| c.min(*from)));
            }
        }
        complete
    }

    /// Byte offsets of line ends.
    fn ends(lines: &[Vec<u8>]) -> Vec<usize> {
        lines
            .iter()
            .scan(0, |at, l| {
                *at += l.len();
                Some(*at)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(crate::trace::proptest_config())]

        /// Fed a window that grows and loses its start by whole lines, in
        /// any steps, the shared searches keep the same state and answer as
        /// searching for each spec alone.
        #[test]
        fn shared_searches_agree_with_searching_each_spec((lines, grows, drops) in moving_window()) {
            let text = lines.concat();
            let ends = ends(&lines);
            let mut p = Progress::default();
            let mut r = Vec::new();
            let (mut first, mut last, mut i) = (0usize, 0usize, 0usize);
            while last < lines.len() {
                last = (last + grows[i % grows.len()]).min(lines.len());
                first = first.min(last);
                let base = if first == 0 { 0 } else { ends[first - 1] };
                let window = &text[base..ends[last - 1]];
                let got = p.advance(window, base as u64);
                let want = reference(&mut r, window, base as u64);
                prop_assert_eq!(got, want);
                prop_assert_eq!(&p.at, &r);
                first += drops[i % drops.len()];
                i += 1;
            }
        }

        /// Searched from the start, in any steps, the answer for every
        /// line end, even one before the end of the search, is that of a
        /// search of the text up to there.
        #[test]
        fn the_answer_holds_for_every_end((lines, grows, _) in moving_window()) {
            let text = lines.concat();
            let ends = ends(&lines);
            let mut p = Progress::default();
            let (mut last, mut i) = (0usize, 0usize);
            while last < lines.len() {
                last = (last + grows[i % grows.len()]).min(lines.len());
                let done = p.advance(&text[..ends[last - 1]], 0);
                for &e in &ends[..last] {
                    prop_assert_eq!(
                        done.is_some_and(|c| c <= e as u64),
                        complete_from_scratch(&text[..e]),
                        "end {}", e
                    );
                }
                i += 1;
            }
        }
    }

    #[test]
    fn a_whole_record_completes_at_once() {
        let mut p = Progress::default();
        assert_eq!(p.advance(LINE, 10_000), Some(10_000 + LINE.len() as u64));
        assert!(complete_from_scratch(LINE));
    }
}
