//! gcviz: watch a Go program's garbage collector live, from its
//! `GODEBUG=gctrace=1` output. This file declares the stages and hands the
//! command line to its mode; see the README's "How the code is laid out".
//!
//! ```text
//!  bytes ──► input ──► trace ──► store ──► web ──► page
//!            (I/O)     (pure)    (state)   (HTTP)
//! ```
//!
//! Each layer uses only those below it: `trace` nothing but itself, `store`
//! the trace's types, `input` both, `web` the store (and the profiles
//! `input::pprof` keeps), `cmd` everything.

pub mod cli;
pub mod cmd;
pub mod error;
pub mod input;
pub mod profile;
pub mod store;
pub mod trace;
pub mod web;

use std::io::IsTerminal;

use cli::{Cli, Command};
use error::{Error, Result};

pub fn run(mut cli: Cli) -> Result<u8> {
    match &mut cli.command {
        Some(Command::Demo(args)) => cmd::read_token_file(&mut args.serve)?,
        _ => cmd::read_token_file(&mut cli.serve)?,
    }
    match cli.command {
        Some(Command::Parse(args)) => cmd::parse::run(&args).map(|()| 0),
        Some(Command::Demo(args)) => cmd::runtime()?.block_on(cmd::demo::run(args)),
        None if !cli.program.is_empty() => {
            cmd::runtime()?.block_on(cmd::wrap::run(cli.serve, cli.program))
        }
        None if std::io::stdin().is_terminal() => Err(Error::Usage(
            "nothing to watch: give a program to run (gcviz ./server), pipe a trace in (prog 2>&1 | gcviz), or try `gcviz demo`".into(),
        )),
        None => cmd::runtime()?.block_on(cmd::pipe::run(cli.serve)),
    }
}
