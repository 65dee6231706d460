//! `tollgate github`: the operator's view of the webhook inbox (what `POST /webhooks/github`
//! stored and the workers did with it), and a retry of deliveries that failed for good.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;
use tollgate_controller::pulls::SOURCE;
use tollgate_store::Store;

use super::audit::DbArgs;
use super::control::Format;
use super::{out, say};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// How many deliveries are queued, done and failed, and why each failed one failed.
    Deliveries {
        #[command(flatten)]
        db: DbArgs,
        /// List at most N failed deliveries, oldest first.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: u32,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Queue failed deliveries again, to be taken up at once by a running `tollgate serve`
    /// (their attempts and last error are kept).
    Requeue {
        #[command(flatten)]
        db: DbArgs,
        /// Delivery ids (GitHub's `X-GitHub-Delivery`, as `deliveries` lists them).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        match cmd {
            Command::Deliveries { db, limit, format } => {
                let store = Store::open(db.url()).await.context("failed to open the store")?;
                let counts = store.inbox_counts().await?;
                let failed = store.failed_deliveries(limit).await?;
                store.close().await;
                match format {
                    Format::Json => {
                        let failed: Vec<_> = failed
                            .iter()
                            .map(|f| {
                                json!({
                                    "source": f.source, "id": f.id, "event": f.event, "attempts": f.attempts,
                                    "error": f.error, "receivedAt": millis(f.received_at_ms), "failedAt": millis(f.failed_at_ms),
                                })
                            })
                            .collect();
                        let doc = json!({
                            "queued": counts.queued, "done": counts.done, "failed": counts.failed, "failedDeliveries": failed,
                        });
                        out(serde_json::to_string_pretty(&doc)?);
                    }
                    Format::Text => {
                        out(format_args!("queued {}  done {}  failed {}", counts.queued, counts.done, counts.failed));
                        for f in &failed {
                            say(format_args!(
                                "{}  {}  {} attempts  failed {}  {}",
                                f.id,
                                f.event,
                                f.attempts,
                                millis(f.failed_at_ms),
                                f.error
                            ));
                        }
                        if counts.failed > failed.len() as u64 {
                            out(format_args!("… {} more (--limit)", counts.failed - failed.len() as u64));
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Requeue { db, ids } => {
                let store = Store::open(db.url()).await.context("failed to open the store")?;
                let mut missing = Vec::new();
                for id in &ids {
                    if store.requeue_delivery(SOURCE, id).await? {
                        say(format_args!("requeued {id}"));
                    } else {
                        missing.push(id.as_str());
                    }
                }
                store.close().await;
                if missing.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
                let message = format!("no failed delivery `{}`", missing.join("`, `"));
                let hint = "`tollgate github deliveries` lists the deliveries that failed; a queued or done one needs no requeue";
                Err(tollgate_error::Hinted::new(message, hint).into())
            }
        }
    })
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
fn millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}
