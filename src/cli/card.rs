//! `tollgate model-card`: a release's model card for one environment, as Markdown, HTML or
//! the card's JSON (what each promotion records as `model_card.recorded`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::control::{RepoArgs, read_service};
use super::{out, parse_at, runtime};
use tollgate_model_cards::{Format, Renderer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release.
    release: String,
    /// The environment (default: the one the release asks for).
    #[arg(long)]
    env: Option<String>,
    #[command(flatten)]
    repo: RepoArgs,
    /// The card as it would be at TIME (its decision and approvals then).
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    at: Option<jiff::Timestamp>,
    /// Output format: Markdown, a self-contained HTML page, or the card's JSON.
    #[arg(long, env = "TOLLGATE_CARD_FORMAT", default_value = "md")]
    format: CardFormat,
    /// An organisation's copy of `model-cards/templates/`: its `card.md` and `card.html` win
    /// over the built-in ones.
    #[arg(long, env = "TOLLGATE_CARD_TEMPLATES", value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Write the card to FILE instead of standard output (whole or not at all).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CardFormat {
    Md,
    Html,
    Json,
}

/// Runs `tollgate model-card`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.templates.as_ref().filter(|d| !d.is_dir()) {
        return Err(tollgate_error::Hinted::new(
            format!("template directory `{}` does not exist", dir.display()),
            "pass a copy of tollgate's `model-cards/templates/` folder",
        )
        .into());
    }
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    let card = runtime()?.block_on(async {
        let service = read_service(&args.repo, now, Some(args.release.clone())).await?;
        anyhow::Ok(service.model_card(&args.release, args.env.as_deref(), now, None).await?)
    })?;
    let format = match args.format {
        CardFormat::Md => Format::Markdown,
        CardFormat::Html => Format::Html,
        CardFormat::Json => Format::Json,
    };
    let text = Renderer::new(args.templates.clone()).render(&card, format)?;
    match &args.output {
        Some(path) => super::check::write_atomically(path, text.as_bytes())?,
        None => out(text.trim_end_matches('\n')),
    }
    Ok(ExitCode::SUCCESS)
}
