//! What the runtime can print where a number goes, and what it never prints.
//! Every number in a record has an exact shape (runtime/print.go, mgc.go
//! `fmtNSAsMS`, `itoaDiv`): integers without leading zeros, `@` seconds with
//! exactly three decimals, milliseconds with two significant digits below 10.
//! A reading that breaks a shape is not the runtime's. Timestamps that other
//! writers start their lines with (`2006/01/02 15:04:05`, RFC 3339) are
//! never part of a record: their digits must not glue onto a record's number.
//! Pure, and linear in the window.

use std::ops::Range;

use crate::trace::event::Gc;

/// The number shapes of record pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Num {
    /// `0` or `[1-9][0-9]*`.
    Uint,
    /// `@` seconds: `(0|[1-9][0-9]*)\.[0-9]{3}`.
    Secs,
    /// `fmtNSAsMS`: `0`, `0.00[1-9]`, `0.0[1-9][0-9]`, `0.[1-9][0-9]`,
    /// `[1-9].[0-9]`, or an integer of at least 10.
    Millis,
}

/// Is `s` exactly one number of `shape`?
pub fn fits(shape: Num, s: &[u8]) -> bool {
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    let int = |d: &[u8]| digits(d) && (d[0] != b'0' || d.len() == 1);
    let split = s.iter().position(|&b| b == b'.');
    match (shape, split) {
        (Num::Uint, None) => int(s),
        (Num::Secs, Some(p)) => int(&s[..p]) && s.len() - p - 1 == 3 && digits(&s[p + 1..]),
        (Num::Millis, None) => s == b"0" || (int(s) && s.len() >= 2),
        (Num::Millis, Some(p)) => {
            let (i, f) = (&s[..p], &s[p + 1..]);
            if !digits(i) || !digits(f) || i.len() != 1 {
                return false;
            }
            match (i[0], f) {
                (b'0', [b'0', b'0', d]) => *d != b'0',
                (b'0', [b'0', d, _]) => *d != b'0',
                (b'0', [d, _]) => *d != b'0',
                (b'1'..=b'9', [_]) => true,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Byte ranges of timestamps in `text`: `HH:MM:SS` (with fractions), and
/// the date before it when there is one (`2006/01/02 `, `2006-01-02T`),
/// with a zone after (`Z`, `+01:00`). They may start inside a run of digits
/// (`4` then `2026/12/02 ...` reads `42026/12/02`).
pub fn timestamps(text: &[u8]) -> Vec<Range<usize>> {
    let d = |i: usize| text.get(i).is_some_and(u8::is_ascii_digit);
    let at = |i: usize, b: u8| text.get(i) == Some(&b);
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut from = 0;
    while let Some(off) = memchr::memchr(b':', &text[from..]) {
        let c = from + off;
        from = c + 1;
        // `HH:MM:SS` with this colon as the first one.
        if c < 2 || !(d(c - 2) && d(c - 1) && d(c + 1) && d(c + 2) && at(c + 3, b':')) {
            continue;
        }
        if !(d(c + 4) && d(c + 5)) {
            continue;
        }
        let mut start = c - 2;
        let mut end = c + 6;
        if at(end, b'.') || at(end, b',') {
            let mut e = end + 1;
            while d(e) {
                e += 1;
            }
            if e > end + 1 {
                end = e;
            }
        }
        // A zone: `Z`, `+01:00`, `-0700`.
        if at(end, b'Z') {
            end += 1;
        } else if (at(end, b'+') || at(end, b'-')) && d(end + 1) && d(end + 2) {
            let mut e = end + 3;
            if at(e, b':') {
                e += 1;
            }
            if d(e) && d(e + 1) {
                end = e + 2;
            }
        }
        // A date before it: `2006/01/02 ` or `2006-01-02T`.
        if start >= 11 {
            let s = start - 11;
            let sep = text[s + 4];
            let date = d(s)
                && d(s + 1)
                && d(s + 2)
                && d(s + 3)
                && (sep == b'/' || sep == b'-')
                && d(s + 5)
                && d(s + 6)
                && text[s + 7] == sep
                && d(s + 8)
                && d(s + 9)
                && matches!(text[s + 10], b' ' | b'T');
            if date {
                start = s;
            }
        }
        if let Some(last) = out.last_mut()
            && last.end >= start
        {
            last.end = last.end.max(end);
        } else {
            out.push(start..end);
        }
        from = end;
    }
    out
}

/// Could the runtime have printed these values together? Checked on rebuilt
/// records only (a whole line is the runtime's as printed). The relations
/// hold on every one of the 12,819 whole gc lines of the committed captures:
/// - the heap does not shrink while it is marked (`A->B`: B >= A);
/// - the marked heap is not far above the heap at mark termination;
/// - the stop-the-world CPU times are the clock times times the Ps that ran
///   them (1 to GOMAXPROCS), within the rounding to two significant digits;
/// - the first cycle's GC CPU percent (cumulative since the process began)
///   is at most its own CPU times over the `@` time on every P: the 54
///   whole `gc 1` lines there sit below this bound, most far below.
///
/// A reading that breaks them took a number from other text.
pub fn plausible(g: &Gc) -> bool {
    heap_and_pauses_agree(g) && first_cycle_pct_fits(g)
}

fn first_cycle_pct_fits(g: &Gc) -> bool {
    let at_ms = g.at_s * 1000.0;
    if g.gc != 1 || at_ms < 1.0 {
        return true;
    }
    // The printed times are rounded to two significant digits: 10% and a
    // hundredth of a millisecond of slack; the percent is truncated.
    let cpu_ms: f64 = g.cpu_ms.as_slice().iter().sum::<f64>() * 1.1 + 0.01;
    let bound = 100.0 * cpu_ms / (at_ms * g.procs.max(1) as f64);
    (g.cpu_pct as f64) <= bound.floor() + 1.0
}

fn heap_and_pauses_agree(g: &Gc) -> bool {
    let heap = g.heap_end_mb >= g.heap_start_mb
        && (g.heap_live_mb as f64) <= 1.5 * g.heap_end_mb as f64 + 1.0;
    let (clock, cpu) = (g.clock_ms.as_slice(), g.cpu_ms.as_slice());
    let stw = |c: f64, p: f64| {
        let slack = 0.0015;
        p >= 0.85 * c - slack && p <= 1.15 * c * g.procs.max(1) as f64 + slack
    };
    let cpu_ok = match (clock, cpu) {
        ([a, .., c], [pa, .., pc]) => stw(*a, *pa) && stw(*c, *pc),
        _ => true,
    };
    heap && cpu_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_shapes_are_fmt_ns_as_ms() {
        for ok in [
            "0", "0.001", "0.009", "0.010", "0.099", "0.10", "0.99", "1.0", "9.9", "10", "4500",
        ] {
            assert!(fits(Num::Millis, ok.as_bytes()), "{ok}");
        }
        for bad in [
            "1",
            "9",
            "0.000",
            "0.0",
            "0.1",
            "0.100",
            "01",
            "10.0",
            "2.72026",
            "0.0322026",
            "1.00",
            "05.2",
            "",
        ] {
            assert!(!fits(Num::Millis, bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn seconds_have_three_decimals() {
        for ok in ["0.000", "0.034", "353.123", "18445023415.341"] {
            assert!(fits(Num::Secs, ok.as_bytes()), "{ok}");
        }
        for bad in ["353", "1.5", "0.0345", "01.000", ".123", "1.23a"] {
            assert!(!fits(Num::Secs, bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn integers_have_no_leading_zeros() {
        assert!(fits(Num::Uint, b"0"));
        assert!(fits(Num::Uint, b"17592186044415"));
        assert!(!fits(Num::Uint, b"02026"));
        assert!(!fits(Num::Uint, b"1.5"));
        assert!(!fits(Num::Uint, b"-1"));
    }

    #[test]
    fn timestamps_of_common_writers() {
        let find = |t: &str| {
            timestamps(t.as_bytes())
                .into_iter()
                .map(|r| t[r].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find("3->3->42026/12/02 11:26:36 request id=1\n"),
            ["2026/12/02 11:26:36"]
        );
        assert_eq!(
            find("2026-12-02T03:00:00.123456789Z gc 1 @0.000s"),
            ["2026-12-02T03:00:00.123456789Z"]
        );
        assert_eq!(
            find("{\"time\":\"2026-12-02T11:26:41.408714795+01:00\",\"level\""),
            ["2026-12-02T11:26:41.408714795+01:00"]
        );
        assert_eq!(find("at 11:26:36.5 done"), ["11:26:36.5"]);
        // Runtime text has no `NN:NN:NN`.
        assert!(find("gc 1 @0.001s 13%: 0.44+0.26+0.030 ms clock, 10:2 P").is_empty());
    }

    #[test]
    fn the_first_cycle_spends_no_more_cpu_than_it_reports() {
        let gc = |line: &str| match crate::trace::parse_record(line.as_bytes()) {
            Some(crate::trace::event::Record::Gc(g)) => g,
            other => panic!("{other:?}"),
        };
        // Captured (Go 1.21.13, GOMAXPROCS=8).
        assert!(plausible(&gc(
            "gc 1 @0.002s 1%: 0.052+0.64+0.005 ms clock, 0.10+0.24/0/0.010+0.010 ms cpu, 3->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P"
        )));
        // 2 ms of GC CPU in 0.96 s on 2 Ps is 0.1%, not 53% (`w0-353`).
        assert!(!plausible(&gc(
            "gc 1 @0.960s 53%: 0.14+0.41+0.73 ms clock, 0.29+0.054/0.28/0+1.4 ms cpu, 15->15->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        )));
        // Later cycles are not bound by it.
        assert!(plausible(&gc(
            "gc 151 @0.960s 53%: 0.14+0.41+0.73 ms clock, 0.29+0.054/0.28/0+1.4 ms cpu, 15->15->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        )));
    }
}
