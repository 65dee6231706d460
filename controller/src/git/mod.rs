//! The config repo as a Git repository that moves: a local repository, or a remote one kept in
//! a bare mirror under a cache folder; fetched on an interval and on demand; read at commits
//! without a checkout; pushed to by promotions.
//!
//! Objects are read with libgit2 ([`Mirror::repository`], [`Mirror::source`]); the network is
//! the `git` program's job (clone, fetch, push), as in Argo CD's repo-server: every protocol,
//! proxy and credential setup Git users rely on works, and credentials travel through the
//! child's environment only (see `docs/adr/0031-git-transport.md`).
//!
//! **Guarantees:**
//! - No history is dropped silently. [`Mirror::fetch`] keeps the commit it last handed out under
//!   `refs/tollgate/seen/<branch>`; when the branch was rewritten (the old tip is no longer an
//!   ancestor of the new one) the old tip is kept under `refs/tollgate/force-pushed/…`, so
//!   garbage collection never removes it, and the outcome says which commits were dropped.
//! - Secrets (tokens, URL credentials) never appear in errors, logs or `Debug` output.
//! - `git` never prompts: a missing or wrong credential is an error, not a hang.

mod command;
mod fetcher;
mod url;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use git2::{BranchType, Oid, Repository};
use serde_json::json;
use sha2::{Digest, Sha256};

use tollgate_audit::event::{NewEvent, StoredEvent};
use tollgate_spec::repo::Source;
use tollgate_store::StoreError;
use tollgate_store::{AuditError, AuditLog};

pub use command::DEFAULT_TOKEN_USERNAME;
pub use fetcher::{FetchTrigger, Fetcher, Wake};
pub use url::{RemoteUrl, Scheme, UrlProblem, redact_url};

/// Where a mirror's last-seen tips are kept.
pub const SEEN_PREFIX: &str = "refs/tollgate/seen/";
/// Where rewritten history is kept after a force-push.
pub const FORCE_PUSHED_PREFIX: &str = "refs/tollgate/force-pushed/";
/// The audit action of a force-push.
pub const ACTION_FORCE_PUSH: &str = "git.force_push";
/// The audit action of a tracked branch that moved forward (or was seen for the first time).
pub const ACTION_HEAD_MOVED: &str = "git.head_moved";
/// How many dropped commits an audit event lists; the count is always complete.
pub const MAX_AUDITED_DROPPED: usize = 1000;

/// Default wall-clock limit of one clone, fetch or push.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the config repo lives.
#[derive(Debug, Clone)]
pub enum RepoLocation {
    /// A repository on this machine (a working copy or a bare repository), used in place.
    Local(PathBuf),
    /// A remote repository, mirrored under the cache folder.
    Remote {
        /// `https://…`, `ssh://…`, `user@host:path` or `file://…`; never with a password in it.
        url: String,
        /// How to authenticate.
        auth: Auth,
        /// The branch to track; the remote's default branch when `None`.
        branch: Option<String>,
    },
}

/// How to authenticate to a remote.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anonymous (public repositories, `file://`, or credentials the system's Git is set up with
    /// non-interactively, such as an ssh agent or `~/.ssh/config`).
    None,
    /// HTTPS with a token (a GitHub or GitLab access token, a GitHub App installation token) as
    /// the password of HTTP Basic authentication.
    Token {
        /// Where the token is read from, at each operation.
        secret: Secret,
        /// The user name sent with it; [`DEFAULT_TOKEN_USERNAME`] when `None`.
        username: Option<String>,
    },
    /// SSH with a private key file (without a passphrase).
    SshKey {
        /// The private key.
        key: PathBuf,
        /// The `known_hosts` file to check the server's key against; the user's default files
        /// when `None`.
        known_hosts: Option<PathBuf>,
        /// Trust a host key the first time it is seen (`StrictHostKeyChecking=accept-new`)
        /// instead of refusing unknown hosts; a changed key is refused either way.
        accept_new_host_keys: bool,
    },
}

/// Where a secret is read from. The value is read when it is needed (so a rotated file is picked
/// up) and is never shown: `Debug` prints only where it comes from.
#[derive(Clone)]
pub enum Secret {
    /// An environment variable of this process.
    Env(String),
    /// A file (trailing whitespace is removed), such as a mounted Kubernetes secret.
    File(PathBuf),
    /// A value held in memory.
    Value(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env(var) => f.debug_tuple("Env").field(var).finish(),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Value(_) => f.write_str("Value(***)"),
        }
    }
}

