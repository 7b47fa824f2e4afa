//! Whatever bytes arrive: no panic, no hang, bounded memory, a clear count
//! of what was odd, and every byte that is not a record passed through.

mod common;

use common::{Collect, scan, scan_chunked};
use gcviz::trace::Scanner;

const GC: &str = "gc 1 @0.012s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n";

#[test]
fn invalid_utf8_and_nul_bytes_pass_through_around_records() {
    let mut input = b"\xff\xfe\x00binary\x00\x80\n".to_vec();
    input.extend_from_slice(b"\x00\xc3");
    input.extend_from_slice(GC.as_bytes());
    input.extend_from_slice(b"tail \xe2\x82\n");
    let (out, stats) = scan(&input);
    assert_eq!(
        stats.gc, 1,
        "the record after binary garbage on its line is found"
    );
    assert_eq!(
        out.text,
        b"\xff\xfe\x00binary\x00\x80\n\x00\xc3tail \xe2\x82\n"
    );
}

#[test]
fn a_10_mb_line_without_newline_is_passed_through_with_bounded_memory() {
    let mut scanner = Scanner::default();
    let mut out = Collect::default();
    let chunk = vec![b'x'; 64 * 1024];
    let mut max_pending = 0;
    for _ in 0..160 {
        scanner.feed(&chunk, &mut out);
        max_pending = max_pending.max(scanner.pending());
    }
    // A record may still start at the end of the line: that much is held.
    assert!(max_pending <= 70 * 1024, "held {max_pending} bytes");
    scanner.feed(GC.as_bytes(), &mut out);
    scanner.finish(&mut out);
    assert_eq!(
        out.text.len(),
        160 * 64 * 1024,
        "every byte of the long line passed through"
    );
    assert_eq!(scanner.stats().long_lines, 1);
    assert_eq!(
        out.events.len(),
        1,
        "a record at the end of a 10 MB line is still found"
    );
}

#[test]
fn a_10_mb_line_of_record_starts_never_holds_more_than_the_limit() {
    let line = "gc gc 1 @".repeat(1_200_000);
    let (out, stats) = scan_chunked(line.as_bytes(), &[4096]);
    assert_eq!(out.text, line.as_bytes());
    assert_eq!(stats.records, 0);
    assert_eq!(stats.long_lines, 1);
}

#[test]
fn crlf_line_endings_are_understood_and_kept_in_the_programs_text() {
    let input = format!("hello\r\n{}world\r\n", GC.replace('\n', "\r\n"));
    let (out, stats) = scan(input.as_bytes());
    assert_eq!(stats.gc, 1);
    assert_eq!(out.text, b"hello\r\nworld\r\n");
    assert!(!out.events[0].raw.ends_with(b"\r"));
}

#[test]
fn a_record_cut_off_by_the_end_of_input_is_counted_and_passed_through() {
    let cut = &GC[..GC.len() - 20];
    let input = format!("{GC}{cut}");
    let (out, stats) = scan(input.as_bytes());
    assert_eq!(stats.records, 1, "never guess the rest of a record");
    assert_eq!(stats.unresolved, 1);
    assert_eq!(out.text, cut.as_bytes());
}

#[test]
fn numbers_past_u64_make_a_line_text_not_a_wrapped_record() {
    let huge = GC.replace("4->5->2", "4->5->99999999999999999999999");
    let (out, stats) = scan(huge.as_bytes());
    assert_eq!(stats.records, 0);
    assert_eq!(out.text, huge.as_bytes());
    // The largest value the runtime can print (2^64 >> 20) is fine.
    let max = GC.replace("4->5->2", "4->5->17592186044415");
    assert_eq!(scan(max.as_bytes()).1.records, 1);
}

#[test]
fn a_prompt_without_newline_shows_at_once_and_a_lookalike_waits_for_evidence() {
    let mut scanner = Scanner::default();
    let mut out = Collect::default();
    scanner.feed(b"password: ", &mut out);
    assert_eq!(
        out.text, b"password: ",
        "text that cannot start a record is released at once"
    );
    scanner.feed(b"run gc now? ", &mut out);
    assert_eq!(
        out.text, b"password: run ",
        "a possible record start is held, however long nothing comes..."
    );
    scanner.feed(b"yes\n", &mut out);
    assert_eq!(out.text, b"password: run ", "...and its line too...");
    scanner.feed(GC.as_bytes(), &mut out);
    assert_eq!(
        out.text, b"password: run gc now? yes\n",
        "...until a whole record shows the runtime was not in the middle of one"
    );
    assert_eq!(out.events.len(), 1);
    scanner.feed(b"run gc later? ", &mut out);
    scanner.finish(&mut out);
    assert!(out.text.ends_with(b"run gc later? "), "the end releases it");
    assert_eq!(
        scanner.stats().unresolved,
        0,
        "`gc now` never looked like a record"
    );
}

/// Every file of the fuzz corpus (tests/fuzz/corpus/scanner: seeds and
/// anything the fuzzer found) replayed: same records and text whole or in
/// the chunk size its first byte picks.
#[test]
fn every_fuzz_corpus_file_replays_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/scanner");
    let files = common::files_ending(&dir, "");
    assert!(files.len() >= 5, "corpus missing: {}", files.len());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let Some((&k, input)) = data.split_first() else {
            continue;
        };
        let (whole, _) = scan(input);
        let (parts, _) = scan_chunked(input, &[usize::from(k % 31) + 1]);
        let raws = |c: &common::Collect| c.events.iter().map(|e| e.raw.clone()).collect::<Vec<_>>();
        assert_eq!(raws(&whole), raws(&parts), "{}", f.display());
        assert_eq!(whole.text, parts.text, "{}", f.display());
    }
}

#[test]
fn a_negative_or_non_finite_time_is_text_never_a_record() {
    // The runtime prints `@` as seconds with three decimals, never signed,
    // never NaN: such text around a record's pieces is the program's.
    for bad in ["@-1.5s", "@-1.500s", "@NaNs", "@+Infs"] {
        let torn = GC.replacen("@0.012s", bad, 1);
        let (out, stats) = scan(torn.as_bytes());
        assert_eq!(stats.records, 0, "{torn}");
        assert_eq!(out.text, torn.as_bytes());
    }
}
