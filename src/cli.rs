//! Command-line interface: clap definitions (their doc comments are the
//! `--help` text), turned once into validated settings.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Watch a Go program's garbage collector live in your browser.
///
/// Runs PROGRAM with GODEBUG=gctrace=1,scavtrace=1 added to your GODEBUG,
/// passes its output through untouched and serves a live page. With no
/// PROGRAM, reads a trace from standard input (`prog 2>&1 | gcviz`,
/// `gcviz < app.log`).
#[derive(Debug, Parser)]
#[command(name = "gcviz", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,

    /// The Go program to run and its arguments (put `--` before it if it
    /// shares a name with a gcviz subcommand). gcviz's own options come
    /// before it; an option gcviz does not know is an error, not a program.
    #[arg(value_name = "PROGRAM", trailing_var_arg = true)]
    pub program: Vec<OsString>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a trace and print one JSON object per record (NDJSON) on stdout.
    Parse(ParseArgs),
    /// Replay a real trace bundled in gcviz at its recorded pace, with the live page.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Trace file to read; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Also write the text that is not a runtime record to stderr, exactly as
    /// the wrapper forwards it.
    #[arg(long)]
    pub passthrough: bool,

    /// Print only the summary line, no records.
    #[arg(long, conflicts_with = "passthrough")]
    pub summary_only: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Replay this many times faster than recorded.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

/// Where and how the live page is served.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (an IP address or `localhost`). Anything but
    /// loopback requires the access token.
    #[arg(
        short = 'i',
        long = "bind",
        default_value = "127.0.0.1",
        value_name = "ADDR",
        value_parser = parse_bind
    )]
    pub bind: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 0)]
    pub port: u16,

    /// Open the page in a browser.
    #[arg(short, long)]
    pub open: bool,

    /// Access token for the page, at least 16 characters (generated when
    /// binding beyond loopback). Not passed on to the program.
    #[arg(long, env = "GCVIZ_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Read the access token from this file (a mounted secret); one trailing
    /// newline is ignored. Takes precedence over --token and GCVIZ_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Exit when the program exits or input ends, instead of serving the final
    /// picture until Ctrl-C. Default: on when stderr is not a terminal.
    #[arg(long, overrides_with = "keep_serving")]
    pub exit_with_program: bool,

    /// Keep serving the final picture after the program exits or input ends.
    #[arg(long)]
    pub keep_serving: bool,

    /// In pipe mode, sample this process's memory (RSS) from /proc.
    #[arg(long)]
    pub pid: Option<u32>,

    /// Write every record to this file as it is parsed (replay with `gcviz < FILE`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Mark lines of the program's output that match REGEX on the charts
    /// (repeatable; the page can add and remove patterns too).
    #[arg(long, value_name = "REGEX")]
    pub mark: Vec<String>,

    /// Do not start the web server (pass output through and parse only).
    #[arg(long)]
    pub no_server: bool,

    /// Serve /metrics and the JSON APIs only: no page, no live stream
    /// (a sidecar for Prometheus).
    #[arg(long)]
    pub no_page: bool,

    /// The program's net/http/pprof base URL
    /// (http://127.0.0.1:6060/debug/pprof/): read heap profiles and the
    /// goroutine count from it. In wrapper mode gcviz finds it by itself
    /// among the program's own listening ports.
    #[arg(long, value_name = "URL", conflicts_with = "no_pprof")]
    pub pprof: Option<String>,

    /// Do not look for the program's pprof endpoint.
    #[arg(long)]
    pub no_pprof: bool,

    /// Seconds between heap profiles (and goroutine counts); a profile is
    /// also taken when the live heap has grown by a quarter since the last.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_every)]
    pub pprof_every: f64,
}

/// `--pprof-every`: at least a tenth of a second, at most a day.
fn parse_every(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if (0.1..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s}: give 0.1 to 86400 seconds"))
    }
}

/// `--bind`: an IP address, or a host name such as `localhost` resolved
/// once (its first address).
fn parse_bind(s: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = s.parse() {
        return Ok(ip);
    }
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    use std::net::ToSocketAddrs;
    (s, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("not an IP address or a known host name: {s}"))
}
