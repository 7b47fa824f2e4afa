//! Pipe and file mode against the writers real programs use: captures of
//! `fixtures/programs/realwriters` (log.Printf with timestamps, slog JSON, a
//! `\r` progress bar, lines in pieces, record look-alikes) from three Go
//! toolchains. The program recorded each of its own writes, so the truth is
//! known: the pass-through must be exactly those writes, and the runtime's
//! records are what is left of the stream.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use common::{files_ending, fixtures, scan};
use gcviz::trace::{Packets, Scanner, Stats};
use memchr::memmem;

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The runtime's own records (text of each line), by taking the program's
/// writes out of the stream: each write is one `write(2)`, so it stands
/// whole and in order in the stream.
fn runtime_lines(log: &[u8], writes: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut runtime = Vec::new();
    let mut at = 0;
    for w in writes {
        let found = memmem::find(&log[at..], w).expect("every write stands whole in the stream");
        runtime.extend_from_slice(&log[at..at + found]);
        at += found + w.len();
    }
    runtime.extend_from_slice(&log[at..]);
    runtime
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[derive(Default, Debug)]
struct Score {
    gc_truth: usize,
    gc_exact: usize,
    records_truth: usize,
    made_up: usize,
    restarts: u64,
    unresolved: u64,
    text_exact: bool,
}

fn score(log: &[u8], side: &[u8]) -> Score {
    let writes = common::app_writes(side);
    let truth = runtime_lines(log, &writes);
    for line in &truth {
        assert!(
            gcviz::trace::parse_record(line).is_some(),
            "the stream less the program's writes holds something other than records: {:?}",
            String::from_utf8_lossy(line)
        );
    }
    let mut remaining: HashMap<&[u8], usize> = HashMap::new();
    for line in &truth {
        *remaining.entry(line.as_slice()).or_default() += 1;
    }
    let is_gc = |l: &[u8]| l.starts_with(b"gc ");
    let (out, stats) = scan(log);
    let mut s = Score {
        gc_truth: truth.iter().filter(|l| is_gc(l)).count(),
        records_truth: truth.len(),
        restarts: stats.restarts,
        unresolved: stats.unresolved,
        ..Score::default()
    };
    for e in &out.events {
        match remaining.get_mut(&*e.raw) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if is_gc(&e.raw) {
                    s.gc_exact += 1;
                }
            }
            _ => s.made_up += 1,
        }
    }
    let want: Vec<u8> = writes.concat();
    s.text_exact = out.text == want;
    s
}

