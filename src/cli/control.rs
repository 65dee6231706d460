//! `tollgate reconcile`, `status` and `explain`: the controller's loop and what it would do.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::{DeviceArg, out, parse_at, parse_interval, runtime, say};
use tollgate_controller::git::Fetcher;
use tollgate_controller::reconcile::{self, Action, DEFAULT_BOT, Failure, GateSettings, Options, PassReport};
use tollgate_controller::service::{self, Explanation, Service};
use tollgate_decision::Decision;
use tollgate_store::AuditLog;
use tollgate_store::{DEFAULT_URL, Store};

/// Where the config repo is and how to read it.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// The config repo: a folder in a Git repository, or a remote URL (`https://…`, `ssh://…`,
    /// `git@host:org/repo.git`, `file://…`), mirrored under the cache folder.
    #[arg(long, env = "TOLLGATE_REPO", default_value = ".", value_name = "DIR|URL")]
    pub repo: PathBuf,
    /// With a remote URL: the branch to track (default: the remote's default branch).
    #[arg(long, env = "TOLLGATE_BRANCH")]
    pub branch: Option<String>,
    /// With an https URL: a file holding the access token.
    #[arg(long, env = "TOLLGATE_GIT_TOKEN_FILE", value_name = "FILE", conflicts_with = "git_token_env")]
    pub git_token_file: Option<PathBuf>,
    /// With an https URL: the environment variable holding the access token.
    #[arg(long, env = "TOLLGATE_GIT_TOKEN_ENV", value_name = "VAR")]
    pub git_token_env: Option<String>,
    /// With a token: the user name sent with it (default `x-access-token`; GitLab wants `oauth2`).
    #[arg(long, env = "TOLLGATE_GIT_USERNAME")]
    pub git_username: Option<String>,
    /// With an ssh URL: the private key (a deploy key without passphrase).
    #[arg(long, env = "TOLLGATE_SSH_KEY", value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// With an ssh URL: the known_hosts file holding the server's key.
    #[arg(long, env = "TOLLGATE_KNOWN_HOSTS", value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// The branch or revision to reconcile.
    #[arg(long, env = "TOLLGATE_REV", default_value = "HEAD")]
    pub rev: String,
    /// Database URL: `sqlite://PATH` (one file, the default) or `postgres://…`.
    #[arg(long, env = "TOLLGATE_DB", default_value = DEFAULT_URL)]
    pub db: String,
    /// Where the model runs for gates: auto (CUDA when present), cpu or cuda.
    #[arg(long, env = "TOLLGATE_DEVICE", default_value = "auto")]
    pub device: DeviceArg,
    /// Where gate results are cached (default: `~/.cache/tollgate/gates`).
    #[arg(long, env = "TOLLGATE_GATE_CACHE")]
    pub gate_cache: Option<PathBuf>,
    /// Worker threads for checks (0 = one per core).
    #[arg(long, env = "TOLLGATE_JOBS", default_value_t = 0)]
    pub jobs: usize,
    /// Where gates run as Kubernetes Jobs (`gates.runner: kubernetes`): `in-cluster` (the
    /// pod's service account) or the API server's URL. Without it, such gates fail.
    #[arg(long, env = "TOLLGATE_GATES_CLUSTER", value_name = "in-cluster|URL")]
    pub gates_cluster: Option<String>,
    /// A public key gates Jobs sign results with (`name+id+base64`), or a file of them;
    /// repeatable. A result no trusted key signed is refused.
    #[arg(long, env = "TOLLGATE_GATES_TRUSTED_KEY", value_name = "KEY|FILE", value_delimiter = ',')]
    pub gates_trusted_key: Vec<String>,
    /// Where a gates Job's container reads its signing key (mount the Secret there).
    #[arg(long, env = "TOLLGATE_GATES_JOB_KEY_FILE", default_value = "/var/run/tollgate/gates-key/key", value_name = "FILE")]
    pub gates_job_key_file: PathBuf,
}

