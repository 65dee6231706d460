//! The control service: what `tollgate approve`, `status` and `explain` and the HTTP API share.
//!
//! A [`Service`] answers questions about the config repo's current commit (the decisions, one
//! decision explained, a release's approvals) and records approvals and their revocations, bound
//! to the release's content digest. It keeps the last prepared commit and an incremental view of
//! the store between calls, so a long-running server pays for a commit once and for each new
//! store record once; a CLI command makes one and uses it once.
//!
//! **Authentication and authorization.** [`Service::authenticate`] turns an API token into the
//! user it belongs to (the secret compared in constant time; an unknown id, a wrong secret and a
//! revoked token are indistinguishable). What the user may do is read from the `Config` document
//! at the commit being acted on, so removing someone from `tollgate.yaml` takes effect with the
//! next commit: reading needs any role, approving needs what [`approvals::eligible`] asks, and
//! revoking someone else's approval needs `admin`.

use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Mutex, MutexGuard};

use crate::git::{GitError, Mirror, record_fetch};
use crate::reconcile::{self, Failure, Options, Prepared, ReconcileError, ReleasePlan, StoreView};
use tollgate_audit::event::NewEvent;
use tollgate_decision::Decision;
use tollgate_decision::approvals::{self, Approval, ApprovalStatus, NotCounted, Role, TokenError, User};
use tollgate_store::{AuditError, AuditLog};
use tollgate_store::{RecordKind, Store, StoreError, TokenRow};

mod break_glass;
mod explain;
mod reviews;
#[cfg(test)]
mod tests;

pub use break_glass::{BreakGlassEntry, BreakGlassReport, Review, request_reviews as request_break_glass_reviews};
pub use explain::ExplainText;
pub use reviews::{ReviewFacts, ReviewOutcome, ReviewVerdict};

/// Where an approval came from, as recorded (`via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `tollgate approve`.
    Cli,
    /// The HTTP API.
    Api,
    /// The dashboard's approve button.
    Dashboard,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Api => "api",
            Via::Dashboard => "dashboard",
        }
    }
}

