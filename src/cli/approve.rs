//! `tollgate approve` and `tollgate token`: approvals bound to a release's content, given by
//! people who authenticate with an API token.

use std::process::ExitCode;

use anyhow::Context;

use super::{out, runtime};
use std::time::Duration;
use tollgate_controller::service::{self, Service, ServiceError, Via};
use tollgate_decision::approvals::Directory;
use tollgate_error::Hinted;
use tollgate_spec::{Kind, LoadOptions};
use tollgate_store::Store;

use super::control::{RepoArgs, options};

/// Who acts with their API token, on which repo and store: what `approve` and `break-glass
/// review` share.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenHolderArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) keys: super::audit::KeyArgs,
    /// Your API token (`tollgate token create`); prefer the environment variable.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The release.
    release: String,
    /// The environment it is approved into.
    #[arg(long)]
    env: String,
    #[command(flatten)]
    holder: TokenHolderArgs,
    /// Withdraw approvals instead of giving one: yours, or `--user`'s when you are an admin.
    #[arg(long)]
    revoke: bool,
    /// With `--revoke`: whose approvals to withdraw (admins only).
    #[arg(long, requires = "revoke")]
    user: Option<String>,
    /// The content digest you reviewed (from `tollgate explain`): refuse if the release has
    /// changed since.
    #[arg(long, value_name = "SHA256", conflicts_with = "revoke")]
    digest: Option<String>,
    /// Approve through a running `tollgate serve` at URL instead of the database (`https://…`;
    /// `http://` only to a loopback address).
    #[arg(long, env = "TOLLGATE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// With `--server`: trust this PEM CA certificate instead of the Web PKI roots.
    #[arg(long, env = "TOLLGATE_CA_CERT", value_name = "FILE", requires = "server")]
    ca_cert: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user of `tollgate.yaml`; the token is printed once.
    Create {
        /// The user.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        keys: super::audit::KeyArgs,
    },
    /// List tokens (ids and users; secrets are never stored).
    List {
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token id (`tg_<id>_…`).
        id: String,
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        keys: super::audit::KeyArgs,
    },
}

fn directory(repo: &RepoArgs) -> anyhow::Result<Directory> {
    let source = tollgate_spec::repo::Source::commit(&repo.repo, &repo.rev).context("failed to read the config repo")?;
    let loaded = tollgate_spec::load(&source, &LoadOptions { jobs: repo.jobs }).context("failed to read the config repo")?;
    if loaded.of_kind(Kind::Config).next().is_none() {
        return Err(Hinted::new("the config repo has no `tollgate.yaml` (kind: Config)", "users and groups live there").into());
    }
    Ok(Directory::from_config(loaded.config()))
}

