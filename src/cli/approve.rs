//! `tollgate approve` and `tollgate token`: approvals bound to a release's content, given by
//! people who authenticate with an API token.

use std::process::ExitCode;

use anyhow::Context;

use super::{out, runtime};
use serde_json::json;
use tollgate_controller::approvals::{self, Directory, Role, TokenError};
use tollgate_controller::audit::event::NewEvent;
use tollgate_controller::reconcile;
use tollgate_controller::spec::{Kind, LoadOptions};
use tollgate_controller::store::{RecordKind, Store, TokenRow};

use super::control::{RepoArgs, clock, options};

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The release.
    release: String,
    /// The environment it is approved into.
    #[arg(long)]
    env: String,
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    keys: super::audit::KeyArgs,
    /// Your API token (`tollgate token create`); prefer the environment variable.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
    token: String,
    /// Withdraw approvals instead of giving one: yours, or `--user`'s when you are an admin.
    #[arg(long)]
    revoke: bool,
    /// With `--revoke`: whose approvals to withdraw (admins only).
    #[arg(long, requires = "revoke")]
    user: Option<String>,
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
    let source = tollgate_controller::repo::Source::commit(&repo.repo, &repo.rev).context("failed to read the config repo")?;
    let loaded = tollgate_controller::spec::load(&source, &LoadOptions { jobs: repo.jobs }).context("failed to read the config repo")?;
    anyhow::ensure!(
        loaded.of_kind(Kind::Config).next().is_some(),
        "the config repo has no `tollgate.yaml` (kind: Config)\nhint: users and groups live there"
    );
    Ok(Directory::from_config(loaded.config()))
}

/// Authenticates a token: the user it belongs to.
async fn authenticate(store: &Store, token: &str) -> anyhow::Result<String> {
    let (id, secret) = approvals::parse_token(token)
        .map_err(|e| anyhow::anyhow!("{e}\nhint: tokens look like `tg_<12 hex>_<64 hex>`; create one with `tollgate token create`"))?;
    let row = store.token(id).await?;
    match row {
        Some(row) if row.revoked_at.is_none() && approvals::secret_matches(secret, &row.secret_hash) => Ok(row.user),
        _ => Err(anyhow::anyhow!("{}", TokenError::Invalid)),
    }
}

/// Runs `tollgate approve`.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let now = clock(None)?;
    runtime()?.block_on(async move {
        let log = args.keys.open_log(&args.repo.db).await.context("failed to open the audit log")?;
        let store = log.store().clone();
        let user = authenticate(&store, &args.token).await?;
        let (repo, _mirror) = super::control::locate(&args.repo, None).await?;
        let opts = options(&repo, now, Some(args.release.clone()));
        let prepared = tokio::task::spawn_blocking(move || reconcile::prepare(&opts)).await.context("the check panicked")??;
        let plan = prepared.releases.first().context("no such release")?;
        let Some(env) = plan.path.iter().find(|e| e.name == args.env) else {
            let path: Vec<&str> = plan.path.iter().map(|e| e.name.as_str()).collect();
            anyhow::bail!("`{}` is not on the promotion path of `{}`\nhint: its path is {}", args.env, plan.name, path.join(" -> "));
        };
        let subject = approvals::subject(&plan.name, &env.name);
        let at = now.to_string();
        if args.revoke {
            let target = args.user.clone().unwrap_or_else(|| user.clone());
            let me = prepared.directory.users.get(&user);
            if target != user && !me.is_some_and(|u| u.roles.contains(&Role::Admin)) {
                out(format!("refused: only an admin may revoke {target}'s approvals"));
                return Ok(ExitCode::from(1));
            }
            let records = store.records_for(RecordKind::Approval, &subject).await?;
            let live = approvals::live_approvals(records.iter().map(|r| (r.audit_seq, &r.doc)));
            let mine: Vec<_> = live.iter().filter(|a| a.user == target).collect();
            if mine.is_empty() {
                out(format!("{target} has no approval of {} for {} to revoke", plan.name, env.name));
                return Ok(ExitCode::SUCCESS);
            }
            for a in mine {
                store
                    .record(RecordKind::Approval, &user, &subject, &approvals::revocation_doc(&plan.name, &env.name, &user, a.seq, &at))
                    .await?;
                out(format!("revoked {}'s approval (audit seq {}) of {} for {}", a.user, a.seq, plan.name, env.name));
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Err(why) = approvals::eligible(&env.approvals, &prepared.directory, &user, &plan.authors) {
            out(format!("refused: {user} {why}"));
            return Ok(ExitCode::from(1));
        }
        let records = store.records_for(RecordKind::Approval, &subject).await?;
        let live = approvals::live_approvals(records.iter().map(|r| (r.audit_seq, &r.doc)));
        if live.iter().any(|a| a.user == user && a.content_digest == plan.content_digest) {
            out(format!("{user} already approved {} for {} with this content", plan.name, env.name));
            return Ok(ExitCode::SUCCESS);
        }
        let doc = approvals::approval_doc(&plan.name, &env.name, &user, &plan.content_digest, &at, "cli");
        let event = log.record(RecordKind::Approval, &user, &subject, &doc).await?;
        let mut all = live;
        all.push(approvals::Approval {
            seq: event.seq,
            user: user.clone(),
            content_digest: plan.content_digest.clone(),
            at,
            via: "cli".into(),
        });
        let status = approvals::evaluate(&env.approvals, &prepared.directory, &all, &plan.content_digest, &plan.authors);
        out(format!(
            "approved {} for {} as {user} (content {}…, audit seq {}); approvals now {}{}",
            plan.name,
            env.name,
            &plan.content_digest[..12],
            event.seq,
            status.summary(),
            if status.satisfied { ", enough" } else { "" }
        ));
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `tollgate token`.
pub fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match cmd {
            TokenCommand::Create { user, repo, keys } => {
                let dir = directory(&repo)?;
                anyhow::ensure!(
                    dir.users.contains_key(&user),
                    "`{user}` is not a user in tollgate.yaml\nhint: add them under `spec.users` first; users are: {}",
                    dir.users.keys().cloned().collect::<Vec<_>>().join(", ")
                );
                let log = keys.open_log(&repo.db).await.context("failed to open the audit log")?;
                let store = log.store();
                let t = approvals::mint_token()?;
                let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
                // The event first: a crash before the row leaves an unusable token, never an
                // unrecorded usable one.
                let event = NewEvent::new(&actor, "token.created", format!("user/{user}"), json!({"tokenId": t.id, "user": user}))?;
                let stored = log.append(&[event]).await?;
                let seq = stored.first().map_or(0, |e| e.seq);
                let row = TokenRow {
                    id: t.id.clone(),
                    user: user.clone(),
                    secret_hash: t.secret_hash,
                    created_at: jiff::Timestamp::now().to_string(),
                    revoked_at: None,
                    audit_seq: seq,
                };
                store.insert_token(&row).await?;
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
                let store = log.store();
                let id = approvals::parse_token(&id).map(|(i, _)| i.to_owned()).unwrap_or(id);
                let at = jiff::Timestamp::now().to_string();
                if !store.revoke_token(&id, &at).await? {
                    anyhow::bail!("no live token `{id}`\nhint: `tollgate token list` shows ids");
                }
                let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
                log.append(&[NewEvent::new(&actor, "token.revoked", format!("token/{id}"), json!({"tokenId": id}))?]).await?;
                out(format!("revoked token {id}"));
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