/// Why the service did not do what it was asked. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The API token was malformed, unknown, wrong or revoked.
    #[error(transparent)]
    Unauthenticated(#[from] TokenError),
    /// The user may not do this (a role is missing); `approve` refusals are [`Self::Refused`].
    #[error("{user} may not {action}")]
    Forbidden {
        /// Who asked.
        user: String,
        /// What they may not do, and why.
        action: String,
    },
    /// The user may not approve this release into this environment.
    #[error("{user} {reason}")]
    Refused {
        /// Who asked.
        user: String,
        /// Why not.
        reason: NotCounted,
    },
    /// No release of that name at the commit.
    #[error("no release `{release}` at commit {}", short(commit))]
    NoSuchRelease {
        /// The name asked for.
        release: String,
        /// The commit read.
        commit: String,
    },
    /// The environment is not on the release's promotion path.
    #[error("`{environment}` is not on the promotion path of `{release}`")]
    NotOnPath {
        /// The release.
        release: String,
        /// The environment asked for.
        environment: String,
        /// The release's path.
        path: Vec<String>,
    },
    /// The caller approved content it had seen, and the release has changed since.
    #[error("`{release}` changed: its content digest is {}…, not the {}… you reviewed", short(current), short(expected))]
    ContentChanged {
        /// The release.
        release: String,
        /// The digest the caller named.
        expected: String,
        /// The digest at the current commit.
        current: String,
    },
    /// The config repo could not be read or prepared.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The remote config repo could not be fetched.
    #[error("failed to fetch the config repo")]
    Fetch(#[source] Box<GitError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// `spec.github` is unusable.
    #[error(transparent)]
    GitHub(Box<crate::github::GitHubError>),
    /// The service has not prepared the config repo yet, or the last prepare failed.
    #[error("not ready: {reason}")]
    NotReady {
        /// Why: nothing prepared yet, or the last prepare's error with its causes.
        reason: String,
    },
    /// No break-glass admission at that sequence number.
    #[error("no break-glass admission #{seq}")]
    NoSuchBreakGlass {
        /// The sequence number asked for.
        seq: u64,
    },
    /// `token.revoked` could not be recorded, so the token was not revoked.
    #[error("token `{id}` is still valid: its revocation could not be recorded")]
    NotRevoked {
        /// The token id.
        id: String,
        /// Why the append failed.
        #[source]
        source: AuditError,
    },
}

impl tollgate_error::Hint for ServiceError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        let text: String = match self {
            ServiceError::Unauthenticated(_) => {
                "tokens look like `tg_<12 hex>_<64 hex>`; create one with `tollgate token create --user NAME`".into()
            }
            ServiceError::Forbidden { .. } => "roles are given to users under `spec.users` in tollgate.yaml".into(),
            ServiceError::Refused { reason: NotCounted::Author, .. } => "someone who did not author the change must approve it".into(),
            ServiceError::Refused { .. } => "the environment's `approvals` say who may approve".into(),
            ServiceError::NoSuchRelease { .. } => "`tollgate status` lists the releases".into(),
            ServiceError::NoSuchBreakGlass { .. } => "`tollgate break-glass list` lists them, by their audit sequence number".into(),
            ServiceError::NotOnPath { path, .. } => format!(
                "its path is {}",
                if path.is_empty() { "empty (its environment does not exist)".to_owned() } else { path.join(" -> ") }
            ),
            ServiceError::ContentChanged { .. } => "review the release again (`tollgate explain`) and approve what is there now".into(),
            ServiceError::NotRevoked { .. } => "nothing was revoked; revoke it again once the audit log accepts writes".into(),
            _ => return None,
        };
        Some(text.into())
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// The decisions at a commit, shared with the service ([`Service::shared_status`]).
#[derive(Debug, Clone)]
pub struct SharedStatus {
    /// The commit read.
    pub commit: String,
    /// The instant the decisions stand at.
    pub at: jiff::Timestamp,
    /// One per (release, environment on its path); `inputs.now` is when each was decided.
    pub decisions: Arc<[Arc<Decision>]>,
    /// As [`StatusReport::failures`].
    pub failures: Vec<Failure>,
    /// As [`StatusReport::break_glass`].
    pub break_glass: Vec<BreakGlassEntry>,
}

/// The decisions at a commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The commit read.
    pub commit: String,
    /// One per (release, environment on its path).
    pub decisions: Vec<Decision>,
    /// The promotions among them that were decided and could not be carried out, as the audit
    /// trail says (`promotion.failed`); none while everything goes through.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Break-glass admissions that still stand or are not yet reviewed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub break_glass: Vec<BreakGlassEntry>,
}

/// One decision and what a person needs besides it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The decision, with every input.
    pub decision: Decision,
    /// The authors of the release change (emails).
    pub authors: Vec<String>,
    /// When the decision is `Promoting` and carrying it out failed: the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// What [`Service::approve`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approved {
    /// The release.
    pub release: String,
    /// The environment.
    pub environment: String,
    /// The commit read.
    pub commit: String,
    /// The approval (a new one, or the user's live one for this content).
    pub approval: Approval,
    /// False when the user had already approved this content (nothing was recorded).
    pub recorded: bool,
    /// The environment's approvals, counted with this one.
    pub status: ApprovalStatus,
}

/// What [`Service::revoke`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// The release.
    pub release: String,
    /// The environment.
    pub environment: String,
    /// The approvals withdrawn (none when the user had none).
    pub revoked: Vec<Approval>,
    /// The audit sequence numbers of the revocations.
    pub audit_seqs: Vec<u64>,
    /// The environment's approvals after.
    pub status: ApprovalStatus,
}

/// A release's approvals into one environment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalsReport {
    /// The release.
    pub release: String,
    /// The environment.
    pub environment: String,
    /// The content digest approvals must be given for.
    pub content_digest: String,
    /// Live (not revoked) approvals, for any content.
    pub approvals: Vec<Approval>,
    /// Counted under the environment's policy.
    pub status: ApprovalStatus,
}

