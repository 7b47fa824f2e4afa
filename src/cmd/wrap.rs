//! Wrapper mode: run the Go program with the GC trace switched on, its
//! stdin and stdout untouched, its stderr through the parser, its memory
//! sampled; end with its exit code.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;

use super::{
    hint_later_if_no_trace, keep_serving, let_pages_see_the_end, new_hub, record_file,
    serve_until_interrupted, write_failed,
};
use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::input::pprof::discover;
use crate::input::{buildinfo, child, ingest, record, rss};
use crate::web::serve;

const HINT: &str =
    "no GC trace seen: is it a Go program? (gcviz reads the GC trace from its stderr)";

/// GODEBUG with gctrace and scavtrace added to what the user set; a level
/// they chose is kept. Bytes, not text: an environment need not be UTF-8,
/// and the user's settings must reach the program unchanged.
pub fn godebug(user: Option<&OsStr>) -> OsString {
    let mut parts: Vec<&[u8]> = user
        .map(OsStr::as_bytes)
        .unwrap_or_default()
        .split(|&b| b == b',')
        .filter(|p| !p.is_empty())
        .collect();
    let has = |parts: &[&[u8]], key: &[u8]| {
        parts
            .iter()
            .any(|p| p.split(|&b| b == b'=').next() == Some(key))
    };
    let mut add: Vec<&[u8]> = Vec::new();
    if !has(&parts, b"gctrace") {
        add.push(b"gctrace=1");
    }
    if !has(&parts, b"scavtrace") {
        add.push(b"scavtrace=1");
    }
    parts.extend(add);
    OsString::from_vec(parts.join(&b","[..]))
}

pub async fn run(args: ServeArgs, program: Vec<OsString>) -> Result<u8> {
    let shown = program
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let hub = new_hub("wrap", Some(shown));
    let go_version = buildinfo::resolve(&program[0]).and_then(|p| buildinfo::go_version(&p));
    let godebug = godebug(std::env::var_os("GODEBUG").as_deref());
    hub.update_status(false, |s| {
        s.env.GODEBUG = Some(godebug.to_string_lossy().into_owned());
        s.go_version = go_version;
    });
    // Everything that can fail on the command line fails before the
    // program starts, and before a URL is printed.
    child::resolve(&program)?;
    if let Some(path) = &args.record {
        record::check(path)?;
    }
    super::apply_marks(&args, &hub)?;
    super::check_pprof(&args)?;
    let url = if args.no_server {
        None
    } else {
        Some(serve::start(&args, hub.clone()).await?)
    };
    let record = record_file(&args)?;
    let running = child::spawn(&program, &godebug)?;
    // Not at the exit: a short Go program may end before its heap ever
    // needs a GC.
    hint_later_if_no_trace(&hub, HINT);
    hub.update_status(true, |s| s.pid = Some(running.pid));
    let sampler = rss::spawn_for_child(running.alive.clone(), running.started, hub.clone());
    let alive = running.alive.clone();
    let listening: crate::input::pprof::sampler::Listening =
        Arc::new(move || alive.with(discover::listening).unwrap_or_default());
    let profiler = super::start_pprof(&args, Some(listening), Some(running.started), &hub);
    let reader = ingest::spawn_source(running.stderr, std::io::stderr(), hub.clone(), record);
    let status = running
        .exit
        .await
        .map_err(|_| Error::Usage("internal error: lost the program's exit status".into()))?
        .map_err(Error::Read)?;
    sampler.abort();
    if let Some(p) = profiler {
        p.abort();
        crate::input::pprof::sampler::search_ended(&hub);
    }
    // The reader ends at the end of the program's stderr, when a grandchild
    // holding it open closes it too, or at Ctrl-C: every byte written
    // before then has been passed on when this returns.
    let ingested = tokio::task::spawn_blocking(move || reader.join()).await;
    let closed = matches!(&ingested, Ok(Ok(Err(e))) if ingest::output_closed(e));
    let mut code = exit_code(status);
    if code == 0 && write_failed(&hub) {
        code = crate::error::EXIT_FAILURE;
    }
    hub.update_status(true, |s| {
        s.state = "exited";
        s.exit_code = status.code();
        s.signal = status.signal();
    });
    match url {
        // Unless nobody reads gcviz's stderr any more: nothing to say
        // "press Ctrl-C" on.
        Some(url) if keep_serving(&args) && !closed => {
            serve_until_interrupted(&url, &exited_how(status)).await
        }
        _ => let_pages_see_the_end(&hub).await,
    }
    Ok(code)
}

/// The program's exit code, or 128+N when signal N ended it, as a shell reports.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        (None, None) => 1,
    }
}

fn exited_how(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("the program exited with code {c}"),
        (None, Some(sig)) => format!("the program was ended by signal {sig}"),
        (None, None) => "the program ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gd(user: Option<&str>) -> OsString {
        godebug(user.map(OsStr::new))
    }

    #[test]
    fn user_godebug_is_kept() {
        assert_eq!(gd(None), "gctrace=1,scavtrace=1");
        assert_eq!(gd(Some("")), "gctrace=1,scavtrace=1");
        assert_eq!(
            gd(Some("madvdontneed=1")),
            "madvdontneed=1,gctrace=1,scavtrace=1"
        );
        assert_eq!(gd(Some("gctrace=2,x=1")), "gctrace=2,x=1,scavtrace=1");
        assert_eq!(gd(Some("scavtrace=0,,")), "scavtrace=0,gctrace=1");
    }

    #[test]
    fn a_godebug_that_is_not_utf8_reaches_the_program_unchanged() {
        let user = OsStr::from_bytes(b"x=\xff");
        assert_eq!(
            godebug(Some(user)).as_bytes(),
            b"x=\xff,gctrace=1,scavtrace=1"
        );
    }

    #[test]
    fn signals_map_to_128_plus_n() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
