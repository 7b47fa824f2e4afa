//! The trace grammar: clean record text to typed records, where records can
//! start in a line, and (in `scanner`) the streaming state machine that finds
//! records in raw stderr bytes, repairs torn ones and hands everything else
//! back as pass-through text.

pub mod analysis;
pub mod clock;
pub mod event;
mod gc;
mod num;
mod packets;
mod pieces;
mod progress;
mod repair;
mod scan;
mod scav;
mod shapes;
mod timeline;

pub use packets::{MAX_HOLD, Packets};
pub use scan::{Limits, Scanner, Sink, Stats};

use memchr::memmem;
use nom::Parser;
use nom::combinator::all_consuming;

use crate::trace::event::Record;

/// Parses one whole record (no newline, no other text). `None` when the text
/// is not exactly one runtime record.
pub fn parse_record(text: &[u8]) -> Option<Record> {
    let first = *text.first()?;
    let rec = match first {
        // The hot path: called directly, since through `all_consuming` each
        // record would be copied once more.
        b'g' if text.starts_with(b"gc ") => match gc::gc(text) {
            Ok(([], g)) => Record::Gc(g),
            _ => return None,
        },
        b'g' => all_consuming(gc::legacy_gc).parse(text).ok()?.1.into(),
        b's' if text.starts_with(b"scav ") => all_consuming(scav::scav).parse(text).ok()?.1.into(),
        b's' | b'f' | b'G' => {
            if text.ends_with(b"(MB)") {
                all_consuming(scav::scvg).parse(text).ok()?.1.into()
            } else if text.ends_with(b"released") {
                all_consuming(scav::scvg_released)
                    .parse(text)
                    .ok()?
                    .1
                    .into()
            } else {
                all_consuming(scav::gc_forced).parse(text).ok()?.1.into()
            }
        }
        _ => return None,
    };
    Some(rec)
}

/// A Go 1.5+ gc record at the start of `text` that fills its line, and the
/// length of that line with its newline. The grammar stops at the newline,
/// so the hottest path needs no separate search for the line's end.
#[inline]
pub(crate) fn gc_line(text: &[u8], line_len: &mut usize) -> Option<Record> {
    if !text.starts_with(b"gc ") {
        return None;
    }
    let (rest, g) = gc::gc(text).ok()?;
    let eol = match rest {
        [b'\n', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        _ => return None,
    };
    *line_len = text.len() - rest.len() + eol;
    Some(Record::Gc(g))
}

macro_rules! into_record {
    ($($t:ident),*) => {$(
        impl From<crate::trace::event::$t> for Record {
            fn from(v: crate::trace::event::$t) -> Self {
                Record::$t(v)
            }
        }
    )*};
}
into_record!(Gc, Scav, Scvg, ScvgReleased, GcForced);

impl From<crate::trace::event::LegacyGc> for Record {
    fn from(v: crate::trace::event::LegacyGc) -> Self {
        Record::LegacyGc(Box::new(v))
    }
}

/// Finds the places in a line where a runtime record could start.
pub struct Anchors {
    gc: memmem::Finder<'static>,
    sc: memmem::Finder<'static>,
    forced: memmem::Finder<'static>,
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors {
            gc: memmem::Finder::new("gc"),
            sc: memmem::Finder::new("sc"),
            forced: memmem::Finder::new("GC forced"),
        }
    }
}

impl Anchors {
    /// Start offsets of possible records in `text`, ascending: `gc ` or
    /// `gc` and a digit, `scav `, `scvg`, `forced scvg`, `GC forced`.
    pub fn find(&self, text: &[u8], out: &mut Vec<usize>) {
        out.clear();
        // A line at a time (text that opens windows), one pass over the
        // bytes that can start an anchor costs least; over long runs of
        // text, where those bytes are common and anchors rare, the searches
        // for the anchors' byte pairs do.
        if text.len() <= 256 {
            for p in memchr::memchr3_iter(b'g', b's', b'G', text) {
                Self::check(text, p, out);
            }
            return;
        }
        for p in self.gc.find_iter(text) {
            Self::check(text, p, out);
        }
        for p in self.sc.find_iter(text) {
            Self::check(text, p, out);
        }
        for p in self.forced.find_iter(text) {
            out.push(p);
        }
        if out.len() > 1 {
            out.sort_unstable();
        }
    }

    /// Pushes the anchor starting with the `g`, `s` or `G` at `p`, if any.
    /// `forced scvg` is found from its `scvg`; no anchor starts inside its
    /// `forced `, so one pass pushes the offsets in order.
    #[inline]
    fn check(text: &[u8], p: usize, out: &mut Vec<usize>) {
        let rest = &text[p..];
        match rest[0] {
            b'g' => {
                if rest.get(1) == Some(&b'c')
                    && rest
                        .get(2)
                        .is_some_and(|&b| b == b' ' || b.is_ascii_digit())
                {
                    out.push(p);
                }
            }
            b's' => {
                if rest.starts_with(b"scav ") {
                    out.push(p);
                } else if rest.starts_with(b"scvg") {
                    if p >= 7 && &text[p - 7..p] == b"forced " {
                        out.push(p - 7);
                    }
                    out.push(p);
                }
            }
            _ => {
                if rest.starts_with(b"GC forced") {
                    out.push(p);
                }
            }
        }
    }

