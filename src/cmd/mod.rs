//! The modes gcviz runs in, one file each: `wrap` (run a program), `pipe`
//! (read a trace from stdin), `demo` (replay the bundled trace) and `parse`
//! (records as NDJSON, no page). Each wires the stages together: input
//! (`crate::input`) into the hub (`crate::store`), served by `crate::web`.
//! This file holds what the modes share.
//!
//! In: the parsed command line. Out: an exit code. The only place that
//! starts threads, tasks and the server; nothing below it knows the modes.

pub mod demo;
pub mod parse;
pub mod pipe;
pub mod wrap;

use std::io::IsTerminal;

use crate::cli::ServeArgs;
use crate::error::{self, Error, Result};
use crate::input::{pprof, record};
use crate::store::history::HistoryLimits;
use crate::store::hub::{Env, Hub, Status};
use crate::trace::{self, clock};

pub(crate) fn read_token_file(args: &mut ServeArgs) -> Result<()> {
    let Some(path) = &args.token_file else {
        return Ok(());
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: path.clone(),
        source,
    })?;
    args.token = Some(without_newline(&text).to_string());
    Ok(())
}

fn without_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start: {e}")))
}

/// The hub every mode starts with.
pub(crate) fn new_hub(mode: &'static str, command: Option<String>) -> Hub {
    let var = |k: &str| std::env::var(k).ok();
    let status = Status {
        mode,
        command,
        state: "running",
        env: Env {
            GOGC: var("GOGC"),
            GOMEMLIMIT: var("GOMEMLIMIT"),
            GODEBUG: var("GODEBUG"),
        },
        window_s: trace::Limits::default().analysis_window_s,
        ..Status::default()
    };
    let hub = Hub::new(HistoryLimits::default(), status);
    // The trace counts from the program's start: in wrapper mode that is now.
    hub.set_clock_anchor(match mode {
        "wrap" => clock::Anchor::Start(clock::now_unix()),
        _ => clock::Anchor::Arrival,
    });
    hub
}

/// Starts reading heap profiles and goroutine counts, when there is an
/// endpoint to read: `--pprof URL`, or in wrapper mode (`listening` given)
/// the program's own ports, unless `--no-pprof`.
pub(crate) fn start_pprof(
    args: &ServeArgs,
    listening: Option<pprof::sampler::Listening>,
    start: Option<std::time::Instant>,
    hub: &Hub,
) -> Option<tokio::task::JoinHandle<()>> {
    use pprof::sampler::{Config, GROWTH, Source, spawn};
    let source = match (&args.pprof, listening) {
        _ if args.no_pprof || args.no_server => return None,
        (Some(url), _) => Source::Url(url.clone()),
        (None, Some(listening)) => Source::Discover(listening),
        (None, None) => return None,
    };
    let cfg = Config {
        source,
        every: std::time::Duration::from_secs_f64(args.pprof_every),
        growth: GROWTH,
        start,
    };
    Some(spawn(cfg, hub.clone()))
}

/// `--pprof URL` must be a URL gcviz can read: checked before anything starts.
pub(crate) fn check_pprof(args: &ServeArgs) -> Result<()> {
    match &args.pprof {
        Some(url) => pprof::http::parse_url(url)
            .map(|_| ())
            .map_err(Error::Usage),
        None => Ok(()),
    }
}

/// Serving after the input ends is for people at a terminal; scripts and
/// pipelines want gcviz to end with its input.
pub(crate) fn keep_serving(args: &ServeArgs) -> bool {
    !args.no_server
        && (args.keep_serving || (!args.exit_with_program && std::io::stderr().is_terminal()))
}

/// The `--mark` patterns; one that is not a regular expression is a usage error.
pub(crate) fn apply_marks(args: &ServeArgs, hub: &Hub) -> Result<()> {
    for p in &args.mark {
        hub.add_mark(p)
            .map_err(|e| Error::Usage(format!("--mark {p:?}: {e}")))?;
    }
    Ok(())
}

/// Opens `--record`'s file; call [`record::check`] before the page starts.
pub(crate) fn record_file(args: &ServeArgs) -> Result<Option<Box<dyn std::io::Write + Send>>> {
    args.record.as_deref().map(record::open).transpose()
}

/// How long a run may go without a single trace record before gcviz says
/// what to check.
pub(crate) const NO_TRACE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Says once, on stderr and in the page's status, what to check when no
/// trace record has arrived; nothing once one has.
pub(crate) fn hint_if_no_trace(hub: &Hub, hint: &str) {
    let mut tell = false;
    hub.update_status(true, |s| {
        if s.counts.records == 0 && s.hint.is_none() {
            s.hint = Some(hint.to_string());
            tell = true;
        }
    });
    if tell {
        error::say(hint);
    }
}

/// Gives the hint if no record has arrived [`NO_TRACE_AFTER`] from now.
pub(crate) fn hint_later_if_no_trace(hub: &Hub, hint: &'static str) {
    let hub = hub.clone();
    tokio::spawn(async move {
        tokio::time::sleep(NO_TRACE_AFTER).await;
        hint_if_no_trace(&hub, hint);
    });
}

/// Whether gcviz could not write one of its outputs (reported already).
pub(crate) fn write_failed(hub: &Hub) -> bool {
    !hub.status().errors.is_empty()
}

/// The exit code of a filter whose reader went away: what a shell reports
/// for `cat` killed by SIGPIPE.
pub(crate) const EXIT_OUTPUT_CLOSED: u8 = 128 + 13;

/// Before gcviz exits with its input or program: open pages get a moment to
/// receive the final status (exit code, end of input), so they show it
/// instead of a lost connection. No wait when no page is open.
pub(crate) async fn let_pages_see_the_end(hub: &Hub) {
    if hub.status().counts.clients > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Waits for Ctrl-C while the page shows the final picture.
pub(crate) async fn serve_until_interrupted(url: &str, what: &str) {
    SERVING_FINAL_PICTURE.store(true, std::sync::atomic::Ordering::SeqCst);
    eprintln!("gcviz: {what}; the page at {url} shows the final picture. Press Ctrl-C to exit.");
    let _ = tokio::signal::ctrl_c().await;
}

/// Set while the final picture is served: a Ctrl-C then ends gcviz
/// normally instead of as a signal would.
pub(crate) static SERVING_FINAL_PICTURE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// In pipe mode: a signal that ends gcviz first writes out the record file.
fn flush_record_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            record::flush();
            // Ctrl-C while the final picture is served is awaited elsewhere.
            if signal != SIGINT || !SERVING_FINAL_PICTURE.load(std::sync::atomic::Ordering::SeqCst)
            {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_file_loses_one_trailing_newline_only() {
        assert_eq!(super::without_newline("s3cret\n"), "s3cret");
        assert_eq!(super::without_newline("s3cret\r\n"), "s3cret");
        assert_eq!(super::without_newline("s3cret"), "s3cret");
        // More than one newline is not a token gcviz should guess at: the
        // token check rejects what is left.
        assert_eq!(super::without_newline("s3cret\n\n"), "s3cret\n");
    }
}