/// The controller's side of `gates.runner: kubernetes`, from the flags; `None` without
/// `--gates-cluster`.
fn job_gates(repo: &RepoArgs) -> anyhow::Result<Option<std::sync::Arc<tollgate_controller::gating::job::JobGates>>> {
    let Some(cluster) = &repo.gates_cluster else { return Ok(None) };
    let cluster = match cluster.as_str() {
        "in-cluster" => tollgate_jobs::Cluster::in_cluster()?,
        url => tollgate_jobs::Cluster::at(url)?,
    };
    let trusted = super::audit::read_verifiers(&repo.gates_trusted_key, tollgate_audit::checkpoint::KeyKind::Log, "gates key")?;
    if trusted.is_empty() {
        let hint = "give the public half of the Jobs' signing key: `--gates-trusted-key name+id+base64`";
        return Err(tollgate_error::Hinted::new("`--gates-cluster` needs a key to verify results with", hint).into());
    }
    Ok(Some(std::sync::Arc::new(tollgate_controller::gating::job::JobGates {
        cluster,
        trusted,
        key_file: repo.gates_job_key_file.clone(),
        program: "tollgate".to_owned(),
        limits: tollgate_jobs::Limits::default(),
    })))
}

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Tables for people.
    Text,
    /// JSON for machines.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    keys: super::audit::KeyArgs,
    /// Run one pass and exit.
    #[arg(long)]
    once: bool,
    /// Decide without recording or promoting (implied by `--at`).
    #[arg(long)]
    dry_run: bool,
    /// Decide as if the clock said TIME (RFC 3339, `now`, or `2026-12-01T09:30[Europe/Berlin]`);
    /// implies `--dry-run`.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    at: Option<jiff::Timestamp>,
    /// With `--once --at TIME`: record and promote as if the clock said TIME, instead of a dry
    /// run. For drills and tests; each decision records the instant it was made for.
    #[arg(long, hide = true, requires_all = ["at", "once"])]
    act: bool,
    /// Time between passes.
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    interval: Duration,
    /// This replica's name in leader election (default: host and process id).
    #[arg(long, env = "TOLLGATE_REPLICA")]
    replica: Option<String>,
    /// Output format of each pass's report.
    #[arg(long, default_value = "text")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// What the state would be at TIME.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    at: Option<jiff::Timestamp>,
    /// Output format.
    #[arg(long, default_value = "text")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The release.
    release: String,
    /// The environment.
    #[arg(long)]
    env: String,
    #[command(flatten)]
    repo: RepoArgs,
    /// Explain the decision as it would be at TIME.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    at: Option<jiff::Timestamp>,
    /// Output format.
    #[arg(long, default_value = "text")]
    format: Format,
}

pub(crate) fn options(repo: &RepoArgs, now: jiff::Timestamp, release: Option<String>) -> anyhow::Result<Options> {
    let cache_dir = repo.gate_cache.clone().or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tollgate/gates")));
    Ok(Options {
        repo: repo.repo.clone(),
        rev: repo.rev.clone(),
        now,
        release,
        gates: GateSettings { cache_dir, device: repo.device.device(), kubernetes: job_gates(repo)? },
        bot: bot(),
        jobs: repo.jobs,
    })
}

/// The commit identity of promotions.
fn bot() -> (String, String) {
    (
        std::env::var("TOLLGATE_BOT_NAME").unwrap_or_else(|_| DEFAULT_BOT.0.into()),
        std::env::var("TOLLGATE_BOT_EMAIL").unwrap_or_else(|_| DEFAULT_BOT.1.into()),
    )
}

/// Whether `--repo` names a remote rather than a folder.
fn is_remote(repo: &std::path::Path) -> bool {
    let s = repo.to_string_lossy();
    s.contains("://") || (s.contains('@') && s.contains(':') && !repo.exists())
}

/// Opens the mirror of a remote `--repo` (cloning it on first use) and fetches; `None` for a
/// local folder. The returned arguments point at the mirror and its tracked branch.
/// The audit log, publishing each checkpoint it signs to `refs/tollgate/audit` of the config
/// repo (or its mirror) as well as the database: the anchors `tollgate audit verify
/// --checkpoint` checks the log against (docs/audit/README.md).
pub(crate) fn anchored(log: AuditLog, located: &RepoArgs) -> AuditLog {
    let bot = bot();
    log.with_publisher(std::sync::Arc::new(tollgate_controller::anchor::GitAnchor::new(&located.repo, bot)))
}

