//! Properties of the scanner over generated input: it never panics, any
//! chunking gives the same records and the same text, every input byte is
//! accounted for, and a record torn at the runtime's piece boundaries by
//! other text is rebuilt with that text handed back exactly.

mod common;

use common::{Collect, scan_chunked};
use proptest::prelude::*;

/// Real records to build streams from, by Go version: one process prints
/// one shape of each record.
const VERSIONS: &[&[&str]] = &[
    // Go 1.21+
    &[
        "gc 1 @0.012s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P",
        "gc 2 @0.315s 4%: 0.016+0.24+0.045 ms clock, 0.033+0.099/0.053/0+0.091 ms cpu, 17->17->8 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)",
        "scav 0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now, 99% util (forced)",
        "scav 192 KiB work (bg), 0 KiB work (eager), 146496 KiB now, 89% util",
    ],
    // Go 1.14 (and 1.19, 1.20 scav)
    &[
        "gc 9 @0.033s 1%: 0.022+0.17+0.001 ms clock, 0.045+0/0.052/0.073+0.002 ms cpu, 57->57->50 MB, 106 MB goal, 4 P (forced)",
        "gc 11 @2.024s 0%: 0.016+0.29+0.005 ms clock, 0.032+0.16/0.044/0.10+0.011 ms cpu, 4075->4080->2565 MB, 4080 MB goal, 4 P",
        "scav 5096 KiB work, 21920 KiB total, 27% util",
    ],
];

/// Program text that cannot be mistaken for record pieces: words of letters
/// that cannot spell a record start (no `gc`, `scav`; the program printing
/// `the gc ran` is tested on real captures), spaces, `;` and newlines.
fn app_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-f]{1,8}(( |;)[a-f]{1,8}){0,6}(;|\n| )").unwrap()
}

/// Whole lines of other writers that start with digits: log.Printf's
/// `2006/01/02 15:04:05 ` timestamp (with microseconds too), and RFC 3339
/// as `docker logs -t` and `kubectl logs --timestamps` print it. (A line
/// led by a bare number right after a record's number reads as one longer
/// number as well as two: the README names that limit.)
fn digit_led_line() -> impl Strategy<Value = String> {
    let ts = "2026/12/0[1-9] 1[0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{6})? ";
    let rfc = "2026-12-0[1-9]T1[0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3,9}Z ";
    proptest::string::string_regex(&format!(
        "({ts}|{rfc})[a-f]{{1,8}}( [a-f]{{1,8}}|=[0-9]{{1,3}}){{0,4}}\n"
    ))
    .unwrap()
}

/// Splits a record into the runtime's print pieces: each number is one
/// piece, and so is each run of other characters between numbers.
fn pieces(record: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_digit = None;
    for ch in record.chars() {
        let digit = ch.is_ascii_digit() || (ch == '.' && last_digit == Some(true));
        match out.last_mut() {
            Some(p) if last_digit == Some(digit) => p.push(ch),
            _ => out.push(ch.to_string()),
        }
        last_digit = Some(digit);
    }
    out
}

/// A stream of records, each with the record number fixed up to count
/// from 1 and its time to run forward, torn at random piece boundaries by program text; returns the
/// stream and the program text alone.
fn torn_stream() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, usize)> {
    torn_stream_of(app_text().boxed())
}

fn torn_stream_of(
    app_text: BoxedStrategy<String>,
) -> impl Strategy<Value = (Vec<u8>, Vec<u8>, usize)> {
    let one = (
        any::<prop::sample::Index>(),
        proptest::collection::vec((any::<prop::sample::Index>(), app_text.clone()), 0..4),
        proptest::option::of(app_text),
    );
    (0..VERSIONS.len(), proptest::collection::vec(one, 1..12)).prop_map(|(version, recs)| {
        let records = VERSIONS[version];
        let mut stream = Vec::new();
        let mut app = Vec::new();
        let mut gc = 0;
        for (which, tears, before) in recs {
            let mut rec = records[which.index(records.len())].to_string();
            if rec.starts_with("gc ") {
                // Numbered from 1, and time runs forward, as in one process.
                gc += 1;
                let rest = rec.split_once("s ").map(|(_, r)| r.to_string()).unwrap();
                // The first cycle's GC CPU percent is its own CPU over the
                // time so far: under 1% for these times.
                let rest = match rest.split_once("%") {
                    Some((_, after)) if gc == 1 => format!("0%{after}"),
                    _ => rest,
                };
                rec = format!("gc {gc} @{}.{:03}s {rest}", gc / 100, gc % 100 * 7);
            }
            let mut ps = pieces(&rec);
            ps.push("\n".into());
            let mut inserts: Vec<(usize, String)> = tears
                .into_iter()
                .map(|(i, t)| (1 + i.index(ps.len() - 1), t))
                .collect();
            inserts.sort_by_key(|(i, _)| *i);
            // Two writes before the record's own newline, the first ending a
            // line (`a\n` then `a;`), read exactly like `a` before it and a
            // line `a;` after it: no parser can tell them apart, so the
            // generator does not make them.
            let newline = ps.len() - 1;
            let mut seen_last = false;
            inserts.retain(|(at, _)| *at != newline || !std::mem::replace(&mut seen_last, true));
            if let Some(b) = before.filter(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
                // A partial write right before the record, on its line.
                let b = b.trim_end_matches('\n').to_string() + ";";
                stream.extend_from_slice(b.as_bytes());
                app.extend_from_slice(b.as_bytes());
            }
            for (i, p) in ps.iter().enumerate() {
                for (_, t) in inserts.iter().filter(|(at, _)| *at == i) {
                    stream.extend_from_slice(t.as_bytes());
                    app.extend_from_slice(t.as_bytes());
                }
                stream.extend_from_slice(p.as_bytes());
            }
        }
        let records = stream.iter().filter(|&&b| b == b'\n').count()
            - app.iter().filter(|&&b| b == b'\n').count();
        (stream, app, records)
    })
}

