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
            // The hint is data on an error (tollgate_error): a command's own, or the outermost
            // one of the chain.
            eprintln!("error: {}", tollgate_error::chain(err.as_ref()));
            let own = err.downcast_ref::<tollgate_error::Hinted>().and_then(|h| tollgate_error::Hint::hint(h).map(|h| h.into_owned()));
            if let Some(hint) = own.or_else(|| tollgate_controller::hint_of(err.as_ref())) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
