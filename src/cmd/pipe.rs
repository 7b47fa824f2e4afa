//! `prog 2>&1 | gcviz`, `gcviz < app.log`: the trace from stdin, the
//! program's text to stdout.

use super::{
    EXIT_OUTPUT_CLOSED, apply_marks, check_pprof, flush_record_on_signals, hint_if_no_trace,
    hint_later_if_no_trace, keep_serving, let_pages_see_the_end, new_hub, record_file,
    serve_until_interrupted, start_pprof, write_failed,
};
use crate::cli::ServeArgs;
use crate::error::{self, Error, Result};
use crate::input::{buildinfo, ingest, record, rss};
use crate::trace::clock;
use crate::web::serve;

/// `prog 2>&1 | gcviz`, `gcviz < app.log`: the program's text goes to stdout,
/// so gcviz works as a filter.
pub async fn run(args: ServeArgs) -> Result<u8> {
    let hub = new_hub("pipe", None);
    if let Some(path) = &args.record {
        record::check(path)?;
    }
    apply_marks(&args, &hub)?;
    check_pprof(&args)?;
    // A saved log replayed from a file: its own timestamps or no clock.
    if stdin_is_a_file() {
        hub.set_clock_anchor(clock::Anchor::None);
    }
    let url = if args.no_server {
        None
    } else {
        Some(serve::start(&args, hub.clone()).await?)
    };
    let record = record_file(&args)?;
    if record.is_some() {
        flush_record_on_signals();
    }
    hint_later_if_no_trace(&hub, PIPE_HINT);
    if let Some(pid) = args.pid {
        // The trace's times count from the process's start: so do the samples.
        let start = rss::started_at(pid).unwrap_or_else(std::time::Instant::now);
        let go_version = buildinfo::go_version(std::path::Path::new(&format!("/proc/{pid}/exe")));
        hub.update_status(true, |s| {
            s.pid = Some(pid);
            s.go_version = go_version;
        });
        rss::spawn_sampler(pid, start, hub.clone());
    }
    let start = args.pid.and_then(rss::started_at);
    let _profiler = start_pprof(&args, None, start, &hub);
    let reader = ingest::spawn(std::io::stdin(), std::io::stdout(), hub.clone(), record);
    let stats = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|e| Error::Usage(format!("internal error: {e}")))?
        .map_err(|_| Error::Usage("internal error: the parser stopped".into()))?;
    let stats = match stats {
        // `gcviz | head`: the pipeline is over, as it would be for `cat`.
        Err(e) if ingest::output_closed(&e) => return Ok(EXIT_OUTPUT_CLOSED),
        other => other.map_err(Error::Read)?,
    };
    hub.update_status(true, |s| s.state = "eof");
    eprintln!("gcviz: input ended: {}", super::parse::summary(&stats));
    hint_if_no_trace(&hub, PIPE_HINT);
    match url {
        Some(url) if keep_serving(&args) => serve_until_interrupted(&url, "input ended").await,
        _ => let_pages_see_the_end(&hub).await,
    }
    Ok(if write_failed(&hub) {
        error::EXIT_FAILURE
    } else {
        0
    })
}

const PIPE_HINT: &str =
    "no GC trace seen: is it a Go program? did you forget 2>&1? (prog 2>&1 | gcviz)";

fn stdin_is_a_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| std::fs::File::from(fd).metadata().ok())
        .is_some_and(|m| m.is_file())
}