pub(crate) async fn locate(
    repo: &RepoArgs,
    log: Option<&tollgate_store::AuditLog>,
) -> anyhow::Result<(RepoArgs, Option<tollgate_controller::git::Mirror>)> {
    use tollgate_controller::git::{Auth, Mirror, RepoLocation, Secret, record_fetch};
    if !is_remote(&repo.repo) {
        return Ok((repo.clone(), None));
    }
    let url = repo.repo.to_string_lossy().into_owned();
    let token = repo.git_token_file.clone().map(Secret::File).or_else(|| repo.git_token_env.clone().map(Secret::Env));
    let auth = match (token, &repo.ssh_key) {
        (Some(secret), None) => Auth::Token { secret, username: repo.git_username.clone() },
        (None, Some(key)) => Auth::SshKey { key: key.clone(), known_hosts: repo.known_hosts.clone(), accept_new_host_keys: false },
        (None, None) => Auth::None,
        (Some(_), Some(_)) => anyhow::bail!("give either a token (https) or an ssh key, not both"),
    };
    let cache = std::env::var_os("TOLLGATE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tollgate")))
        .context("no cache folder: set TOLLGATE_CACHE")?;
    let location = RepoLocation::Remote { url, auth, branch: repo.branch.clone() };
    let mut mirror = tokio::task::block_in_place(|| Mirror::open(&location, &cache))?;
    let outcome = tokio::task::block_in_place(|| mirror.fetch())?;
    if let Some(log) = log {
        record_fetch(log, &mirror.target(), &outcome).await?;
    }
    let mut resolved = repo.clone();
    resolved.repo = mirror.repository().path().to_owned();
    resolved.rev = format!("refs/heads/{}", mirror.branch());
    Ok((resolved, Some(mirror)))
}

/// The exit code of decisions and the promotions among them that failed (`docs/design.md`).
fn exit_for(decisions: &[Decision], failures: &[Failure]) -> ExitCode {
    ExitCode::from(tollgate_decision::exit_code(decisions.iter().map(|d| d.state), !failures.is_empty()))
}

/// Runs `tollgate reconcile`.
pub fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let dry_run = args.dry_run || (args.at.is_some() && !args.act);
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    runtime()?.block_on(async move {
        let log = args.keys.open_log(&args.repo.db).await.context("failed to open the audit log")?;
        if dry_run {
            let (repo, _mirror) = locate(&args.repo, None).await?;
            let opts = options(&repo, now, None)?;
            let prepared = tokio::task::spawn_blocking(move || reconcile::prepare(&opts)).await.context("the pass panicked")??;
            let decisions = reconcile::decide_all(log.store(), &prepared).await?;
            let report = PassReport { commit: prepared.commit.clone(), decisions, actions: vec![], failures: vec![] };
            print_pass(&report, args.format, true, true)?;
            return Ok(exit_for(&report.decisions, &report.failures));
        }
        // Located once here (a remote is fetched, and a force-push recorded, as every pass
        // does) to know where the audit checkpoints are published.
        let (located, _mirror) = locate(&args.repo, Some(&log)).await?;
        let log = anchored(log, &located);
        let cfg = Looping {
            repo: args.repo.clone(),
            replica: args.replica.clone().unwrap_or_else(default_replica),
            interval: args.interval,
            once: args.once,
            at: args.act.then_some(now),
            keep_going: false,
        };
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            super::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let (format, once) = (args.format, args.once);
        let last = run_loop(&cfg, &log, Fetcher::new(cfg.interval), stop, |report| print_pass(report, format, false, once)).await?;
        Ok(last.map_or(ExitCode::SUCCESS, |r| exit_for(&r.decisions, &r.failures)))
    })
}

/// How the reconcile loop runs (`tollgate reconcile`, `tollgate serve --reconcile`).
#[derive(Debug, Clone)]
pub(crate) struct Looping {
    /// The config repo.
    pub repo: RepoArgs,
    /// This replica's name in leader election.
    pub replica: String,
    /// Time between passes (also the leadership lease, times three).
    pub interval: Duration,
    /// One pass, then return its report.
    pub once: bool,
    /// Act as if the clock said this (drills and tests).
    pub at: Option<jiff::Timestamp>,
    /// Log a failed pass and try again at the next one, instead of returning the error.
    pub keep_going: bool,
}

