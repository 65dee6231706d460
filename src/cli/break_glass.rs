//! `tollgate break-glass`: the admissions that bypassed the admission rule, and their
//! after-the-fact reviews (see `tollgate_controller::service::BreakGlassEntry`).

use std::process::ExitCode;
use tollgate_controller::service::{Review, ServiceError};

use super::control::{Format, RepoArgs, read_service};
use super::{out, parse_at, runtime, say};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every break-glass admission: who, where, why, until when, and its review.
    List {
        #[command(flatten)]
        repo: RepoArgs,
        /// Only those that still stand or are not yet reviewed (what `tollgate status` shows).
        #[arg(long)]
        open: bool,
        /// Whether they stand as at TIME.
        #[arg(long, value_name = "TIME", value_parser = parse_at)]
        at: Option<jiff::Timestamp>,
        /// Output format.
        #[arg(long, default_value = "text")]
        format: Format,
    },
    /// Review a break-glass admission after the fact, as an approver of its environment (not
    /// the person who broke the glass).
    Review {
        /// The admission's audit sequence number (`#N` in `list`).
        seq: u64,
        /// What you found: why it was or was not justified, what follows.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        holder: super::approve::TokenHolderArgs,
    },
}

/// Runs `tollgate break-glass`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { repo, open, at, format } => {
            let now = at.unwrap_or_else(jiff::Timestamp::now);
            runtime()?.block_on(async move {
                let service = read_service(&repo, now, None).await?;
                let mut report = service.break_glass(now, None).await?;
                if open {
                    report.entries.retain(|e| e.needs_attention());
                }
                match format {
                    Format::Json => out(serde_json::to_string_pretty(&report)?),
                    Format::Text if report.entries.is_empty() => say("no break-glass admissions"),
                    Format::Text => {
                        for e in &report.entries {
                            say(e.line());
                        }
                        if report.inherited > 0 {
                            say(format!("(and {} admissions of workloads their controllers created under these)", report.inherited));
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Review { seq, note, holder } => {
            let now = jiff::Timestamp::now();
            runtime()?.block_on(async move {
                let (service, user) = super::approve::as_token_holder(&holder, now, None).await?;
                let (entry, recorded) = match service.review_break_glass(&user, seq, &note).await {
                    Err(e @ ServiceError::Refused { .. }) => {
                        out(format!("refused: {e}"));
                        return Ok(ExitCode::from(1));
                    }
                    r => r?,
                };
                match (&entry.review, recorded) {
                    (Review::Reviewed { seq: review, .. }, true) => {
                        out(format!("reviewed break-glass admission #{seq} as {user} (audit seq {review})"))
                    }
                    (Review::Reviewed { seq: review, by, .. }, false) => {
                        out(format!("break-glass admission #{seq} was reviewed already, by {by} (audit seq {review})"))
                    }
                    _ => out(format!("break-glass admission #{seq}: {}", entry.line())),
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}
