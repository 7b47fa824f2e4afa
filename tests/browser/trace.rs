//! Real Go 1.27 trace lines (from fixtures/traces) with fresh gc numbers and
//! times, for tests and benchmarks that need many or timely records.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// The gc and scav lines of the sawtooth capture; gc lines without their
/// `gc N @T.TTTs ` head.
fn template() -> &'static (Vec<String>, Vec<String>) {
    static LINES: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    LINES.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/traces/go1.27.3/sawtooth.log");
        let log = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        // "gc 12 @0.101s 5%: ..." -> "5%: ..."
        let gc = log
            .lines()
            .filter(|l| l.starts_with("gc "))
            .map(|l| l.split_once("s ").unwrap().1.to_string())
            .collect();
        let scav = log
            .lines()
            .filter(|l| l.starts_with("scav "))
            .map(str::to_string)
            .collect();
        (gc, scav)
    })
}

/// A real gc line numbered `n` (from 1) at `at_s` seconds, with its newline.
pub fn gc_line(n: u64, at_s: f64) -> String {
    let gc = &template().0;
    format!("gc {n} @{at_s:.3}s {}\n", gc[(n as usize - 1) % gc.len()])
}

/// Writes a trace of `cycles` gc cycles, one every 100 ms (28 hours of a
/// busy service for a million), with a scav line after every tenth.
pub fn long_trace(path: &Path, cycles: u64) {
    let scav = &template().1;
    let file = std::fs::File::create(path).expect("creating the long trace");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for i in 0..cycles {
        out.write_all(gc_line(i + 1, i as f64 / 10.0).as_bytes())
            .unwrap();
        if i % 10 == 9 {
            writeln!(out, "{}", scav[(i / 10) as usize % scav.len()]).unwrap();
        }
    }
    out.flush().unwrap();
}