/// The reconcile loop: leads (or waits to), then runs a pass whenever `fetcher` says (at once,
/// every interval, and when a [`tollgate_controller::git::FetchTrigger`] asks), until `stop`
/// turns true; then gives up leadership. Returns the report of a `once` pass.
pub(crate) async fn run_loop(
    cfg: &Looping,
    log: &AuditLog,
    mut fetcher: Fetcher,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on_pass: impl FnMut(&PassReport) -> anyhow::Result<()>,
) -> anyhow::Result<Option<PassReport>> {
    let store = log.store();
    let replica = cfg.replica.as_str();
    let name = std::fs::canonicalize(&cfg.repo.repo).unwrap_or(cfg.repo.repo.clone()).display().to_string();
    let ttl = (cfg.interval * 3).max(Duration::from_secs(10));
    let mut leadership = None;
    // The store view and the last prepared commit, kept across passes.
    let mut reconciler = reconcile::Reconciler::default();
    let stopping = |stop: &tokio::sync::watch::Receiver<bool>| *stop.borrow();
    'passes: loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break 'passes,
            why = fetcher.wait() => tracing::debug!(?why, "pass due"),
        }
        loop {
            if stopping(&stop) {
                break 'passes;
            }
            let Some(l) = leadership.as_mut() else {
                leadership = match store.try_lead(&name, replica, ttl).await {
                    Ok(l) => l,
                    // A server keeps serving through a database fail-over; it leads again later.
                    Err(err) if cfg.keep_going => {
                        tracing::error!(error = tollgate_error::chain(&err), "leader election failed; trying again");
                        None
                    }
                    Err(err) => return Err(err.into()),
                };
                if leadership.is_some() {
                    tracing::info!(replica, "leading");
                    continue;
                }
                if cfg.once {
                    anyhow::bail!(
                        "another replica leads reconciliation of this repo; it does the work (use --dry-run to see its decisions)"
                    );
                }
                tracing::info!(replica, "waiting for leadership");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break 'passes,
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                continue;
            };
            match l.renew().await {
                Ok(true) => break,
                Ok(false) => tracing::warn!(replica, "lost leadership"),
                Err(err) if cfg.keep_going => {
                    tracing::error!(error = tollgate_error::chain(&err), "lost leadership: the lease could not be renewed")
                }
                Err(err) => return Err(err.into()),
            }
            leadership = None;
        }
        let result = async {
            let (repo, mirror) = locate(&cfg.repo, Some(log)).await?;
            let opts = options(&repo, cfg.at.unwrap_or_else(jiff::Timestamp::now), None)?;
            let publish = mirror.as_ref().map(|m| m as &dyn reconcile::Publish);
            let report = reconciler.pass(log, &opts, "tollgate", publish).await?;
            // Break-glass admissions since the last pass are someone's to review now.
            if let Some(prepared) = reconciler.last() {
                match service::request_break_glass_reviews(log, &prepared.admission.environments).await {
                    Ok(seqs) if !seqs.is_empty() => tracing::warn!(requests = ?seqs, "asked for the review of break-glass admissions"),
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = tollgate_error::chain(&err), "could not ask for break-glass reviews"),
                }
            }
            // Audit checkpoints committed to the mirror go to the forge too, where every clone
            // that fetches the ref witnesses them (a failure is retried after the next pass).
            if let Some(m) = &mirror
                && let Err(err) = tokio::task::block_in_place(|| m.push_ref(tollgate_controller::anchor::AUDIT_REF))
            {
                tracing::warn!(error = tollgate_error::chain(&err), "could not push the audit checkpoints' ref");
            }
            on_pass(&report)?;
            anyhow::Ok(report)
        }
        .await;
        match result {
            Ok(report) if cfg.once => {
                if let Some(l) = leadership.take() {
                    l.release().await;
                }
                return Ok(Some(report));
            }
            Ok(_) => {}
            Err(err) if cfg.keep_going => {
                tracing::error!(error = tollgate_error::chain(err.as_ref()), "reconcile pass failed; trying again at the next one");
            }
            Err(err) => return Err(err),
        }
    }
    if let Some(l) = leadership.take() {
        l.release().await;
        tracing::info!(replica, "stopped leading");
    }
    Ok(None)
}

