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
            // Each line without terminal controls (messages quote names from the repo).
            let chain = tollgate_error::chain(err.as_ref());
            for (i, line) in chain.lines().enumerate() {
                eprintln!("{}{}", if i == 0 { "error: " } else { "" }, tollgate_spec::diag::printable(line));
            }
            let own = err.downcast_ref::<tollgate_error::Hinted>().and_then(|h| tollgate_error::Hint::hint(h).map(|h| h.into_owned()));
            if let Some(hint) = own.or_else(|| tollgate_controller::hint_of(err.as_ref())) {
                eprintln!("hint: {}", tollgate_spec::diag::printable(&hint));
            }
            ExitCode::from(2)
        }
    }
}