struct Cache {
    reconciler: reconcile::Reconciler,
    view: StoreView,
    /// The last decisions read, while their inputs hold.
    settled: Option<reconcile::Settled>,
}

struct Remote {
    mirror: Mirror,
    last_fetch: Option<Instant>,
}

/// What the last prepare said, for readiness: kept apart from the prepared state, so that
/// asking costs no prepare and never waits for one in progress.
#[derive(Debug, Clone)]
enum Readiness {
    /// Nothing prepared yet.
    NotYet,
    /// The commit of the last prepare, which succeeded.
    Prepared(String),
    /// Why the last prepare failed.
    Failed(String),
}

/// The control service; see the module docs.
pub struct Service {
    log: AuditLog,
    template: Options,
    remote: Option<SyncMutex<Remote>>,
    fetch_every: Duration,
    cache: Mutex<Cache>,
    readiness: SyncMutex<Readiness>,
    admitter: Arc<tollgate_admission::Admitter>,
    recorder: std::sync::OnceLock<crate::admission::Recorder>,
    /// When the admission index was last found current (a prepare that succeeded).
    admission_checked: SyncMutex<Option<Instant>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("repo", &self.template.repo).field("rev", &self.template.rev).finish_non_exhaustive()
    }
}

/// A prepared commit and the store view, held for one call.
struct Snapshot<'a> {
    guard: MutexGuard<'a, Cache>,
}

impl Snapshot<'_> {
    fn prepared(&self) -> &Prepared {
        self.guard.reconciler.last().expect("a snapshot is made after a prepare")
    }

    fn plan(&self, release: &str) -> Result<&ReleasePlan, ServiceError> {
        let p = self.prepared();
        p.releases
            .iter()
            .find(|r| r.name == release)
            .ok_or_else(|| ServiceError::NoSuchRelease { release: release.to_owned(), commit: p.commit.clone() })
    }

    /// `user` as the commit's `tollgate.yaml` names them, if they hold any role.
    fn reader(&self, user: &str) -> Result<&User, ServiceError> {
        match self.prepared().directory.users.get(user) {
            Some(u) if !u.roles.is_empty() => Ok(u),
            _ => Err(ServiceError::Forbidden { user: user.to_owned(), action: "read: they hold no role in tollgate.yaml".into() }),
        }
    }

    /// Checks `reader` (an API caller) may read; `None` is a caller the store trusts already
    /// (the CLI, which holds the database).
    fn check_reader(&self, reader: Option<&str>) -> Result<(), ServiceError> {
        reader.map_or(Ok(()), |u| self.reader(u).map(drop))
    }

    fn env<'p>(plan: &'p ReleasePlan, env: &str) -> Result<&'p reconcile::EnvPlan, ServiceError> {
        plan.path.iter().find(|e| e.name == env).ok_or_else(|| ServiceError::NotOnPath {
            release: plan.name.clone(),
            environment: env.to_owned(),
            path: plan.path.iter().map(|e| e.name.clone()).collect(),
        })
    }
}

impl Service {
    /// A service reading the config repo as `template` says (`repo`, `rev`, `release`, gates…;
    /// `now` is replaced per call). With a `mirror`, `template.repo`/`rev` name the mirror and
    /// its branch, and the mirror is fetched at most every `fetch_every` for reads and before
    /// every approval or revocation.
    pub fn new(log: AuditLog, template: Options, mirror: Option<Mirror>, fetch_every: Duration) -> Service {
        Service {
            log,
            template,
            remote: mirror.map(|mirror| SyncMutex::new(Remote { mirror, last_fetch: None })),
            fetch_every,
            cache: Mutex::new(Cache { reconciler: reconcile::Reconciler::default(), view: StoreView::default(), settled: None }),
            readiness: SyncMutex::new(Readiness::NotYet),
            admitter: Arc::new(tollgate_admission::Admitter::new()),
            recorder: std::sync::OnceLock::new(),
            admission_checked: SyncMutex::new(None),
        }
    }