impl Secret {
    /// Reads the secret now.
    ///
    /// # Errors
    ///
    /// [`GitError::SecretUnavailable`] when the variable is unset or empty, or the file cannot
    /// be read or is empty.
    pub fn read(&self) -> Result<String, GitError> {
        let value = match self {
            Secret::Env(var) => {
                std::env::var(var).map_err(|_| GitError::SecretUnavailable { from: format!("environment variable `{var}`") })?
            }
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|_| GitError::SecretUnavailable { from: format!("file `{}`", path.display()) })?
                .trim_end()
                .to_owned(),
            Secret::Value(value) => value.clone(),
        };
        if value.is_empty() || value.contains(['\n', '\r', '\0']) {
            return Err(GitError::SecretUnavailable { from: self.describe() });
        }
        Ok(value)
    }

    fn describe(&self) -> String {
        match self {
            Secret::Env(var) => format!("environment variable `{var}`"),
            Secret::File(path) => format!("file `{}`", path.display()),
            Secret::Value(_) => "the configured value".into(),
        }
    }
}

/// What `git` printed about a failure, scrubbed of secrets; the `source` of [`GitError`]s.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GitOutput(String);

impl GitOutput {
    fn new(stderr: &str) -> GitOutput {
        // The last lines say what went wrong; progress and hints before them do not.
        const NOISE: &[&str] =
            &["hint:", "Cloning into", "Please make sure you have the correct access rights", "and the repository exists"];
        let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !NOISE.iter().any(|n| l.starts_with(n))).collect();
        let tail = &lines[lines.len().saturating_sub(4)..];
        let text = if tail.is_empty() { "git printed nothing".to_owned() } else { tail.join("; ") };
        GitOutput(text.chars().take(1000).collect())
    }
}

