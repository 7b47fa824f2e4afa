//! Thin entry point: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = gcviz::cli::Cli::parse();
    match gcviz::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("gcviz: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
