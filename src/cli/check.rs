//! `tollgate check`: schemas, references and policies over a config repo.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use tollgate_check::report::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config repo: a folder (a Git working directory or not).
    #[arg(long, env = "TOLLGATE_REPO", default_value = ".")]
    pub repo: PathBuf,

    /// Check this commit, read from Git's object database, instead of the working directory.
    #[arg(long, env = "TOLLGATE_REV", value_name = "REV")]
    pub rev: Option<String>,

    /// Check only what changed since REF (a branch, tag or commit), plus what depends on it.
    #[arg(long, env = "TOLLGATE_BASE", value_name = "REF")]
    pub base: Option<String>,

    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Worker threads (0 = one per core).
    #[arg(long, env = "TOLLGATE_JOBS", default_value_t = 0)]
    pub jobs: usize,

    /// Colour in text output.
    #[arg(long, env = "TOLLGATE_COLOR", default_value = "auto")]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Junit,
    Sarif,
    Github,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = tollgate_check::check_repo(&args.repo, args.rev.as_deref(), args.base.as_deref(), args.jobs)?;

    let format = match args.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Junit => Format::Junit,
        OutputFormat::Sarif => Format::Sarif,
        OutputFormat::Github => Format::Github,
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let rendered = report::render(&report, format, color);
    match &args.output {
        Some(path) => write_atomically(path, rendered.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(rendered.as_bytes()).context("cannot write to standard output")?;
        }
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Writes through a temporary file in the same folder and renames it, so a reader never sees
/// half a report.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot create a file in `{}`", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write `{}`", path.display()))?;
    tmp.persist(path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}