/// Keeps the last failing stream as a test artifact (proptest shrinks to it).
fn keep_failure(stream: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("properties-failure.log");
    let _ = std::fs::write(&path, stream);
}

fn summary(c: &Collect) -> (Vec<String>, Vec<u8>) {
    (
        c.events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect(),
        c.text.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_never_panic_and_are_all_accounted_for(input in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let (out, _) = scan_chunked(&input, &[7, 1, 300]);
        // Records drop only their own text and newline; everything else is passed through.
        let record_bytes: usize = out.events.iter().map(|e| e.raw.len()).sum();
        prop_assert!(out.text.len() + record_bytes <= input.len());
        if out.events.is_empty() {
            prop_assert_eq!(out.text, input);
        }
    }

    #[test]
    fn torn_records_are_rebuilt_and_other_text_returned_exactly((stream, app, records) in torn_stream()) {
        let (out, stats) = scan_chunked(&stream, &[1 << 20]);
        if out.text != app {
            keep_failure(&stream);
        }
        prop_assert_eq!(&String::from_utf8_lossy(&out.text), &String::from_utf8_lossy(&app));
        prop_assert_eq!(out.events.len(), records);
        prop_assert_eq!(stats.unresolved, 0);
        let rebuilt: usize = out.events.iter().map(|e| e.raw.len() + 1).sum();
        prop_assert_eq!(rebuilt + out.text.len(), stream.len(), "every byte is a record's or the program's");
        let gcs = out.gc_numbers();
        prop_assert_eq!(gcs.clone(), (1..=gcs.len() as u64).collect::<Vec<_>>());
    }

    /// Lines led by digits (timestamps, counts) land between a record's
    /// pieces, right after its numbers: no digit glues onto a number, no
    /// record is made up, and where nothing is left in doubt the program's
    /// text comes back exactly.
    #[test]
    fn digit_led_lines_never_glue_onto_a_records_numbers((stream, app, records) in torn_stream_of(digit_led_line().boxed())) {
        let (out, stats) = scan_chunked(&stream, &[1 << 20]);
        // The generator's records, and their first cycle's (0%).
        let printed: Vec<Vec<u8>> = VERSIONS
            .iter()
            .flat_map(|v| v.iter())
            .flat_map(|r| {
                let first = r.split_once("s ").and_then(|(at, rest)| {
                    let (_, after) = rest.split_once('%')?;
                    Some(format!("{at}s 0%{after}"))
                });
                std::iter::once(r.to_string()).chain(first)
            })
            .map(String::into_bytes)
            .collect();
        for e in &out.events {
            // Every record's text is one the runtime printed: the generator's
            // records with their gc number and time fixed up.
            let raw = String::from_utf8_lossy(&e.raw).into_owned();
            let tail = raw.split_once("s ").map(|(_, t)| t.to_string()).unwrap_or(raw.clone());
            prop_assert!(printed.iter().any(|p| String::from_utf8_lossy(p).ends_with(&tail)), "made up: {}", raw);
        }
        if out.events.len() + (stats.unresolved as usize) < records {
            keep_failure(&stream);
        }
        prop_assert!(out.events.len() + stats.unresolved as usize >= records, "{} records, {} unresolved, of {}", out.events.len(), stats.unresolved, records);
        if stats.unresolved == 0 {
            if out.text != app {
                keep_failure(&stream);
            }
            prop_assert_eq!(&String::from_utf8_lossy(&out.text), &String::from_utf8_lossy(&app));
            prop_assert_eq!(out.events.len(), records);
        }
    }

    #[test]
    fn any_chunking_gives_the_same_records_and_text((stream, _, _) in torn_stream(), sizes in proptest::collection::vec(1usize..64, 1..8)) {
        let whole = scan_chunked(&stream, &[1 << 20]).0;
        let pieces = scan_chunked(&stream, &sizes).0;
        prop_assert_eq!(summary(&whole), summary(&pieces));
    }
}

#[test]
fn a_real_chatty_log_in_tiny_chunks_gives_the_same_result() {
    let log = std::fs::read(common::fixtures().join("traces/go1.22.10/chatty.log")).unwrap();
    let whole = scan_chunked(&log, &[1 << 20]).0;
    let tiny = scan_chunked(&log, &[1, 2, 3, 5, 8, 13, 21, 34, 55, 89]).0;
    assert_eq!(summary(&whole), summary(&tiny));
}
