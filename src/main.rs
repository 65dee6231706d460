//! The `tollgate` binary: parses arguments and hands each command to the crates that do the work.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = <cli::Cli as clap::Parser>::parse();
    cli::init_tracing(args.log_format);
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // The chain is printed once, outermost first; causes are never repeated in messages.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