pub(crate) fn default_replica() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// Prints a pass's report; `once`: no later pass of this process retries a failed promotion.
pub(crate) fn print_pass(report: &PassReport, format: Format, dry_run: bool, once: bool) -> anyhow::Result<()> {
    match format {
        Format::Json => out(serde_json::to_string_pretty(report)?),
        Format::Text => {
            for a in &report.actions {
                match a {
                    Action::Promoted { release, environment, commit, branch } => {
                        say(format!("promoted {release} to {environment}: commit {} on {branch}", &commit[..commit.len().min(12)]));
                    }
                    Action::Proposed { release, environment, branch, .. } => {
                        say(format!("proposed {release} for {environment}: branch {branch} awaits merge"));
                    }
                    Action::PullRequest { release, environment, number, url, what } => {
                        say(format!("pull request #{number} promoting {release} to {environment}: {what} ({url})"));
                    }
                    Action::Healed { release, environment } => {
                        say(format!("recorded the promotion of {release} to {environment} found in Git"))
                    }
                    Action::Recorded { .. } => {}
                }
            }
            print_table(&report.commit, &report.decisions, dry_run);
            print_failures(&report.failures, !once);
        }
    }
    Ok(())
}

/// One line per promotion that was decided and could not be carried out; `retries`: with when
/// this process tries it again.
fn print_failures(failures: &[Failure], retries: bool) {
    for f in failures {
        let next = f.retry_in_secs.filter(|_| retries).map_or_else(String::new, |s| format!(", next attempt in {s}s"));
        say(format!("promotion of {} to {} failed (attempt {}{next}): {}", f.release, f.environment, f.attempts, f.reason));
    }
}

fn print_table(commit: &str, decisions: &[Decision], dry_run: bool) {
    let at = decisions.first().map(|d| d.inputs.now.clone()).unwrap_or_default();
    say(format!("commit {} at {at}{}", &commit[..commit.len().min(12)], if dry_run { " (dry run)" } else { "" }));
    if decisions.is_empty() {
        say("no releases");
        return;
    }
    let rw = decisions.iter().map(|d| d.release.len()).max().unwrap_or(7).max(7);
    let ew = decisions.iter().map(|d| d.environment.len()).max().unwrap_or(3).max(3);
    say(format!("{:rw$}  {:ew$}  {:16}  WHY", "RELEASE", "ENV", "STATE"));
    let mut last = "";
    for d in decisions {
        let name = if d.release == last { "" } else { d.release.as_str() };
        last = &d.release;
        let why = d.reasons.first().map(|r| r.message.as_str()).unwrap_or("");
        say(format!("{name:rw$}  {:ew$}  {:16}  {why}", d.environment, d.state.as_str()));
    }
}

/// A service reading the config repo for one command (fetched already when remote).
pub(crate) async fn read_service(args: &RepoArgs, now: jiff::Timestamp, release: Option<String>) -> anyhow::Result<Service> {
    let store = Store::open(&args.db).await.context("failed to open the store")?;
    let (repo, _mirror) = locate(args, None).await?;
    Ok(Service::new(AuditLog::new(store), options(&repo, now, release)?, None, Duration::ZERO))
}

/// Runs `tollgate status`.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    runtime()?.block_on(async move {
        let service = read_service(&args.repo, now, None).await?;
        let report = service.status(now, None).await?;
        match args.format {
            Format::Json => out(serde_json::to_string_pretty(&report)?),
            Format::Text => {
                print_table(&report.commit, &report.decisions, false);
                print_failures(&report.failures, false);
                for entry in &report.break_glass {
                    say(format!("BREAK GLASS {}", entry.line()));
                }
            }
        }
        Ok(exit_for(&report.decisions, &report.failures))
    })
}

/// Runs `tollgate explain`.
pub fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    runtime()?.block_on(async move {
        let service = read_service(&args.repo, now, Some(args.release.clone())).await?;
        let e = service.explain(&args.release, &args.env, now, None).await?;
        let d = &e.decision;
        match args.format {
            Format::Json => out(serde_json::to_string_pretty(d)?),
            Format::Text => print_explain(&e),
        }
        Ok(exit_for(std::slice::from_ref(d), e.failure.as_slice()))
    })
}

fn print_explain(e: &Explanation) {
    let t = e.text();
    say(t.headline);
    say(t.decided);
    say("");
    say("why:");
    for (kind, message) in &t.why {
        say(format!("  {kind:10} {message}"));
    }
    say("");
    say("inputs:");
    for (k, v) in &t.inputs {
        say(format!("  {k:16} {v}"));
    }
}
