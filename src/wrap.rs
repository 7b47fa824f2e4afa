//! Wrapper mode: run the Go program with the GC trace switched on, its
//! stdin and stdout untouched, its stderr through the parser.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::{ingest, keep_serving, new_hub, record_file, serve, serve_until_interrupted};

/// GODEBUG with gctrace and scavtrace added to what the user set; a gctrace
/// level they chose is kept.
pub fn godebug(user: Option<&str>) -> String {
    let mut parts: Vec<&str> = user
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.is_empty())
        .collect();
    let has = |parts: &[&str], key: &str| parts.iter().any(|p| p.split('=').next() == Some(key));
    let mut add = Vec::new();
    if !has(&parts, "gctrace") {
        add.push("gctrace=1");
    }
    if !has(&parts, "scavtrace") {
        add.push("scavtrace=1");
    }
    parts.extend(add);
    parts.join(",")
}

pub async fn run(args: ServeArgs, program: Vec<OsString>) -> Result<u8> {
    let name = program[0].to_string_lossy().into_owned();
    let shown = program
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let hub = new_hub("wrap", Some(shown));
    let url = if args.no_server {
        None
    } else {
        Some(serve::start(&args, hub.clone()).await?)
    };
    let user = std::env::var("GODEBUG").ok();
    let mut child = Command::new(&program[0])
        .args(&program[1..])
        .env("GODEBUG", godebug(user.as_deref()))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: name,
            source,
        })?;
    hub.update_status(true, |s| s.pid = Some(child.id()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let reader = ingest::spawn(stderr, std::io::stderr(), hub.clone(), record_file(&args)?);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| Error::Usage(format!("internal error: {e}")))?
        .map_err(Error::Read)?;
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    let code = exit_code(status);
    hub.update_status(true, |s| {
        s.state = "exited";
        s.exit_code = status.code();
        s.signal = std::os::unix::process::ExitStatusExt::signal(&status);
    });
    if let Some(url) = url
        && keep_serving(&args)
    {
        serve_until_interrupted(&url, &format!("the program exited with code {code}")).await;
    }
    Ok(code)
}

/// The program's exit code, or 128+N when signal N ended it, as a shell reports.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::godebug;

    #[test]
    fn user_godebug_is_kept() {
        assert_eq!(godebug(None), "gctrace=1,scavtrace=1");
        assert_eq!(
            godebug(Some("madvdontneed=1")),
            "madvdontneed=1,gctrace=1,scavtrace=1"
        );
        assert_eq!(godebug(Some("gctrace=2,x=1")), "gctrace=2,x=1,scavtrace=1");
    }
}