    /// How long ago the admission index was last found current (`None`: never, no index yet).
    pub fn admission_index_age(&self) -> Option<Duration> {
        self.admission_checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|at| at.elapsed())
    }

    /// Records an admission verdict in the audit trail, durably, batched with the verdicts
    /// recorded at the same time (see [`crate::admission::Recorder`]); its sequence number, or
    /// `None` when the verdict records nothing.
    ///
    /// # Errors
    ///
    /// [`crate::admission::RecordError`].
    pub async fn record_admission(&self, verdict: &tollgate_admission::Verdict) -> Result<Option<u64>, crate::admission::RecordError> {
        self.recorder.get_or_init(|| crate::admission::Recorder::spawn(self.log.clone())).record(verdict).await
    }

    /// The admission webhook's decider, holding the index of the last commit prepared (none
    /// before the first prepare: every review is refused then).
    pub fn admitter(&self) -> &Arc<tollgate_admission::Admitter> {
        &self.admitter
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.log.store()
    }

    /// The audit log.
    pub(crate) fn log(&self) -> &AuditLog {
        &self.log
    }

    /// How the config repo is read (`now` is the construction's; set it per use).
    pub(crate) fn template(&self) -> &Options {
        &self.template
    }

    /// Runs `f` on the remote mirror, when the config repo is one (`None` for a local repository).
    pub(crate) fn with_mirror<R>(&self, f: impl FnOnce(&mut Mirror) -> R) -> Option<R> {
        let remote = self.remote.as_ref()?;
        let mut r = remote.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(f(&mut r.mirror))
    }

    /// The GitHub repository of the config repo at its current commit (`spec.github`, or a
    /// `github.com` remote); `None` when neither names one.
    ///
    /// # Errors
    ///
    /// As [`Self::status`]; [`ServiceError::GitHub`] for a malformed `spec.github`.
    pub(crate) async fn github_target(&self) -> Result<Option<crate::github::Target>, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), false).await?;
        let remote = self.with_mirror(|m| m.remote_url().map(str::to_owned)).flatten();
        crate::github::Target::resolve(snap.prepared().github.as_ref(), remote.as_deref()).map_err(|e| ServiceError::GitHub(Box::new(e)))
    }

    /// Decisions for the releases of `prepared` (a commit other than the current one: a pull
    /// request's head) that `pick` selects, against the store as it is now: what the controller
    /// would decide if that commit were the branch's.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Store`] when the store cannot be read.
    pub(crate) async fn decide_other(
        &self,
        prepared: &Prepared,
        pick: impl Fn(&ReleasePlan) -> bool,
    ) -> Result<Vec<Decision>, ServiceError> {
        let mut cache = self.cache.lock().await;
        cache.view.refresh(self.log.store()).await?;
        let view = &cache.view;
        Ok(prepared
            .releases
            .iter()
            .filter(|p| pick(p))
            .flat_map(|plan| plan.path.iter().map(move |env| reconcile::decide_for(view, prepared, plan, env)))
            .collect())
    }

    /// The user an API token belongs to.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Unauthenticated`] for a malformed, unknown, wrong or revoked token (the
    /// last three deliberately alike); [`ServiceError::Store`].
    pub async fn authenticate(&self, token: &str) -> Result<String, ServiceError> {
        // A malformed token is refused as an unknown one is: one indistinguishable answer.
        let Ok((id, secret)) = approvals::parse_token(token) else { return Err(TokenError::Invalid.into()) };
        match self.store().token(id).await? {
            Some(row) if row.revoked_at.is_none() && approvals::secret_matches(secret, &row.secret_hash) => Ok(row.user),
            _ => Err(TokenError::Invalid.into()),
        }
    }

    /// Fetches the mirror when it is due (`force`: now), recording what moved.
    async fn refresh(&self, force: bool) -> Result<(), ServiceError> {
        let Some(remote) = &self.remote else { return Ok(()) };
        let fetched = tokio::task::block_in_place(|| {
            let mut r = remote.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !force && r.last_fetch.is_some_and(|t| t.elapsed() < self.fetch_every) {
                return Ok(None);
            }
            let outcome = r.mirror.fetch().map_err(|e| ServiceError::Fetch(Box::new(e)))?;
            r.last_fetch = Some(Instant::now());
            Ok::<_, ServiceError>(Some((r.mirror.target(), outcome)))
        })?;
        if let Some((target, outcome)) = fetched {
            record_fetch(&self.log, &target, &outcome).await?;
        }
        Ok(())
    }

    /// Prepares the current commit at `now` (reusing the last one when the branch has not moved)
    /// and brings the store view up to date; what came of it is what [`Self::ready`] says next.
    async fn snapshot(&self, now: jiff::Timestamp, fetch: bool) -> Result<Snapshot<'_>, ServiceError> {
        let snap = self.snapshot_inner(now, fetch).await;
        let readiness = match &snap {
            Ok(s) => Readiness::Prepared(s.prepared().commit.clone()),
            Err(err) => Readiness::Failed(tollgate_error::chain(err)),
        };
        *self.readiness.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = readiness;
        snap
    }

    async fn snapshot_inner(&self, now: jiff::Timestamp, fetch: bool) -> Result<Snapshot<'_>, ServiceError> {
        self.refresh(fetch).await?;
        let mut guard = self.cache.lock().await;
        let mut opts = self.template.clone();
        opts.now = now;
        let cache = &mut *guard;
        tokio::task::block_in_place(|| cache.reconciler.prepare(&opts))?;
        if let Some(prepared) = cache.reconciler.last() {
            let current = self.admitter.index();
            if current.as_deref().and_then(tollgate_admission::Index::source) != Some(prepared.commit.as_str()) {
                let started = Instant::now();
                let index = crate::admission::index(prepared);
                let environments = prepared.admission.environments.len();
                self.admitter.publish(index);
                tracing::info!(commit = %prepared.commit, environments, took_ms = started.elapsed().as_millis() as u64, "admission index published");
            }
            *self.admission_checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
        cache.view.refresh(self.log.store()).await?;
        Ok(Snapshot { guard })
    }

    /// Prepares the config repo's current commit now, as a read would (fetching a remote when it
    /// is due), so that readiness and the next read find it prepared; returns the commit. A
    /// server calls it at start and then periodically.
    ///
    /// # Errors
    ///
    /// As [`Self::status`].
    pub async fn prepare(&self) -> Result<String, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), false).await?;
        Ok(snap.prepared().commit.clone())
    }

    /// Fetches the config repo now (a remote's) and prepares its commit, publishing the
    /// admission index when it moved: what a replica does when the store says that another one
    /// acted (promoted, recorded an approval). Returns the commit.
    ///
    /// # Errors
    ///
    /// As [`Self::status`].
    pub async fn follow(&self) -> Result<String, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), true).await?;
        Ok(snap.prepared().commit.clone())
    }

    /// The user as `tollgate.yaml` at the current commit names them, if they hold any role.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Forbidden`] when they are not a user there or hold no role; as
    /// [`Self::status`].
    pub async fn reader(&self, user: &str) -> Result<User, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), false).await?;
        snap.reader(user).cloned()
    }

    /// Every decision at the current commit, as it would be at `now`. With `reader` (an API
    /// caller), only if they may read (checked at the same commit).
    ///
    /// # Errors
    ///
    /// When the repo cannot be read or prepared, or the store cannot be read;
    /// [`ServiceError::Forbidden`] for a reader without a role.
    pub async fn status(&self, now: jiff::Timestamp, reader: Option<&str>) -> Result<StatusReport, ServiceError> {
        let shared = self.shared_status(now, reader).await?;
        let at = now.to_string();
        let decisions = shared
            .decisions
            .iter()
            .map(|d| {
                let mut d = Decision::clone(d);
                d.inputs.now.clone_from(&at);
                d
            })
            .collect();
        Ok(StatusReport { commit: shared.commit, decisions, failures: shared.failures, break_glass: shared.break_glass })
    }

    /// As [`Self::status`], sharing the decisions with the service, which keeps them while the
    /// commit, the store and every environment's windows stay as they were (then nothing is
    /// decided again): a page that shows thousands of decisions costs what it shows. Each
    /// decision's `inputs.now` is the instant it was decided at; it is the same at `at`.
    ///
    /// # Errors
    ///
    /// As [`Self::status`].
    pub async fn shared_status(&self, now: jiff::Timestamp, reader: Option<&str>) -> Result<SharedStatus, ServiceError> {
        let mut snap = self.snapshot(now, false).await?;
        snap.check_reader(reader)?;
        let cache = &mut *snap.guard;
        let prepared = cache.reconciler.last().expect("a snapshot is made after a prepare");
        let view = &cache.view;
        let kept = cache.settled.take().and_then(|mut settled| settled.update(prepared, view).then_some(settled));
        let settled = kept.unwrap_or_else(|| reconcile::Settled::decide(prepared, view));
        let decisions = settled.decisions.clone();
        cache.settled = Some(settled);
        let failures = decisions.iter().filter_map(|d| view.failure_of(d).cloned()).collect();
        let commit = prepared.commit.clone();
        drop(snap);
        let mut break_glass = self.break_glass(now, None).await?.entries;
        break_glass.retain(BreakGlassEntry::needs_attention);
        Ok(SharedStatus { commit, at: now, decisions, failures, break_glass })
    }

    /// The decision for `release` into `env` at `now`, with every input (`reader`: as for
    /// [`Self::status`]).
    ///
    /// # Errors
    ///
    /// [`ServiceError::NoSuchRelease`], [`ServiceError::NotOnPath`]; as [`Self::status`].
    pub async fn explain(&self, release: &str, env: &str, now: jiff::Timestamp, reader: Option<&str>) -> Result<Explanation, ServiceError> {
        let snap = self.snapshot(now, false).await?;
        snap.check_reader(reader)?;
        let plan = snap.plan(release)?;
        let env = Snapshot::env(plan, env)?;
        let decision = reconcile::decide_for(&snap.guard.view, snap.prepared(), plan, env);
        let failure = snap.guard.view.failure_of(&decision).cloned();
        Ok(Explanation { decision, authors: env.authors.clone(), failure })
    }

    /// The model card of `release` into `env` (without `env`: the environment the release asks
    /// for) as it would be at `now` (`reader`: as for [`Self::status`]).
    ///
    /// # Errors
    ///
    /// As [`Self::explain`].
    pub async fn model_card(
        &self,
        release: &str,
        env: Option<&str>,
        now: jiff::Timestamp,
        reader: Option<&str>,
    ) -> Result<tollgate_model_cards::Card, ServiceError> {
        let snap = self.snapshot(now, false).await?;
        snap.check_reader(reader)?;
        let plan = snap.plan(release)?;
        let asked = plan.spec.get("environment").and_then(serde_json::Value::as_str).unwrap_or_default();
        let env = Snapshot::env(plan, env.unwrap_or(asked))?;
        let view = &snap.guard.view;
        let decision = reconcile::decide_for(view, snap.prepared(), plan, env);
        Ok(reconcile::model_card(snap.prepared(), plan, env, &decision, view.promotions(&env.name, &plan.model)))
    }

    /// `release`'s live approvals into `env`, counted (`reader`: as for [`Self::status`]).
    ///
    /// # Errors
    ///
    /// As [`Self::explain`].
    pub async fn approvals(&self, release: &str, env: &str, reader: Option<&str>) -> Result<ApprovalsReport, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), false).await?;
        snap.check_reader(reader)?;
        let plan = snap.plan(release)?;
        let env = Snapshot::env(plan, env)?;
        let live = self.live(&plan.name, &env.name).await?;
        let status = approvals::evaluate(&env.approvals, &snap.prepared().directory, &live, &plan.content_digest, &env.authors);
        Ok(ApprovalsReport {
            release: plan.name.clone(),
            environment: env.name.clone(),
            content_digest: plan.content_digest.clone(),
            approvals: live,
            status,
        })
    }

    async fn live(&self, release: &str, env: &str) -> Result<Vec<Approval>, ServiceError> {
        let records = self.store().records_for(RecordKind::Approval, &approvals::subject(release, env)).await?;
        Ok(approvals::live_approvals(records.iter().map(|r| (r.audit_seq, &r.doc))))
    }

    /// Records `user`'s approval of `release` into `env`, bound to the release's content digest
    /// at the current commit (fetched first). With `expected`, refuses when that is not the
    /// current digest, so nobody approves content they did not review. Approving the same
    /// content twice records nothing the second time.
    ///
    /// Calls are serialized within a service, so one user's concurrent approvals record once.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Refused`] when the user may not approve here (not an approver, in none of
    /// the groups, an author of the change); [`ServiceError::ContentChanged`]; as
    /// [`Self::explain`]; [`ServiceError::Audit`] when it could not be recorded.
    pub async fn approve(&self, user: &str, release: &str, env: &str, expected: Option<&str>, via: Via) -> Result<Approved, ServiceError> {
        let now = jiff::Timestamp::now();
        let snap = self.snapshot(now, true).await?;
        let prepared = snap.prepared();
        let plan = snap.plan(release)?;
        let env = Snapshot::env(plan, env)?;
        if let Some(expected) = expected.filter(|e| *e != plan.content_digest) {
            return Err(ServiceError::ContentChanged {
                release: plan.name.clone(),
                expected: expected.to_owned(),
                current: plan.content_digest.clone(),
            });
        }
        approvals::eligible(&env.approvals, &prepared.directory, user, &env.authors)
            .map_err(|reason| ServiceError::Refused { user: user.to_owned(), reason })?;
        let mut live = self.live(&plan.name, &env.name).await?;
        let existing = live.iter().find(|a| a.user == user && a.content_digest == plan.content_digest).cloned();
        let (approval, recorded) = match existing {
            Some(a) => (a, false),
            None => {
                let at = now.to_string();
                let doc = approvals::approval_doc(&plan.name, &env.name, user, &plan.content_digest, &at, via.as_str());
                let subject = approvals::subject(&plan.name, &env.name);
                let event = self.log.record(RecordKind::Approval, user, &subject, &doc).await?;
                let a = Approval {
                    seq: event.seq,
                    user: user.to_owned(),
                    content_digest: plan.content_digest.clone(),
                    at,
                    via: via.as_str().into(),
                    team_groups: Vec::new(),
                };
                live.push(a.clone());
                (a, true)
            }
        };
        let status = approvals::evaluate(&env.approvals, &prepared.directory, &live, &plan.content_digest, &env.authors);
        Ok(Approved {
            release: plan.name.clone(),
            environment: env.name.clone(),
            commit: prepared.commit.clone(),
            approval,
            recorded,
            status,
        })
    }

    /// Withdraws the live approvals of `target` (default: `user`) of `release` into `env`; only
    /// an admin may withdraw someone else's. Each revocation is its own audit event naming the
    /// approval it withdraws.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Forbidden`] when `user` is not an admin and `target` is someone else; as
    /// [`Self::explain`]; [`ServiceError::Audit`].
    pub async fn revoke(&self, user: &str, release: &str, env: &str, target: Option<&str>) -> Result<Revoked, ServiceError> {
        let now = jiff::Timestamp::now();
        let snap = self.snapshot(now, true).await?;
        let prepared = snap.prepared();
        let plan = snap.plan(release)?;
        let env = Snapshot::env(plan, env)?;
        let target = target.unwrap_or(user);
        if target != user && !prepared.directory.users.get(user).is_some_and(|u| u.roles.contains(&Role::Admin)) {
            return Err(ServiceError::Forbidden {
                user: user.to_owned(),
                action: format!("revoke {target}'s approvals: only an admin may"),
            });
        }
        let mut live = self.live(&plan.name, &env.name).await?;
        let (revoked, kept): (Vec<_>, Vec<_>) = live.drain(..).partition(|a| a.user == target);
        let subject = approvals::subject(&plan.name, &env.name);
        let at = now.to_string();
        let mut audit_seqs = Vec::with_capacity(revoked.len());
        for a in &revoked {
            let doc = approvals::revocation_doc(&plan.name, &env.name, user, a.seq, &at);
            audit_seqs.push(self.log.record(RecordKind::Approval, user, &subject, &doc).await?.seq);
        }
        let status = approvals::evaluate(&env.approvals, &prepared.directory, &kept, &plan.content_digest, &env.authors);
        Ok(Revoked { release: plan.name.clone(), environment: env.name.clone(), revoked, audit_seqs, status })
    }

    /// Whether the service can answer: the store answers, and the last prepare (by a read, an
    /// approval or [`Self::prepare`]) succeeded; returns that prepare's commit.
    ///
    /// # Guarantees
    ///
    /// Prepares nothing and never waits for a prepare in progress: it costs one query to the
    /// store, so it answers in milliseconds however large the repo or slow its gates.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotReady`] before the first prepare and after a failed one;
    /// [`ServiceError::Store`] when the store does not answer.
    pub async fn ready(&self) -> Result<String, ServiceError> {
        self.store().head().await?;
        match self.readiness.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            Readiness::Prepared(commit) => Ok(commit),
            Readiness::NotYet => Err(ServiceError::NotReady { reason: "the config repo has not been prepared yet".into() }),
            Readiness::Failed(reason) => Err(ServiceError::NotReady { reason }),
        }
    }
}

