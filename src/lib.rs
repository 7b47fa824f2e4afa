//! gcviz: watch a Go program's garbage collector live, from its
//! `GODEBUG=gctrace=1` output. This file only wires the parts together.

pub mod analysis;
pub mod cli;
pub mod error;
pub mod event;
mod parse_cmd;
pub mod trace;

use cli::{Cli, Command};
use error::Result;

/// Runs gcviz; returns the exit code (the program's, in wrapper mode).
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Some(Command::Parse(args)) => parse_cmd::run(&args).map(|()| 0),
        Some(Command::Demo(_)) => Err(error::Error::Usage("the demo is not available yet".into())),
        None => Err(error::Error::Usage(
            "watching a program is not available yet".into(),
        )),
    }
}
