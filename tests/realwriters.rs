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