/// Runs `tollgate approve`.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    if let Some(server) = &args.server {
        return approve_remote(&args, server);
    }
    let now = jiff::Timestamp::now();
    runtime()?.block_on(async move {
        let (service, user) = as_token_holder(&args.holder, now, Some(args.release.clone())).await?;
        if args.revoke {
            let r = match service.revoke(&user, &args.release, &args.env, args.user.as_deref()).await {
                Err(ServiceError::Forbidden { .. }) => {
                    out(format!("refused: only an admin may revoke {}'s approvals", args.user.as_deref().unwrap_or_default()));
                    return Ok(ExitCode::from(1));
                }
                r => r?,
            };
            let target = args.user.as_deref().unwrap_or(&user);
            if r.revoked.is_empty() {
                out(format!("{target} has no approval of {} for {} to revoke", r.release, r.environment));
            }
            for a in &r.revoked {
                out(format!("revoked {}'s approval (audit seq {}) of {} for {}", a.user, a.seq, r.release, r.environment));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let a = match service.approve(&user, &args.release, &args.env, args.digest.as_deref(), Via::Cli).await {
            Err(e @ (ServiceError::Refused { .. } | ServiceError::ContentChanged { .. })) => {
                out(format!("refused: {e}"));
                return Ok(ExitCode::from(1));
            }
            r => r?,
        };
        if !a.recorded {
            out(format!("{user} already approved {} for {} with this content", a.release, a.environment));
            return Ok(ExitCode::SUCCESS);
        }
        out(format!(
            "approved {} for {} as {user} (content {}…, audit seq {}); approvals now {}{}",
            a.release,
            a.environment,
            &a.approval.content_digest[..12],
            a.approval.seq,
            a.status.summary(),
            if a.status.satisfied { ", enough" } else { "" }
        ));
        Ok(ExitCode::SUCCESS)
    })
}

/// A service over the database and the config repo, for a person who acts with their API token
/// (approve, revoke, review a break-glass admission), and who that token says they are.
pub(crate) async fn as_token_holder(
    holder: &TokenHolderArgs,
    now: jiff::Timestamp,
    release: Option<String>,
) -> anyhow::Result<(Service, String)> {
    let log = holder.keys.open_log(&holder.repo.db).await.context("failed to open the audit log")?;
    let (located, _mirror) = super::control::locate(&holder.repo, None).await?;
    let log = super::control::anchored(log, &located);
    let service = Service::new(log, options(&located, now, release)?, None, Duration::ZERO);
    let user = service.authenticate(&holder.token).await?;
    Ok((service, user))
}

/// `tollgate approve --server URL`: the same through the API.
fn approve_remote(args: &ApproveArgs, server: &str) -> anyhow::Result<ExitCode> {
    use tollgate_webhooks::client::Client;
    let client = Client::new(server, &args.holder.token, args.ca_cert.as_deref())?;
    runtime()?.block_on(async move {
        let answer = if args.revoke {
            client.revoke(&args.release, &args.env, args.user.as_deref()).await?
        } else {
            client.approve(&args.release, &args.env, args.digest.as_deref()).await?
        };
        let b = &answer.body;
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        match answer.status {
            200 | 201 if args.revoke => {
                let revoked = b["revoked"].as_array().cloned().unwrap_or_default();
                if revoked.is_empty() {
                    out(format!(
                        "{} has no approval of {} for {} to revoke",
                        args.user.as_deref().unwrap_or("you"),
                        args.release,
                        args.env
                    ));
                }
                for (a, seq) in revoked.iter().zip(b["auditSeqs"].as_array().into_iter().flatten()) {
                    out(format!(
                        "revoked {}'s approval (audit seq {}) of {} for {} (revocation seq {seq})",
                        s(&a["user"]),
                        a["seq"],
                        args.release,
                        args.env
                    ));
                }
                Ok(ExitCode::SUCCESS)
            }
            200 => {
                out(format!("{} already approved {} for {} with this content", s(&b["approval"]["user"]), args.release, args.env));
                Ok(ExitCode::SUCCESS)
            }
            201 => {
                let digest = s(&b["approval"]["contentDigest"]);
                let counted = b["status"]["counted"].as_array().map_or(0, Vec::len);
                out(format!(
                    "approved {} for {} as {} (content {}…, audit seq {}); approvals now {counted} of {}{}",
                    args.release,
                    args.env,
                    s(&b["approval"]["user"]),
                    &digest[..digest.len().min(12)],
                    b["approval"]["seq"],
                    b["status"]["policy"]["required"],
                    if b["status"]["satisfied"].as_bool() == Some(true) { ", enough" } else { "" }
                ));
                Ok(ExitCode::SUCCESS)
            }
            403 | 409 => {
                let (message, _) = answer.error().unwrap_or_default();
                out(format!("refused: {message}"));
                Ok(ExitCode::from(1))
            }
            status => {
                let (message, hint) = answer.error().unwrap_or_else(|| (format!("the server answered {status}"), None));
                match hint {
                    Some(h) => Err(Hinted::new(message, h).into()),
                    None => Err(anyhow::anyhow!("{message}")),
                }
            }
        }
    })
}

/// Runs `tollgate token`.
pub fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match cmd {
            TokenCommand::Create { user, repo, keys } => {
                // A remote `--repo` is read from its mirror, as every other command reads it.
                let (repo, _mirror) = super::control::locate(&repo, None).await?;
                let dir = directory(&repo)?;
                if !dir.users.contains_key(&user) {
                    let users = dir.users.keys().cloned().collect::<Vec<_>>().join(", ");
                    let hint = format!("add them under `spec.users` first; users are: {users}");
                    return Err(Hinted::new(format!("`{user}` is not a user in tollgate.yaml"), hint).into());
                }
                let log = keys.open_log(&repo.db).await.context("failed to open the audit log")?;
                let t = service::create_token(&log, &user, &actor()).await?;
                out(&t.token);
                eprintln!("token {} for {user} created; it is shown only this once", t.id);
                Ok(ExitCode::SUCCESS)
            }
            TokenCommand::List { repo } => {
                let store = Store::open(&repo.db).await.context("failed to open the store")?;
                out(format!("{:14} {:16} {:30} REVOKED", "ID", "USER", "CREATED"));
                for t in store.tokens().await? {
                    out(format!("{:14} {:16} {:30} {}", t.id, t.user, t.created_at, t.revoked_at.as_deref().unwrap_or("-")));
                }
                Ok(ExitCode::SUCCESS)
            }
            TokenCommand::Revoke { id, repo, keys } => {
                let log = keys.open_log(&repo.db).await.context("failed to open the audit log")?;
                if !service::revoke_token(&log, &id, &actor()).await? {
                    return Err(Hinted::new(format!("no live token `{id}`"), "`tollgate token list` shows ids").into());
                }
                out(format!("revoked token {id}"));
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Who runs the command, for the audit trail.
fn actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}