    /// Where a partial line must be held from, waiting for the rest: the
    /// first place a record could start in it, or an unfinished anchor at its
    /// end. Besides the anchors, any `gc`: a Go 1.0-1.4 record torn right
    /// after its `gc` (`gc`, other text, `4(1): ...`) has no anchor, yet once
    /// its line is whole a later anchor can open a window that rebuilds it
    /// from there, so releasing it early would make the outcome depend on
    /// how the input was chunked. `found` receives the anchors.
    pub fn hold_from(&self, text: &[u8], found: &mut Vec<usize>) -> Option<usize> {
        self.find(text, found);
        found
            .first()
            .copied()
            .into_iter()
            .chain(self.gc.find(text))
            .min()
            .or_else(|| Self::is_prefix_at_end(text))
    }

    /// Could `tail` (the end of a partial line) be the start of a record whose
    /// anchor is not complete yet, e.g. `g`, `sca`, `GC fo`?
    pub fn is_prefix_at_end(text: &[u8]) -> Option<usize> {
        const HEADS: [&[u8]; 5] = [b"gc ", b"scav ", b"scvg", b"forced scvg", b"GC forced"];
        (1..=11.min(text.len())).rev().find_map(|n| {
            let tail = &text[text.len() - n..];
            HEADS
                .iter()
                .any(|h| h.len() > n && h.starts_with(tail))
                .then_some(text.len() - n)
        })
    }
}

/// Lines other GODEBUG settings print to the same stderr (`pacer:`, `SCHED`,
/// inittrace `init`): recognised so they are counted and never mistaken for
/// gc records; they stay in the pass-through because the user asked for them.
pub fn is_other_runtime_line(line: &[u8]) -> bool {
    line.starts_with(b"pacer: ")
        || (line.starts_with(b"SCHED ") && memmem::find(line, b"gomaxprocs=").is_some())
        || (line.starts_with(b"init ")
            && line.ends_with(b" allocs")
            && memmem::find(line, b" ms clock, ").is_some())
}

/// Property tests keep the cases they once failed on beside their source
/// file (`packets.regressions`), not in a folder at the top of the tree.
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..proptest::test_runner::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_by_shape() {
        let cases: [(&str, &str); 6] = [
            (
                "gc 1 @0.000s 6%: 0.19+0.14+0.005 ms clock, 0.39+0.009/0.13/0.085+0.011 ms cpu, 4->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P",
                "gc",
            ),
            (
                "gc3(1): 0+0+0 ms 0 -> 0 MB 61 -> 57 (62-5) objects 0 handoff",
                "gc",
            ),
            (
                "scav 0 KiB work (bg), 0 KiB work (eager), 4576 KiB now, 99% util",
                "scav",
            ),
            (
                "scvg0: inuse: 1, idle: 0, sys: 1, released: 0, consumed: 1 (MB)",
                "scvg",
            ),
            ("forced scvg: 3 MB released", "scvg_released"),
            ("GC forced", "gc_forced"),
        ];
        for (text, kind) in cases {
            assert_eq!(
                parse_record(text.as_bytes()).map(|r| r.kind()),
                Some(kind),
                "{text}"
            );
        }
        for text in ["gc is fun", "gc 1 @0.000s", "scav", "", "GC forced now"] {
            assert!(parse_record(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn anchors_and_partial_heads() {
        let a = Anchors::default();
        let mut v = Vec::new();
        a.find(
            b"x gc 1 forced scvg: y scav 1 GC forced gc2(1) gcfoo",
            &mut v,
        );
        assert_eq!(v, vec![2, 7, 14, 22, 29, 39]);
        assert_eq!(Anchors::is_prefix_at_end(b"hello g"), Some(6));
        assert_eq!(Anchors::is_prefix_at_end(b"hello GC for"), Some(6));
        assert_eq!(Anchors::is_prefix_at_end(b"hello"), None);
    }

    /// Anchors as four substring searches, merged.
    fn anchors_by_search(text: &[u8]) -> Vec<usize> {
        let mut out: Vec<usize> = memmem::find_iter(text, b"gc")
            .filter(|&p| {
                text.get(p + 2)
                    .is_some_and(|&b| b == b' ' || b.is_ascii_digit())
            })
            .collect();
        out.extend(memmem::find_iter(text, b"scav "));
        for p in memmem::find_iter(text, b"scvg") {
            if p >= 7 && &text[p - 7..p] == b"forced " {
                out.push(p - 7);
            }
            out.push(p);
        }
        out.extend(memmem::find_iter(text, b"GC forced"));
        out.sort_unstable();
        out.dedup();
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn one_pass_finds_what_the_substring_searches_find(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "gc", "gc ", "gc1", "c ", "g", "scav ", "scav", "scvg", "scv", "forced ",
                "forced scvg", "GC forced", "GC", " forced", "s", "x", "\n", "2026/12/02 ",
                "status=200 served /api/v1/items in 3.2ms ",
            ]), 0..60)
        ) {
            let text = parts.concat();
            let mut got = Vec::new();
            Anchors::default().find(text.as_bytes(), &mut got);
            proptest::prop_assert_eq!(got, anchors_by_search(text.as_bytes()));
        }
    }

    #[test]
    fn other_runtime_lines() {
        assert!(is_other_runtime_line(
            b"pacer: assist ratio=+1.299014e+000 (scan 0 MB in 3->4 MB) workers=0++2.500000e-001"
        ));
        assert!(is_other_runtime_line(
            b"SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=4"
        ));
        assert!(is_other_runtime_line(
            b"init runtime @0.025 ms, 0.037 ms clock, 0 bytes, 0 allocs"
        ));
        assert!(!is_other_runtime_line(b"init complete"));
    }
}
