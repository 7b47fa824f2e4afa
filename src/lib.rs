//! gcviz: watch a Go program's garbage collector live, from its
//! `GODEBUG=gctrace=1` output. This file only wires the parts together.

pub mod analysis;
mod buildinfo;
mod child;
pub mod cli;
pub mod clock;
mod demo;
pub mod error;
pub mod event;
pub mod history;
pub mod hub;
pub mod ingest;
pub mod marks;
pub mod metrics;
mod parse_cmd;
pub mod pprof;
mod reader;
mod record;
pub mod rss;
pub mod rss_sample;
mod serve;
pub mod server;
pub mod snapshot;
pub mod trace;
pub mod verdict;
mod web;
mod wrap;

use std::io::IsTerminal;

use cli::{Cli, Command, ServeArgs};
use error::{Error, Result};
use history::HistoryLimits;
use hub::{Env, Hub, Status};

/// Runs gcviz; returns the exit code (the program's, in wrapper mode).
pub fn run(mut cli: Cli) -> Result<u8> {
    match &mut cli.command {
        Some(Command::Demo(args)) => read_token_file(&mut args.serve)?,
        _ => read_token_file(&mut cli.serve)?,
    }
    match cli.command {
        Some(Command::Parse(args)) => parse_cmd::run(&args).map(|()| 0),
        Some(Command::Demo(args)) => runtime()?.block_on(demo_mode(args)),
        None if !cli.program.is_empty() => runtime()?.block_on(wrap::run(cli.serve, cli.program)),
        None if std::io::stdin().is_terminal() => Err(Error::Usage(
            "nothing to watch: give a program to run (gcviz ./server), pipe a trace in (prog 2>&1 | gcviz), or try `gcviz demo`".into(),
        )),
        None => runtime()?.block_on(pipe_mode(cli.serve)),
    }
}

/// `--token-file`: the token is the file's text without its trailing
/// newline (secrets written with `echo` have one).
fn read_token_file(args: &mut ServeArgs) -> Result<()> {
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

fn runtime() -> Result<tokio::runtime::Runtime> {
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

/// A line on stderr that, unlike `eprintln!`, cannot panic: gcviz's
/// stderr may be a pipe whose reader went away.
pub(crate) fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "gcviz: {msg}");
}

/// How long a run may go without a single trace record before gcviz says
/// what to check.
pub(crate) const NO_TRACE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Says once, on stderr and in the page's status, what to check when no
/// trace record has arrived; nothing once one has.
pub(crate) fn hint_if_no_trace(hub: &Hub, hint: &str) {
    let mut say = false;
    hub.update_status(true, |s| {
        if s.counts.records == 0 && s.hint.is_none() {
            s.hint = Some(hint.to_string());
            say = true;
        }
    });
    if say {
        self::say(hint);
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

/// `prog 2>&1 | gcviz`, `gcviz < app.log`: the program's text goes to stdout,
/// so gcviz works as a filter.
async fn pipe_mode(args: ServeArgs) -> Result<u8> {
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
    eprintln!("gcviz: input ended: {}", parse_cmd::summary(&stats));
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

/// `gcviz demo`: the bundled trace at its recorded pace.
async fn demo_mode(args: cli::DemoArgs) -> Result<u8> {
    let hub = new_hub("demo", Some("gcviz demo (bundled Go 1.27 trace)".into()));
    apply_marks(&args.serve, &hub)?;
    let url = serve::start(&args.serve, hub.clone()).await?;
    let (reader, writer) = std::io::pipe().map_err(Error::Read)?;
    let speed = args.speed;
    std::thread::spawn(move || demo::replay(writer, speed));
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
