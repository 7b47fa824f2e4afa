//! `gcviz demo`: a real trace bundled in the binary (a Go 1.27 service with a
//! leak, a release, a sawtooth cache and forced GCs), replayed at its
//! recorded pace so a newcomer sees the live page without Go installed.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{apply_marks, keep_serving, let_pages_see_the_end, new_hub, serve_until_interrupted};
use crate::error::{Error, Result};
use crate::input::ingest;
use crate::web::serve;

/// The bundled trace (fixtures/demo/service.log, recorded with regen.sh).
pub const TRACE: &[u8] = include_bytes!("../../fixtures/demo/service.log");

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

/// `gcviz demo`: the bundled trace at its recorded pace.
pub async fn run(args: crate::cli::DemoArgs) -> Result<u8> {
    let hub = new_hub("demo", Some("gcviz demo (bundled Go 1.27 trace)".into()));
    apply_marks(&args.serve, &hub)?;
    let url = serve::start(&args.serve, hub.clone()).await?;
    let (reader, writer) = std::io::pipe().map_err(Error::Read)?;
    let speed = args.speed;
    std::thread::spawn(move || replay(writer, speed));
    let done = ingest::spawn(reader, std::io::sink(), hub.clone(), None);
    tokio::task::spawn_blocking(move || done.join()).await.ok();
    hub.update_status(true, |s| s.state = "eof");
    if keep_serving(&args.serve) {
        serve_until_interrupted(&url, "the demo trace ended").await;
    } else {
        let_pages_see_the_end(&hub).await;
    }
    Ok(0)
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