/// Every capture, scored; the single-writer ones (one writer at
/// GOMAXPROCS=2: what the table lists) apart from the all-writers
/// ones (every writer at once at GOMAXPROCS=8 on two cores, so the runtime
/// is descheduled mid-record again and again).
fn scores() -> Vec<(String, Score)> {
    let logs: Vec<_> = files_ending(&fixtures().join("traces"), ".log.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("realwriters-"))
        .collect();
    assert!(
        logs.len() >= 18,
        "realwriters captures missing: {}",
        logs.len()
    );
    logs.iter()
        .map(|log| {
            let name = log.strip_prefix(fixtures()).unwrap().display().to_string();
            let side = log.to_string_lossy().replace(".log.gz", ".writes.gz");
            let s = score(&gunzip(log), &gunzip(Path::new(&side)));
            eprintln!(
                "{name}: gc {}/{} exact, {} records, made up {}, restarts {}, unresolved {}, text {}",
                s.gc_exact,
                s.gc_truth,
                s.records_truth,
                s.made_up,
                s.restarts,
                s.unresolved,
                if s.text_exact { "exact" } else { "DIFFERS" }
            );
            (name, s)
        })
        .collect()
}

#[test]
fn real_writers_never_get_a_record_the_runtime_did_not_print() {
    let all = scores();
    let mut failures = Vec::new();
    for (name, s) in &all {
        if s.made_up > 0 {
            failures.push(format!(
                "{name}: {} records the runtime never printed",
                s.made_up
            ));
        }
        if s.restarts > 0 {
            failures.push(format!("{name}: {} made-up processes", s.restarts));
        }
    }
    let (truth, exact) = all
        .iter()
        .fold((0, 0), |(t, e), (_, s)| (t + s.gc_truth, e + s.gc_exact));
    let exact_share = exact as f64 / truth as f64;
    eprintln!(
        "all captures: gc records exact {exact}/{truth} ({:.2}%)",
        100.0 * exact_share
    );
    if exact_share < 0.99 {
        failures.push(format!(
            "only {:.2}% of gc records exact",
            100.0 * exact_share
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_writers_pass_through_is_exact_in_nine_captures_of_ten() {
    let all = scores();
    let single: Vec<_> = all.iter().filter(|(n, _)| !n.contains("-all.")).collect();
    let exact = single.iter().filter(|(_, s)| s.text_exact).count();
    let stress = all
        .iter()
        .filter(|(n, s)| n.contains("-all.") && s.text_exact)
        .count();
    eprintln!(
        "pass-through exact: {exact} of {} single-writer captures, {stress} of {} all-writers captures",
        single.len(),
        all.len() - single.len()
    );
    assert!(single.len() >= 15);
    assert!(
        exact * 10 >= single.len() * 9,
        "pass-through exact in only {exact} of {} single-writer captures",
        single.len()
    );
}

/// The capture as wrapper mode reads it: one packet per write. The
/// program's writes are known; what lies between them is the runtime's,
/// written one piece per number and per run of other text (how the runtime
/// prints a record: one `write(2)` per print argument).
fn as_packets(log: &[u8], writes: &[&[u8]]) -> Vec<Vec<u8>> {
    fn runtime_pieces(text: &[u8], out: &mut Vec<Vec<u8>>) {
        let mut last: Option<bool> = None;
        for (i, &b) in text.iter().enumerate() {
            let digit = b.is_ascii_digit()
                || (b == b'.' && last == Some(true))
                || (b == b'x' && i > 0 && text[i - 1] == b'0');
            let newline = b == b'\n';
            match out.last_mut() {
                Some(p) if last == Some(digit) && !newline && p != b"\n" => p.push(b),
                _ => out.push(vec![b]),
            }
            last = Some(digit);
        }
    }
    let mut packets = Vec::new();
    let mut at = 0;
    for w in writes {
        let found = memmem::find(&log[at..], w).expect("every write stands whole in the stream");
        runtime_pieces(&log[at..at + found], &mut packets);
        packets.push(w.to_vec());
        at += found + w.len();
    }
    runtime_pieces(&log[at..], &mut packets);
    packets
}

/// Wrapper mode's reassembly over `packets`, `per_read` of them a read:
/// what it passed on, its counts, and whether it found the writes joined.
fn replay<P: AsRef<[u8]>>(packets: &[P], per_read: usize) -> (common::Collect, Stats, bool) {
    let mut p = Packets::default();
    let mut scanner = Scanner::default();
    let mut out = common::Collect::default();
    for read in packets.chunks(per_read) {
        let lens: Vec<u32> = read.iter().map(|c| c.as_ref().len() as u32).collect();
        let bytes: Vec<u8> = read
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect();
        p.feed(&bytes, &lens, &mut scanner, &mut out);
    }
    p.finish(&mut scanner, &mut out);
    (out, scanner.stats().clone(), p.coalesced())
}

/// Wrapper mode on the same captures, each write a packet: every record
/// exact, the program's text exact, nothing unresolved. The live test
/// (`tests/wrapper.rs`) runs the program; this one replays 18 runs of it
/// the same way every time.
#[test]
fn real_writers_read_as_packets_come_apart_exactly() {
    let logs: Vec<_> = files_ending(&fixtures().join("traces"), ".log.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("realwriters-"))
        .collect();
    assert!(logs.len() >= 18);
    let mut failures = Vec::new();
    for log in &logs {
        let name = log.strip_prefix(fixtures()).unwrap().display().to_string();
        let side = log.to_string_lossy().replace(".log.gz", ".writes.gz");
        let (bytes, side) = (gunzip(log), gunzip(Path::new(&side)));
        let writes = common::app_writes(&side);
        let truth = runtime_lines(&bytes, &writes);
        let (out, stats, joined) = replay(&as_packets(&bytes, &writes), 7);
        let got: Vec<Vec<u8>> = out.events.iter().map(|e| e.raw.to_vec()).collect();
        let text_exact = out.text == writes.concat();
        eprintln!(
            "{name}: {} of {} records, unresolved {}, text {}, joined {}",
            got.len(),
            truth.len(),
            stats.unresolved,
            if text_exact { "exact" } else { "DIFFERS" },
            joined
        );
        if got != truth || !text_exact || stats.unresolved > 0 || joined {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// Packets (`LEN\n` + bytes each) as gcviz's reader delivered them in live
/// wrapper runs of the realwriters program (`fixtures/packets/`), with the
/// program's own writes beside them: replayed, every record is the
/// runtime's exact text and the pass-through is exactly the program's.
#[test]
fn live_wrapper_runs_replayed_come_apart_exactly() {
    let dumps = files_ending(&fixtures().join("packets"), ".packets.gz");
    assert!(!dumps.is_empty());
    for dump in &dumps {
        let name = dump.file_name().unwrap().to_string_lossy().into_owned();
        let side = dump.to_string_lossy().replace(".packets.gz", ".writes.gz");
        let (raw, side) = (gunzip(dump), gunzip(Path::new(&side)));
        let packets = common::app_writes(&raw);
        let writes = common::app_writes(&side);
        // The runtime's writes: every packet that is not the program's next.
        let mut next = writes.iter().peekable();
        let mut runtime = Vec::new();
        for p in &packets {
            if next.peek() == Some(&p) {
                next.next();
            } else {
                runtime.extend_from_slice(p);
            }
        }
        assert!(
            next.peek().is_none(),
            "{name}: the program's writes are all packets"
        );
        let truth: Vec<&[u8]> = runtime.split_inclusive(|&b| b == b'\n').collect();
        let (out, stats, joined) = replay(&packets, 16);
        // A record cut off by the exit (no newline) passes through as text.
        let (whole, cut): (Vec<&[u8]>, Vec<&[u8]>) =
            truth.into_iter().partition(|l| l.ends_with(b"\n"));
        let want: Vec<&[u8]> = whole.iter().map(|l| &l[..l.len() - 1]).collect();
        let got: Vec<&[u8]> = out.events.iter().map(|e| &*e.raw).collect();
        assert!(want.len() > 100, "{name}");
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(w),
                "{name}"
            );
        }
        assert_eq!(stats.unresolved, cut.len() as u64, "{name}");
        assert!(!joined, "{name}");
        if cut.is_empty() {
            assert!(out.text == writes.concat(), "{name}: pass-through differs");
        }
        eprintln!("{name}: {} records exact, pass-through exact", got.len());
    }
}

/// `piece w0-353` `0.960` ` part1=353` `s ` ` part2=706` `8` ` end 53\n`
/// `%: ...`: the bytes read `8%`, `68%` or `53%` as well (Go 1.21.13 pieces
/// capture, gc 151). The last cycle printed `8%` at `@0.956s`; by `@0.960s`
/// plus a cycle of at most the 85 ms its text leaves room for, the
/// cumulative percent cannot have left 6 to 17: only `8%` is possible.
#[test]
fn a_percent_only_the_last_cycles_bound_tells_apart_is_rebuilt() {
    let log = gunzip(&fixtures().join("traces/go1.21.13/realwriters-pieces.log.gz"));
    let from = memmem::find(&log, b"gc 150 @0.956s").unwrap();
    let to = from + memmem::find(&log[from..], b"gc 152 @").unwrap();
    let to = to + memchr::memchr(b'\n', &log[to..]).unwrap() + 1;
    let (out, stats) = scan(&log[from..to]);
    let gcs: Vec<String> = out
        .events
        .iter()
        .filter(|e| e.raw.starts_with(b"gc "))
        .map(|e| String::from_utf8_lossy(&e.raw).into_owned())
        .collect();
    assert_eq!(gcs.len(), 3, "{gcs:?}");
    assert_eq!(
        gcs[1],
        "gc 151 @0.960s 8%: 0.14+0.41+0.73 ms clock, 0.29+0.054/0.28/0+1.4 ms cpu, 15->15->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P"
    );
    assert_eq!(stats.unresolved, 0);
}
