//! `gcviz demo`: a real trace bundled in the binary (a Go 1.27 service with a
//! leak, a release, a sawtooth cache and forced GCs), replayed at its
//! recorded pace so a newcomer sees the live page without Go installed.

use std::io::Write;
use std::time::{Duration, Instant};

/// The bundled trace (fixtures/demo/service.log, recorded with regen.sh).
pub const TRACE: &[u8] = include_bytes!("../fixtures/demo/service.log");

/// When a line should appear: a gc line's `@T s`, seconds since start.
fn line_time(line: &[u8]) -> Option<f64> {
    let at = memchr::memmem::find(line, b" @")?;
    let rest = &line[at + 2..];
    let end = rest.iter().position(|&b| b == b's')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Writes the trace into `out` at its recorded pace (`speed` times faster),
/// on the caller's thread; stops early if `out` is closed.
pub fn replay(mut out: impl Write, speed: f64) {
    let start = Instant::now();
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    for line in TRACE.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"gc ")
            && let Some(t) = line_time(line)
        {
            let due = Duration::from_secs_f64(t / speed);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if out.write_all(line).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_trace_is_a_real_multi_minute_trace() {
        let last = TRACE
            .split(|&b| b == b'\n')
            .rev()
            .filter(|l| l.starts_with(b"gc "))
            .find_map(line_time)
            .unwrap();
        assert!(last > 60.0, "the demo should run for minutes, not {last} s");
    }
}