/// Creates an API token for `user`, recording `token.created` by `actor` first (a crash before
/// the row leaves an unusable token, never an unrecorded usable one). The caller checks that the
/// user exists; the whole token is returned once and only its hash is stored.
///
/// # Errors
///
/// [`ServiceError::Unauthenticated`] when no random secret could be made; the store's errors.
pub async fn create_token(log: &AuditLog, user: &str, actor: &str) -> Result<approvals::NewToken, ServiceError> {
    let token = approvals::mint_token()?;
    let event = NewEvent::new(actor, "token.created", format!("user/{user}"), serde_json::json!({"tokenId": token.id, "user": user}))
        .map_err(StoreError::from)?;
    let seq = log.append(&[event]).await?.first().map_or(0, |e| e.seq);
    let row = TokenRow {
        id: token.id.clone(),
        user: user.to_owned(),
        secret_hash: token.secret_hash.clone(),
        created_at: jiff::Timestamp::now().to_string(),
        revoked_at: None,
        audit_seq: seq,
    };
    log.store().insert_token(&row).await?;
    Ok(token)
}

/// Revokes the token with `id` (`tg_<id>_…` or the id alone), recording `token.revoked` by
/// `actor` first, as [`create_token`] records before it stores: a token is never revoked without
/// its record. False when there is no live token with that id (nothing is recorded).
///
/// # Errors
///
/// [`ServiceError::NotRevoked`] when `token.revoked` could not be recorded: the token is still
/// valid. The store's errors.
pub async fn revoke_token(log: &AuditLog, id: &str, actor: &str) -> Result<bool, ServiceError> {
    let id = approvals::parse_token(id).map_or(id, |(i, _)| i);
    if log.store().token(id).await?.is_none_or(|t| t.revoked_at.is_some()) {
        return Ok(false);
    }
    let event =
        NewEvent::new(actor, "token.revoked", format!("token/{id}"), serde_json::json!({"tokenId": id})).map_err(StoreError::from)?;
    log.append(&[event]).await.map_err(|source| ServiceError::NotRevoked { id: id.to_owned(), source })?;
    // False here means a concurrent revocation won; the token is revoked either way.
    log.store().revoke_token(id, &jiff::Timestamp::now().to_string()).await?;
    Ok(true)
}