/// Why a Git operation failed. Messages name the remote without credentials and end with what
/// to do; what Git itself said is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The remote URL is malformed or of an unsupported kind.
    #[error("invalid repository URL `{url}`: {reason}")]
    BadUrl {
        /// The URL, without credentials.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// The authentication does not fit the URL's scheme.
    #[error("cannot use {auth} with `{url}`")]
    AuthMismatch {
        /// The URL, without credentials.
        url: String,
        /// The kind of authentication.
        auth: &'static str,
        /// The kind of URL it needs.
        expected: &'static str,
    },
    /// The token could not be read.
    #[error("cannot read the Git token from {from}")]
    SecretUnavailable {
        /// Where it was looked for.
        from: String,
    },
    /// The ssh private key could not be read.
    #[error("cannot read the ssh key `{path}`")]
    KeyFile {
        /// The key's path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The `known_hosts` file could not be read.
    #[error("cannot read the known_hosts file `{path}`")]
    KnownHostsFile {
        /// The file's path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The CA bundle could not be read.
    #[error("cannot read the CA bundle `{path}`")]
    CaFile {
        /// The file's path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The `git` program could not be run.
    #[error("cannot run `git`")]
    GitNotFound {
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The remote refused the credentials, or needs some and none were given.
    #[error("authentication to `{url}` failed")]
    AuthFailed {
        /// The URL, without credentials.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// The server's ssh host key is unknown or has changed.
    #[error("the ssh host key of `{url}` is not trusted")]
    HostKey {
        /// The URL.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// ssh refused the key file because others may read it.
    #[error("ssh refused the key for `{url}` because its permissions are too open")]
    KeyPermissions {
        /// The URL.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// The server's TLS certificate is not trusted.
    #[error("the TLS certificate of `{url}` is not trusted")]
    Tls {
        /// The URL.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// The host could not be reached.
    #[error("cannot reach `{url}`")]
    Unreachable {
        /// The URL.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// There is no repository at the URL (or the credentials may not see it).
    #[error("no repository at `{url}`")]
    RepoNotFound {
        /// The URL.
        url: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// The operation ran past its time limit and was stopped.
    #[error("`git {op}` for `{target}` took longer than {after:?} and was stopped")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The URL or path.
        target: String,
        /// The limit.
        after: Duration,
    },
    /// Another `git` failure.
    #[error("`git {op}` for `{target}` failed")]
    Command {
        /// The operation.
        op: &'static str,
        /// The URL or path.
        target: String,
        /// What Git said.
        #[source]
        source: GitOutput,
    },
    /// The tracked branch does not exist.
    #[error("branch `{branch}` does not exist in `{target}`")]
    BranchNotFound {
        /// The branch.
        branch: String,
        /// The URL or path.
        target: String,
        /// The branches that do exist.
        available: String,
    },
    /// The push was refused because the branch has commits the pushed commit does not contain.
    #[error("push to `{branch}` of `{target}` was rejected as not a fast-forward")]
    NonFastForward {
        /// The branch pushed to.
        branch: String,
        /// The URL or path.
        target: String,
    },
    /// The remote refused the push for another reason (a protected branch, a hook).
    #[error("push to `{branch}` of `{target}` was refused by the remote: {reason}")]
    PushRejected {
        /// The branch pushed to.
        branch: String,
        /// The URL or path.
        target: String,
        /// The remote's reason.
        reason: String,
    },
    /// A local push would move the branch checked out in a working copy.
    #[error("branch `{branch}` is checked out in `{path}`; tollgate will not move it under the working copy")]
    CheckedOut {
        /// The branch.
        branch: String,
        /// The repository.
        path: PathBuf,
    },
    /// A libgit2 operation on the local repository or mirror failed.
    #[error("git: {context}")]
    Repo {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: git2::Error,
    },
    /// The cache folder could not be prepared.
    #[error("cannot prepare the mirror folder `{path}`")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl tollgate_error::Hint for GitError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            GitError::BadUrl { hint, .. } => Some(Cow::Borrowed(hint)),
            GitError::AuthMismatch { expected, .. } => Some(format!("use {expected}").into()),
            GitError::SecretUnavailable { .. } => Some(Cow::Borrowed("set it, or point the token at a readable, non-empty file")),
            GitError::KeyFile { .. } => Some(Cow::Borrowed("check the path and that tollgate may read it")),
            GitError::KnownHostsFile { .. } => Some(Cow::Borrowed("create it with `ssh-keyscan HOST > FILE` and check the keys it holds")),
            GitError::CaFile { .. } => Some(Cow::Borrowed("point it at a readable PEM file")),
            GitError::GitNotFound { .. } => Some(Cow::Borrowed("install Git 2.31 or later and put it on `PATH`")),
            GitError::AuthFailed { .. } => Some(Cow::Borrowed("check that the token or key is valid and has access to the repository")),
            GitError::HostKey { .. } => Some(Cow::Borrowed("add the host's key to the known_hosts file")),
            GitError::KeyPermissions { .. } => Some(Cow::Borrowed("`chmod 600` the key file")),
            GitError::Tls { .. } => Some(Cow::Borrowed("set `GIT_SSL_CAINFO` or `http.sslCAInfo` to the CA bundle that signed it")),
            GitError::Unreachable { .. } => Some(Cow::Borrowed("check the host name, the network, and any proxy settings")),
            GitError::RepoNotFound { .. } => {
                Some(Cow::Borrowed("check the URL; private repositories also answer this to wrong credentials"))
            }
            GitError::Timeout { .. } => Some(Cow::Borrowed("check the network, or raise the timeout")),
            GitError::BranchNotFound { available, .. } => Some(format!("set the branch to one of: {available}").into()),
            GitError::NonFastForward { .. } => Some(Cow::Borrowed("fetch, rebuild the commit on the new tip, and push again")),
            GitError::PushRejected { .. } => Some(Cow::Borrowed("check branch protection and the credentials' write access")),
            GitError::CheckedOut { .. } => Some(Cow::Borrowed("push to another branch, or use a bare repository")),
            GitError::Cache { .. } => {
                Some(Cow::Borrowed("check that tollgate may write there; a damaged mirror may be deleted, it is cloned again"))
            }
            _ => None,
        }
    }
}

fn repo_err(context: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Repo { context, source }
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The branch tracked.
    pub branch: String,
    /// The tip handed out before (by the previous fetch, possibly in an earlier process).
    pub before: Option<Oid>,
    /// The tip now.
    pub after: Oid,
    /// How the tip moved.
    pub kind: FetchKind,
}

/// How the tracked branch moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchKind {
    /// The first fetch of this branch into this mirror: nothing to compare with.
    Initial,
    /// Nothing changed.
    Unchanged,
    /// New commits on top of the old tip.
    FastForward,
    /// The branch was rewritten: the old tip is not an ancestor of the new one.
    ForcePush {
        /// Commits reachable from the old tip and not from the new one, newest first.
        dropped: Vec<Oid>,
        /// The ref that keeps the old tip (and so the dropped commits) readable.
        preserved_ref: String,
    },
}

impl FetchOutcome {
    /// Whether what tollgate decided on may have changed: the tip moved or was rewritten.
    /// A force-push always needs re-evaluation (a promoted commit may be gone).
    pub fn needs_reevaluation(&self) -> bool {
        !matches!(self.kind, FetchKind::Unchanged)
    }
}

/// The remote side of a mirror.
#[derive(Debug, Clone)]
struct Remote {
    url: RemoteUrl,
    auth: Auth,
}

/// A repository tollgate reads commits from and pushes promotions to: the local repository
/// itself, or a bare mirror of a remote one under `<cache>/repos/<sha256 of the URL>`.
pub struct Mirror {
    repo: Repository,
    remote: Option<Remote>,
    branch: String,
    tip: Oid,
    options: MirrorOptions,
}

/// Settings of a [`Mirror`] beyond where it is.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Wall-clock limit of one clone, fetch or push; `git` is stopped after it.
    pub timeout: Duration,
    /// Limit for establishing an ssh connection.
    pub connect_timeout: Duration,
    /// A PEM bundle of the certificate authorities to trust for HTTPS (`http.sslCAInfo`), for a
    /// server with a private CA; the system's trust store when `None`.
    pub ca_file: Option<PathBuf>,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions { timeout: DEFAULT_TIMEOUT, connect_timeout: Duration::from_secs(30), ca_file: None }
    }
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("path", &self.repo.path())
            .field("remote", &self.remote.as_ref().map(|r| r.url.to_string()))
            .field("branch", &self.branch)
            .field("tip", &self.tip)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens the repository at `location`. A remote is cloned (bare) into `cache_dir` the first
    /// time and opened from there afterwards, without touching the network; call
    /// [`Mirror::fetch`] to bring it up to date.
    ///
    /// # Errors
    ///
    /// [`GitError::BadUrl`], [`GitError::AuthMismatch`], [`GitError::KeyFile`] and
    /// [`GitError::SecretUnavailable`] for bad settings (checked before any network use); the
    /// transport errors ([`GitError::AuthFailed`], [`GitError::Unreachable`], …) when cloning
    /// fails; [`GitError::BranchNotFound`] when the tracked branch does not exist.
    pub fn open(location: &RepoLocation, cache_dir: &Path) -> Result<Mirror, GitError> {
        Mirror::open_with(location, cache_dir, &MirrorOptions::default())
    }

    /// As [`Mirror::open`], with [`MirrorOptions`].
    ///
    /// # Errors
    ///
    /// As [`Mirror::open`].
    pub fn open_with(location: &RepoLocation, cache_dir: &Path, options: &MirrorOptions) -> Result<Mirror, GitError> {
        let (timeout, options) = (options.timeout, options.clone());
        match location {
            RepoLocation::Local(path) => {
                let repo = Repository::discover(path).map_err(repo_err(format!("no Git repository at `{}`", path.display())))?;
                let branch = local_branch(&repo)?;
                let tip = current_tip(&repo, &branch, &path.display().to_string())?;
                let tip = seen(&repo, &branch).unwrap_or(tip);
                Ok(Mirror { repo, remote: None, branch, tip, options })
            }
            RepoLocation::Remote { url, auth, branch } => {
                let url = RemoteUrl::parse(url).map_err(|p| GitError::BadUrl { url: redact_url(url), reason: p.reason, hint: p.hint })?;
                let remote = Remote { url, auth: auth.clone() };
                // Settings are checked (and the token read) before anything touches the disk
                // or the network.
                let env = command::GitEnv::new(&remote.url, &remote.auth, &options)?;
                let dir = mirror_dir(cache_dir, &remote.url);
                let repo = match Repository::open_bare(&dir) {
                    Ok(repo) => repo,
                    Err(_) => clone(&remote.url, &env, &dir, timeout)?,
                };
                let branch = match branch {
                    Some(b) => b.clone(),
                    None => default_branch(&repo, &remote.url)?,
                };
                let tip = current_tip(&repo, &branch, &remote.url.to_string())?;
                let tip = seen(&repo, &branch).unwrap_or(tip);
                Ok(Mirror { repo, remote: Some(remote), branch, tip, options })
            }
        }
    }

    /// Brings the tracked branch up to date (a network fetch for remotes; a look at the branch
    /// for local repositories) and says how it moved since the last fetch.
    ///
    /// # Guarantees
    ///
    /// When the branch was rewritten, the old tip is kept under the returned
    /// [`FetchKind::ForcePush::preserved_ref`] before the new tip is recorded as seen, so the
    /// dropped commits stay readable for as long as the mirror exists.
    ///
    /// # Errors
    ///
    /// The transport errors of [`GitError`]; [`GitError::BranchNotFound`] when the branch was
    /// deleted (its last tip is kept as for a force-push).
    pub fn fetch(&mut self) -> Result<FetchOutcome, GitError> {
        let before = seen(&self.repo, &self.branch);
        // The seen ref is written before the network fetch, so the commit tollgate last handed
        // out is reachable even if the fetch prunes the branch and Git collects garbage.
        if before.is_none() {
            self.set_seen(self.tip)?;
        }
        if let Some(remote) = &self.remote {
            let env = command::GitEnv::new(&remote.url, &remote.auth, &self.options)?;
            let target = remote.url.to_string();
            let dir = self.repo.path().to_owned();
            command::run(
                &dir,
                &["fetch", "--prune", "--no-tags", "origin", "+refs/heads/*:refs/heads/*"],
                &env,
                self.options.timeout,
                "fetch",
                &target,
            )?;
        }
        let target = self.target();
        let after = match current_tip(&self.repo, &self.branch, &target) {
            Ok(after) => after,
            Err(err) => {
                if let Some(old) = before {
                    self.preserve(old)?;
                }
                return Err(err);
            }
        };
        let kind = match before {
            None => FetchKind::Initial,
            Some(old) if old == after => FetchKind::Unchanged,
            Some(old) if self.repo.graph_descendant_of(after, old).map_err(repo_err("cannot compare commits"))? => FetchKind::FastForward,
            Some(old) => {
                let dropped = self.unreachable_from(old, after)?;
                let preserved_ref = self.preserve(old)?;
                tracing::warn!(repo = %target, branch = %self.branch, old = %old, new = %after, dropped = dropped.len(), preserved_ref = %preserved_ref, "force-push detected");
                FetchKind::ForcePush { dropped, preserved_ref }
            }
        };
        self.set_seen(after)?;
        self.tip = after;
        Ok(FetchOutcome { branch: self.branch.clone(), before, after, kind })
    }

    /// The tip of the tracked branch as of the last fetch (or as opened).
    pub fn head(&self) -> Oid {
        self.tip
    }

    /// The branch tracked.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The repository objects are read from (the mirror, or the local repository).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The remote's URL (never with credentials: [`RemoteUrl`] refuses them); `None` for a local
    /// repository.
    pub fn remote_url(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.url.as_str())
    }

    /// The remote's URL without credentials, or the local repository's path: for logs, reports
    /// and audit subjects.
    pub fn target(&self) -> String {
        match &self.remote {
            Some(remote) => remote.url.to_string(),
            None => self.repo.workdir().unwrap_or_else(|| self.repo.path()).display().to_string(),
        }
    }

    /// A [`Source`] reading `commit`'s tree straight from the object database (no checkout), for
    /// `spec::load` and `check`.
    ///
    /// # Errors
    ///
    /// [`GitError::Repo`] when the repository cannot be opened again or `commit` is not a
    /// commit in it.
    pub fn source(&self, commit: Oid) -> Result<Source, GitError> {
        let repo = Repository::open(self.repo.path()).map_err(repo_err("cannot open the repository again"))?;
        repo.find_commit(commit).map_err(repo_err(format!("`{commit}` is not a commit of the repository")))?;
        Ok(Source::Commit { repo, commit, prefix: String::new() })
    }

    /// Publishes `local_commit` (a commit in [`Mirror::repository`], such as a promotion) as
    /// the new tip of `remote_branch`: `git push` for remotes, a ref update for local
    /// repositories. Only a fast-forward is ever made; the branch is created if absent.
    ///
    /// # Errors
    ///
    /// [`GitError::NonFastForward`] when the branch has moved on (fetch, rebuild and retry),
    /// [`GitError::PushRejected`] when the remote refuses for another reason,
    /// [`GitError::CheckedOut`] for the checked-out branch of a local working copy, and the
    /// transport errors.
    pub fn push(&self, local_commit: Oid, remote_branch: &str) -> Result<(), GitError> {
        let target = self.target();
        self.repo.find_commit(local_commit).map_err(repo_err(format!("`{local_commit}` is not a commit of the repository")))?;
        let refname = format!("refs/heads/{remote_branch}");
        if !git2::Reference::is_valid_name(&refname) {
            return Err(GitError::PushRejected { branch: remote_branch.to_owned(), target, reason: "not a valid branch name".into() });
        }
        let Some(remote) = &self.remote else {
            return self.push_local(local_commit, remote_branch, &refname);
        };
        self.push_to(remote, local_commit, &refname, remote_branch)?;
        // The mirror's copy of the branch follows what was pushed; the next fetch confirms it.
        self.repo.reference(&refname, local_commit, true, "tollgate: pushed").map_err(repo_err(format!("cannot update `{refname}`")))?;
        Ok(())
    }

    /// Makes `commit` readable for a review of a change that is not on a branch yet (a pull
    /// request's head, a merge queue's group): for a remote, fetches `remote_ref`
    /// (`refs/pull/N/head`, `refs/heads/gh-readonly-queue/…`) into `refs/tollgate/review/…`, where
    /// it stays readable until the next review of the same ref; a local repository must hold the
    /// commit already. Also brings the branches up to date, for the merge base.
    ///
    /// # Errors
    ///
    /// The transport errors of [`GitError`]; [`GitError::Repo`] when `commit` is still not a
    /// commit of the repository (the ref moved on, or never held it).
    pub fn fetch_review(&self, remote_ref: &str, commit: Oid) -> Result<(), GitError> {
        if let Some(remote) = &self.remote {
            let local: String = remote_ref
                .strip_prefix("refs/")
                .unwrap_or(remote_ref)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.') { c } else { '_' })
                .collect();
            let refspec = format!("+{remote_ref}:refs/tollgate/review/{local}");
            if !git2::Reference::is_valid_name(&format!("refs/tollgate/review/{local}")) || remote_ref.starts_with('-') {
                return Err(GitError::PushRejected {
                    branch: remote_ref.to_owned(),
                    target: self.target(),
                    reason: "not a valid ref name".into(),
                });
            }
            let env = command::GitEnv::new(&remote.url, &remote.auth, &self.options)?;
            let target = remote.url.to_string();
            let dir = self.repo.path().to_owned();
            command::run(
                &dir,
                &["fetch", "--no-tags", "origin", &refspec, "+refs/heads/*:refs/heads/*"],
                &env,
                self.options.timeout,
                "fetch",
                &target,
            )?;
        }
        self.repo
            .find_commit(commit)
            .map_err(repo_err(format!("`{commit}` is not a commit of the repository (fetched `{remote_ref}`)")))?;
        Ok(())
    }

    /// Publishes the mirror's own ref `refname` (such as `refs/tollgate/audit`, where the audit
    /// log's checkpoints are committed) under the same name on the remote, as a fast-forward
    /// only, so that the forge and every clone that fetches it witness it. `false` when there
    /// is nothing to push: no such ref, or a local repository (which holds the ref itself).
    ///
    /// # Errors
    ///
    /// As [`Mirror::push`].
    pub fn push_ref(&self, refname: &str) -> Result<bool, GitError> {
        let Some(remote) = &self.remote else { return Ok(false) };
        let Ok(local) = self.repo.refname_to_id(refname) else { return Ok(false) };
        self.push_to(remote, local, refname, refname)?;
        Ok(true)
    }

    /// `git push` of `local` to `refname` on the remote, a fast-forward only; `name` says which
    /// branch or ref in errors.
    fn push_to(&self, remote: &Remote, local: Oid, refname: &str, name: &str) -> Result<(), GitError> {
        let target = self.target();
        let env = command::GitEnv::new(&remote.url, &remote.auth, &self.options)?;
        let refspec = format!("{local}:{refname}");
        let dir = self.repo.path().to_owned();
        let out = command::run_raw(&dir, &["push", "--porcelain", "origin", &refspec], &env, self.options.timeout, "push", &target)?;
        if !out.success {
            // `--porcelain` prints one line per ref on stdout: `!<tab>src:dst<tab>[rejected] (why)`.
            let rejected = out.stdout.lines().find(|l| l.starts_with('!')).map(|l| l.rsplit('\t').next().unwrap_or_default().to_owned());
            return Err(match rejected {
                Some(status) if status.starts_with("[rejected]") => GitError::NonFastForward { branch: name.to_owned(), target },
                Some(status) => {
                    let reason = status.split_once('(').map_or(status.as_str(), |(_, r)| r.trim_end_matches(')')).to_owned();
                    GitError::PushRejected { branch: name.to_owned(), target, reason }
                }
                None => command::classify("push", &target, &out.stderr),
            });
        }
        Ok(())
    }

    fn push_local(&self, commit: Oid, branch: &str, refname: &str) -> Result<(), GitError> {
        let target = self.target();
        if !self.repo.is_bare()
            && let Ok(head) = self.repo.head()
            && head.name().ok() == Some(refname)
        {
            return Err(GitError::CheckedOut { branch: branch.to_owned(), path: PathBuf::from(target) });
        }
        match self.repo.refname_to_id(refname) {
            Ok(old) if old == commit => Ok(()),
            Ok(old) => {
                if !self.repo.graph_descendant_of(commit, old).map_err(repo_err("cannot compare commits"))? {
                    return Err(GitError::NonFastForward { branch: branch.to_owned(), target });
                }
                self.repo
                    .reference_matching(refname, commit, true, old, "tollgate: promotion")
                    .map_err(repo_err(format!("cannot update `{refname}`")))?;
                Ok(())
            }
            Err(_) => {
                self.repo
                    .reference(refname, commit, false, "tollgate: promotion")
                    .map_err(repo_err(format!("cannot create `{refname}`")))?;
                Ok(())
            }
        }
    }

    fn set_seen(&self, tip: Oid) -> Result<(), GitError> {
        let name = format!("{SEEN_PREFIX}{}", self.branch);
        self.repo.reference(&name, tip, true, "tollgate: seen").map_err(repo_err(format!("cannot write `{name}`")))?;
        Ok(())
    }

    /// Keeps `old` reachable under `refs/tollgate/force-pushed/<branch>/<unix time>-<short id>`.
    fn preserve(&self, old: Oid) -> Result<String, GitError> {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let short = &old.to_string()[..12];
        let mut name = format!("{FORCE_PUSHED_PREFIX}{}/{secs}-{short}", self.branch);
        let mut n = 1;
        while self.repo.find_reference(&name).is_ok_and(|r| r.target() != Some(old)) {
            n += 1;
            name = format!("{FORCE_PUSHED_PREFIX}{}/{secs}-{short}-{n}", self.branch);
        }
        self.repo.reference(&name, old, true, "tollgate: history rewritten").map_err(repo_err(format!("cannot write `{name}`")))?;
        Ok(name)
    }

    fn unreachable_from(&self, old: Oid, new: Oid) -> Result<Vec<Oid>, GitError> {
        let mut walk = self.repo.revwalk().map_err(repo_err("cannot walk history"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME).map_err(repo_err("cannot walk history"))?;
        walk.push(old).map_err(repo_err("cannot walk history"))?;
        walk.hide(new).map_err(repo_err("cannot walk history"))?;
        walk.collect::<Result<Vec<_>, _>>().map_err(repo_err("cannot walk history"))
    }
}

/// `<cache>/repos/<sha256 of the URL>`: one mirror per remote, whatever the branch.
fn mirror_dir(cache_dir: &Path, url: &RemoteUrl) -> PathBuf {
    cache_dir.join("repos").join(hex::encode(Sha256::digest(url.as_str().as_bytes())))
}

/// Clones `url` bare into a temporary sibling of `dir` and renames it into place, so that an
/// interrupted clone never leaves a half mirror behind.
fn clone(url: &RemoteUrl, env: &command::GitEnv, dir: &Path, timeout: Duration) -> Result<Repository, GitError> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|source| GitError::Cache { path: parent.to_owned(), source })?;
    let tmp = tempfile::Builder::new()
        .prefix(".clone-")
        .tempdir_in(parent)
        .map_err(|source| GitError::Cache { path: parent.to_owned(), source })?;
    let into = tmp.path().join("repo.git");
    let into_str = into.to_string_lossy().into_owned();
    // `--` ends the options: the URL was checked not to start with `-`, this is belt and braces.
    command::run(parent, &["clone", "--bare", "--no-tags", "--", url.as_str(), &into_str], env, timeout, "clone", &url.to_string())?;
    {
        let repo = Repository::open_bare(&into).map_err(repo_err("cannot open the new mirror"))?;
        let mut config = repo.config().map_err(repo_err("cannot configure the new mirror"))?;
        // Reflogs in the mirror record every move of every branch, as a second trail.
        config.set_str("core.logAllRefUpdates", "always").map_err(repo_err("cannot configure the new mirror"))?;
        config.set_str("remote.origin.fetch", "+refs/heads/*:refs/heads/*").map_err(repo_err("cannot configure the new mirror"))?;
    }
    match std::fs::rename(&into, dir) {
        Ok(()) => {}
        // Another process finished the same clone first: use its mirror.
        Err(_) if Repository::open_bare(dir).is_ok() => {}
        Err(source) => return Err(GitError::Cache { path: dir.to_owned(), source }),
    }
    Repository::open_bare(dir).map_err(repo_err("cannot open the mirror"))
}

/// The branch the mirror's `HEAD` points at: the remote's default branch at clone time.
fn default_branch(repo: &Repository, url: &RemoteUrl) -> Result<String, GitError> {
    let head = repo.find_reference("HEAD").map_err(repo_err("cannot read the mirror's HEAD"))?;
    match head.symbolic_target().ok().flatten().and_then(|t| t.strip_prefix("refs/heads/")) {
        Some(branch) => Ok(branch.to_owned()),
        None => Err(GitError::BranchNotFound { branch: "(default)".into(), target: url.to_string(), available: branches(repo) }),
    }
}

/// The branch a local repository's `HEAD` is on, or `HEAD` itself when detached.
fn local_branch(repo: &Repository) -> Result<String, GitError> {
    let head = repo.find_reference("HEAD").map_err(repo_err("cannot read HEAD"))?;
    Ok(head.symbolic_target().ok().flatten().and_then(|t| t.strip_prefix("refs/heads/")).unwrap_or("HEAD").to_owned())
}

fn current_tip(repo: &Repository, branch: &str, target: &str) -> Result<Oid, GitError> {
    let found = if branch == "HEAD" {
        repo.head().ok().and_then(|h| h.peel_to_commit().ok())
    } else {
        repo.find_branch(branch, BranchType::Local).ok().and_then(|b| b.get().peel_to_commit().ok())
    };
    found.map(|c| c.id()).ok_or_else(|| GitError::BranchNotFound {
        branch: branch.to_owned(),
        target: target.to_owned(),
        available: branches(repo),
    })
}

fn branches(repo: &Repository) -> String {
    let mut names: Vec<String> = repo
        .branches(Some(BranchType::Local))
        .map(|it| it.filter_map(Result::ok).filter_map(|(b, _)| b.name().ok().flatten().map(|n| format!("`{n}`"))).collect())
        .unwrap_or_default();
    names.sort();
    if names.is_empty() { "(none)".into() } else { names.join(", ") }
}

fn seen(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.refname_to_id(&format!("{SEEN_PREFIX}{branch}")).ok()
}

/// Records a fetch in the audit trail: a force-push as [`ACTION_FORCE_PUSH`] (old and new tip,
/// the dropped commits and the ref that keeps them), a first sighting or a fast-forward as
/// [`ACTION_HEAD_MOVED`]. An unchanged branch is not recorded: the trail says when the input
/// of decisions changed, not how often tollgate looked.
///
/// `repo` names the repository without credentials (see [`Mirror::target`]); the subject is
/// `repo/<repo>@<branch>`.
///
/// # Errors
///
/// [`AuditError`] when the event cannot be appended.
pub async fn record_fetch(log: &AuditLog, repo: &str, outcome: &FetchOutcome) -> Result<Option<StoredEvent>, AuditError> {
    let repo = redact_url(repo);
    let subject = format!("repo/{repo}@{}", outcome.branch);
    let before = outcome.before.map(|o| o.to_string());
    let (action, payload) = match &outcome.kind {
        FetchKind::Unchanged => return Ok(None),
        FetchKind::Initial | FetchKind::FastForward => (
            ACTION_HEAD_MOVED,
            json!({
                "repo": repo,
                "branch": outcome.branch,
                "kind": (if outcome.kind == FetchKind::Initial { "initial" } else { "fast_forward" }),
                "before": before,
                "after": outcome.after.to_string(),
            }),
        ),
        FetchKind::ForcePush { dropped, preserved_ref } => (
            ACTION_FORCE_PUSH,
            json!({
                "repo": repo,
                "branch": outcome.branch,
                "before": before,
                "after": outcome.after.to_string(),
                "dropped": dropped.iter().take(MAX_AUDITED_DROPPED).map(Oid::to_string).collect::<Vec<_>>(),
                "dropped_count": dropped.len(),
                "preserved_ref": preserved_ref,
            }),
        ),
    };
    let event = NewEvent::new("tollgate", action, subject, payload).map_err(StoreError::from)?;
    Ok(log.append(&[event]).await?.pop())
}
