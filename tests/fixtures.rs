//! Every committed fixture is a test: real traces from eight Go toolchains
//! and hand-made ones for older formats, against an oracle the parser did not
//! write (the independent reference parser, or by hand).

mod common;

use common::{files_ending, fixtures, scan};
use serde_json::Value;

/// `expected` (oracle) and `got` (gcviz) agree on every key the oracle names.
fn same_fields(expected: &Value, got: &Value) -> Result<(), String> {
    let want = expected
        .as_object()
        .ok_or("oracle record is not an object")?;
    for (key, w) in want {
        let g = got.get(key).ok_or_else(|| format!("missing `{key}`"))?;
        if !same_value(w, g) {
            return Err(format!("`{key}`: expected {w}, got {g}"));
        }
    }
    Ok(())
}

/// Numbers compare by value (the oracle writes `16.0` where gcviz writes `16`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        _ => a == b,
    }
}

#[test]
fn every_clean_log_matches_its_oracle() {
    let expected_files = files_ending(&fixtures(), ".expected.ndjson");
    assert!(
        expected_files.len() >= 50,
        "fixtures missing: {}",
        expected_files.len()
    );
    let mut failures = Vec::new();
    for exp in &expected_files {
        let log = exp.with_file_name(
            exp.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".expected.ndjson", ".log"),
        );
        let input = std::fs::read(&log).unwrap();
        let oracle: Vec<Value> = std::fs::read_to_string(exp)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (out, stats) = scan(&input);
        let name = log.strip_prefix(fixtures()).unwrap().display().to_string();
        if out.events.len() != oracle.len() {
            failures.push(format!(
                "{name}: {} records, oracle has {}",
                out.events.len(),
                oracle.len()
            ));
            continue;
        }
        for (i, (want, ev)) in oracle.iter().zip(&out.events).enumerate() {
            let got = serde_json::to_value(ev).unwrap();
            if let Err(e) = same_fields(want, &got) {
                failures.push(format!("{name} record {i} (line {}): {e}", ev.line));
                break;
            }
        }
        if stats.unresolved != 0 {
            failures.push(format!(
                "{name}: {} unresolved fragments in a clean log",
                stats.unresolved
            ));
        }
        // Clean logs: whatever is not a record is the program's own text, and
        // none of it is trace text.
        let text = String::from_utf8_lossy(&out.text);
        if let Some(l) = text
            .lines()
            .find(|l| l.contains(" ms cpu, ") || l.contains(" KiB work"))
        {
            failures.push(format!("{name}: trace text passed through: {l}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn chatty_logs_recover_every_cycle_and_the_programs_exact_text() {
    let logs = files_ending(&fixtures().join("traces"), "chatty.log");
    assert_eq!(logs.len(), 8, "one chatty log per toolchain");
    let mut failures = Vec::new();
    for log in &logs {
        let name = log.strip_prefix(fixtures()).unwrap().display().to_string();
        let input = std::fs::read(log).unwrap();
        let app = std::fs::read(log.with_extension("app")).unwrap();
        let (out, stats) = scan(&input);
        let gcs = out.gc_numbers();
        let want: Vec<u64> = (1..=gcs.len() as u64).collect();
        if gcs != want {
            failures.push(format!("{name}: gc numbers are not 1..{}", gcs.len()));
        }
        if stats.repaired == 0 {
            failures.push(format!(
                "{name}: nothing was torn, the fixture tests nothing"
            ));
        }
        if out.text != app {
            let at = out
                .text
                .iter()
                .zip(&app)
                .position(|(a, b)| a != b)
                .unwrap_or(out.text.len().min(app.len()));
            let show = |t: &[u8]| {
                String::from_utf8_lossy(&t[at.saturating_sub(80)..(at + 80).min(t.len())])
                    .into_owned()
            };
            failures.push(format!(
                "{name}: pass-through differs at byte {at}\n got:  {:?}\n want: {:?}",
                show(&out.text),
                show(&app)
            ));
        }
        for e in out.events.iter().filter(|e| e.repaired) {
            if gcviz::trace::parse_record(&e.raw).as_ref() != Some(&e.record) {
                failures.push(format!(
                    "{name}: repaired record's raw text does not parse back: {}",
                    String::from_utf8_lossy(&e.raw)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_torn_record_is_never_believed_to_start_a_new_process() {
    // Two processes in one stream (a shell script running two programs);
    // the second one's first record is torn by its own text. From the bytes
    // alone it is just as likely the first program's own `gc 1 @` text, so
    // it passes through, counted; the next whole record starts the process.
    let rec = |n: u64| {
        format!(
            "gc {n} @0.012s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
        )
    };
    let torn = rec(1).replacen("gc 1 @", "gc APPLINE w0 seq=1 hello\n1 @", 1);
    let input = format!("{}{}{}{}", rec(1), rec(2), torn, rec(2));
    let (out, stats) = scan(input.as_bytes());
    assert_eq!(out.gc_numbers(), vec![1, 2, 2]);
    assert_eq!(stats.restarts, 1);
    assert_eq!(stats.repaired, 0);
    assert_eq!(stats.unresolved, 1);
    assert_eq!(out.text, torn.as_bytes());
}
