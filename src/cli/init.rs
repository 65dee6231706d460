//! `tollgate init DIR`: write a small, valid example config repo.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tollgate_check::scaffold;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to create (it must not exist, or be empty).
    pub dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let written = scaffold::init(&args.dir).with_context(|| format!("cannot initialise `{}`", args.dir.display()))?;
    let mut err = std::io::stderr().lock();
    use std::io::Write;
    writeln!(err, "wrote {} files to {}", written, args.dir.display())?;
    writeln!(err, "next: tollgate check --repo {}", args.dir.display())?;
    Ok(ExitCode::SUCCESS)
}
