//! The reconciler: one pass reads the config repo at a commit, gathers every decision's inputs,
//! decides (see [`tollgate_decision`]), records each transition in the audit trail and promotes
//! what may be promoted.
//!
//! A pass is split in three: [`prepare`] does the repo-side work (load, check, gates, authors,
//! windows at the clock's instant) without the store; [`decide_all`] reads approvals and past
//! promotions from the store and decides; [`act`] records and promotes. `status` and `explain`
//! run the first two only.
//!
//! # Guarantees
//!
//! - Idempotent: a decision is recorded only when it differs from the last one recorded for its
//!   (release, environment); a promotion is written only when Git does not already name the
//!   release with its content. A crash between the promotion commit and its record is healed by
//!   the next pass (the commit is found and recorded, not made again).
//! - Nothing is promoted into an environment before the same content was promoted to the one it
//!   promotes from, in Git.

#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::Repository;
use serde::Serialize;
use serde_json::{Value, json};

use crate::github::{self, GitHubConfig};
use crate::promote::{self, PromoteError};
use tollgate_check::CheckOptions;
use tollgate_decision::approvals::{self, ApprovalPolicy, Directory};
use tollgate_decision::{Decision, DecisionInputs, FindingInput, GateInput, PromotedInput, PullRequestInput, State, WindowInput};
use tollgate_spec::diag::Severity;
use tollgate_spec::refs::Index;
use tollgate_spec::repo::{RepoError, RepoPath, Source};
use tollgate_spec::{ConfigRepo, Document, Kind, LoadOptions};
use tollgate_store::{AuditError, AuditLog};
use tollgate_store::{NewRecord, RecordKind, Store, StoreError};

/// The bot identity promotion commits are made with, unless configured.
pub const DEFAULT_BOT: (&str, &str) = ("tollgate", "tollgate-bot@users.noreply.tollgate.dev");

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The config repo could not be read.
    #[error("failed to read the config repo")]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// The audit log refused an event.
    #[error("the audit log failed")]
    Audit(#[from] AuditError),
    /// A promotion could not be written.
    #[error("failed to promote `{release}` to {environment}")]
    Promote {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why.
        #[source]
        source: PromoteError,
    },
    /// A promotion commit could not be pushed.
    #[error("failed to push the promotion of `{release}` to {environment}")]
    Push {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why (boxed: Git errors carry the command's output).
        #[source]
        source: Box<crate::git::GitError>,
    },
    /// The pull request of a promotion could not be opened, found or read. Nothing of the
    /// promotion is written when the token or repository is wrong: GitHub is asked before the
    /// branch is pushed.
    #[error("failed to open the pull request promoting `{release}` to {environment}")]
    PullRequest {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why (boxed: it is large, and rare).
        #[source]
        source: Box<github::GitHubError>,
    },
    /// `--release` names no release.
    #[error("no release named `{0}` in the config repo")]
    UnknownRelease(String),
}

/// How to run a pass.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config repo (a folder in a Git repository).
    pub repo: PathBuf,
    /// The revision to read (default `HEAD`).
    pub rev: String,
    /// The clock.
    pub now: jiff::Timestamp,
    /// Only this release (for `explain`).
    pub release: Option<String>,
    /// Gate execution settings.
    pub gates: GateSettings,
    /// Commit identity for promotions.
    pub bot: (String, String),
    /// Worker threads for checks (0 = one per core).
    pub jobs: usize,
}

/// Gate execution settings.
#[derive(Debug, Clone, Default)]
pub struct GateSettings {
    /// Where gate results are cached.
    pub cache_dir: Option<PathBuf>,
    /// `auto`, `cpu` or `cuda`.
    pub device: String,
}

/// One environment on a release's promotion path, as the repo describes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvPlan {
    /// Environment name.
    pub name: String,
    /// Where it promotes from.
    pub promotes_from: Option<String>,
    /// Its approval policy.
    pub approvals: ApprovalPolicy,
    /// Gate categories it requires.
    pub required_gates: Vec<String>,
    /// Its windows at the clock's instant.
    pub window: WindowInput,
    /// `commit`, `push` or `pullRequest`.
    pub mode: String,
    /// The branch promotions go to (default: the branch being reconciled).
    pub branch: Option<String>,
    /// The environment's spec, to evaluate its windows again at another instant.
    #[serde(skip)]
    pub spec: Value,
}

/// A release with everything the repo says about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePlan {
    /// Release name.
    pub name: String,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// The version's artifact digest.
    pub model_sha256: Option<String>,
    /// The serving image.
    pub image: Option<String>,
    /// Its spec.
    pub spec: Value,
    /// Its file, as a path in the Git repository.
    pub git_path: String,
    /// Emails of the authors of the release change (separation of duties).
    pub authors: Vec<String>,
    /// When the release file last changed (commit time, seconds since the epoch); of two
    /// releases of one model, the later request wins.
    pub changed_at: i64,
    /// Findings on the release or what it references.
    pub findings: Vec<FindingInput>,
    /// Gate results.
    pub gates: Option<GateOutcome>,
    /// What approvals bind to.
    pub content_digest: String,
    /// Its promotion path, first environment first.
    pub path: Vec<EnvPlan>,
}

/// What gates said about a release.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateOutcome {
    /// Digest of the results (`None` when they could not be computed).
    pub digest: Option<String>,
    /// Each category the release defines, and whether it passed.
    pub categories: BTreeMap<String, bool>,
    /// One line per failing threshold.
    pub failures: Vec<String>,
    /// Why they could not be computed.
    pub error: Option<String>,
    /// The full results, for the record.
    pub results: Value,
}

/// What `deploy/<env>/<model>.yaml` holds at the commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitPromotion {
    /// The release named.
    pub release: String,
    /// Its content digest, when recorded.
    pub content_digest: Option<String>,
    /// The decision id, when tollgate wrote it.
    pub decision: Option<String>,
}

/// The repo side of a pass.
#[derive(Debug)]
pub struct Prepared {
    /// The commit read.
    pub commit: String,
    /// The branch it is the tip of, when it is one.
    pub branch: Option<String>,
    /// Policy bundle digest.
    pub policy_digest: Option<String>,
    /// Fatal findings that stop the whole pass (unreadable input).
    pub fatal: Vec<FindingInput>,
    /// Every finding of the check, kept so that an incremental pass can replace only what a
    /// change affects.
    findings: Vec<tollgate_spec::diag::Finding>,
    /// Releases.
    pub releases: Vec<ReleasePlan>,
    /// Indexes into `releases` by model name.
    pub by_model: HashMap<String, Vec<usize>>,
    /// Users and groups.
    pub directory: Directory,
    /// Promotions in Git, by (environment, model).
    pub promotions: HashMap<(String, String), GitPromotion>,
    /// The Git repository's directory and the config repo's folder in it.
    pub git_dir: PathBuf,
    /// The config repo's folder inside the Git repository.
    pub prefix: String,
    /// The clock.
    pub now: jiff::Timestamp,
    /// `spec.github` of `tollgate.yaml`: where pull requests are opened.
    pub github: Option<GitHubConfig>,
}

fn finding_input(f: &tollgate_spec::diag::Finding) -> FindingInput {
    FindingInput { stage: f.stage.as_str().to_owned(), rule: f.rule.clone(), location: f.location(), message: f.message.clone() }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Reads the repo at `opts.rev` and gathers everything but the store's part.
///
/// # Errors
///
/// [`ReconcileError::Repo`] when the repository or revision cannot be read;
/// [`ReconcileError::UnknownRelease`].
pub fn prepare(opts: &Options) -> Result<Prepared, ReconcileError> {
    let source = Source::commit(&opts.repo, &opts.rev)?;
    let Source::Commit { repo: git, commit, prefix } = &source else { unreachable!("a commit source") };
    let branch = branch_of(git, &opts.rev);
    let git_dir = git.path().to_owned();
    let prefix = prefix.clone();
    let commit = *commit;
    let repo = tollgate_spec::load(&source, &LoadOptions { jobs: opts.jobs })?;
    let bundle = tollgate_check::compile_policies(&repo);
    let (bundle, compile_findings) = match bundle {
        Ok(b) => (Some(b), Vec::new()),
        Err(f) => (None, f),
    };
    let author =
        tollgate_spec::repo::commit_author(&opts.repo, &commit.to_string()).map(|(name, email)| tollgate_check::Author { name, email });
    let report = tollgate_check::check(&repo, bundle.as_ref(), &CheckOptions { changes: None, jobs: opts.jobs, author });
    let fatal = fatal_of(report.findings.iter().chain(&compile_findings));
    let index = Index::new(&repo);
    let directory = Directory::from_config(repo.config());
    let promotions = git_promotions(&repo);
    let mut releases = Vec::new();
    for doc in repo.of_kind(Kind::Release) {
        if opts.release.as_deref().is_some_and(|r| r != doc.name) {
            continue;
        }
        releases.push(release_plan(&repo, &index, &report.findings, doc, git, commit, &prefix, opts));
    }
    if let Some(r) = &opts.release
        && releases.is_empty()
    {
        return Err(ReconcileError::UnknownRelease(r.clone()));
    }
    // Newest request first: when two releases of a model may enter an environment in the same
    // pass, the newer one is promoted and the older one is superseded.
    releases.sort_by(|a, b| b.changed_at.cmp(&a.changed_at).then_with(|| b.name.cmp(&a.name)));
    let mut by_model: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        by_model.entry(r.model.clone()).or_default().push(i);
    }
    Ok(Prepared {
        by_model,
        commit: commit.to_string(),
        branch,
        policy_digest: report.policy_digest.clone(),
        fatal,
        findings: report.findings,
        releases,
        directory,
        promotions,
        git_dir,
        prefix,
        now: opts.now,
        github: repo.config().and_then(|c| GitHubConfig::from_config(&c.value)),
    })
}

fn fatal_of<'f>(findings: impl Iterator<Item = &'f tollgate_spec::diag::Finding>) -> Vec<FindingInput> {
    let mut fatal: Vec<FindingInput> = findings.filter(|f| f.severity == Severity::Fatal).map(finding_input).collect();
    fatal.dedup();
    fatal
}

/// Rules that judge the repo as a whole; a scoped check computes them over what it loaded.
const REPO_WIDE_RULES: [&str; 4] = ["duplicate-name", "duplicate-config", "promotion-order", "promotion-cycle"];

fn branch_of(git: &Repository, rev: &str) -> Option<String> {
    git.head().ok().filter(|_| rev == "HEAD").and_then(|h| h.shorthand().ok().map(str::to_owned)).or_else(|| {
        let name = rev.strip_prefix("refs/heads/").unwrap_or(rev);
        git.find_branch(name, git2::BranchType::Local).ok().map(|_| name.to_owned())
    })
}

/// Prepares the pass at `opts.rev` from the pass prepared at an earlier commit, re-reading only
/// what changed: the release plans a change can affect (the scope of `check --base`, which
/// knows every other document by summary) are made again; every other plan, whose inputs are
/// all unchanged files, is kept. `None` when that does not apply (a change to `tollgate.yaml`,
/// a policy, or a file that is not a document, such as data or an artifact the gates read;
/// a single-release pass), and the caller prepares from scratch.
///
/// # Errors
///
/// As [`prepare`].
pub fn prepare_incremental(opts: &Options, last: &Prepared) -> Result<Option<Prepared>, ReconcileError> {
    if opts.release.is_some() {
        return Ok(None);
    }
    let (repo, changes) = tollgate_check::load(&opts.repo, Some(&opts.rev), Some(&last.commit), opts.jobs)?;
    let Some(changes) = changes.filter(|_| !repo.others.is_empty()) else { return Ok(None) };
    // Gates read data and artifacts by path: a change to any file that is not a document may
    // change a result, so it prepares from scratch.
    let non_document = changes.changed.iter().any(|p| !repo.files.contains_key(p))
        || changes.deleted.iter().any(|p| ![".yaml", ".yml", ".json"].iter().any(|e| p.as_str().ends_with(e)));
    if non_document {
        return Ok(None);
    }
    let source = Source::commit(&opts.repo, &opts.rev)?;
    let Source::Commit { repo: git, commit, prefix } = &source else { unreachable!("a commit source") };
    let (bundle, compile_findings) = match tollgate_check::compile_policies(&repo) {
        Ok(b) => (Some(b), Vec::new()),
        Err(f) => (None, f),
    };
    let author =
        tollgate_spec::repo::commit_author(&opts.repo, &commit.to_string()).map(|(name, email)| tollgate_check::Author { name, email });
    let touched: HashSet<String> = changes.changed.iter().chain(&changes.deleted).map(ToString::to_string).collect();
    let index = Index::new(&repo);
    let scope = tollgate_check::scope(&repo, &index, Some(&changes));
    let in_scope: HashSet<String> = scope.iter().map(|d| d.id()).collect();
    let loaded: HashSet<String> = repo.documents.iter().map(Document::id).collect();
    let report = tollgate_check::check(&repo, bundle.as_ref(), &CheckOptions { changes: Some(changes.clone()), jobs: opts.jobs, author });

    // The findings: the last pass's, with what the change affects replaced by the scoped check's.
    let affects = |f: &tollgate_spec::diag::Finding| {
        touched.contains(&f.file)
            || f.document.as_ref().is_some_and(|d| in_scope.contains(d))
            || (REPO_WIDE_RULES.contains(&f.rule.as_str()) && f.document.as_ref().is_none_or(|d| loaded.contains(d)))
    };
    let mut findings: Vec<tollgate_spec::diag::Finding> = last.findings.iter().filter(|f| !affects(f)).cloned().collect();
    findings.extend(report.findings.iter().filter(|f| affects(f)).cloned());
    tollgate_spec::diag::sort(&mut findings);
    findings.dedup();

    let affected: Vec<&Document> = scope.iter().copied().filter(|d| d.kind == Kind::Release).collect();
    let mut gone: HashSet<&str> = affected.iter().map(|d| d.name.as_str()).collect();
    gone.extend(changes.deleted_documents.iter().filter(|(k, _)| *k == Kind::Release).map(|(_, n)| n.as_str()));
    let mut releases: Vec<ReleasePlan> = last.releases.iter().filter(|r| !gone.contains(r.name.as_str())).cloned().collect();
    for doc in affected {
        releases.push(release_plan(&repo, &index, &findings, doc, git, *commit, prefix, opts));
    }
    releases.sort_by(|a, b| b.changed_at.cmp(&a.changed_at).then_with(|| b.name.cmp(&a.name)));
    let mut by_model: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        by_model.entry(r.model.clone()).or_default().push(i);
    }

    let mut promotions: HashMap<(String, String), GitPromotion> = last
        .promotions
        .iter()
        .filter(|((env, model), _)| !touched.contains(&promote::deploy_path(env, model)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    promotions.extend(git_promotions(&repo));
    let fatal = fatal_of(findings.iter().chain(&compile_findings));

    let mut prepared = Prepared {
        by_model,
        commit: commit.to_string(),
        branch: branch_of(git, &opts.rev),
        policy_digest: last.policy_digest.clone(),
        fatal,
        findings,
        releases,
        directory: last.directory.clone(),
        github: last.github.clone(),
        promotions,
        git_dir: git.path().to_owned(),
        prefix: prefix.clone(),
        now: opts.now,
    };
    prepared.set_clock(opts.now);
    Ok(Some(prepared))
}

fn git_promotions(repo: &ConfigRepo) -> HashMap<(String, String), GitPromotion> {
    let mut out = HashMap::new();
    for doc in repo.of_kind(Kind::Promotion) {
        let (Some(env), Some(model), Some(release)) =
            (doc.str_at("/spec/environment"), doc.str_at("/spec/model/name"), doc.str_at("/spec/release"))
        else {
            continue;
        };
        // Only the file at the conventional path counts; a copy elsewhere promotes nothing.
        if doc.file.path.as_str() != promote::deploy_path(env, model) {
            continue;
        }
        out.insert(
            (env.to_owned(), model.to_owned()),
            GitPromotion {
                release: release.to_owned(),
                content_digest: doc.str_at("/spec/contentDigest").map(str::to_owned),
                decision: doc.str_at("/spec/decision").map(str::to_owned),
            },
        );
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn release_plan(
    repo: &ConfigRepo,
    index: &Index<'_>,
    findings: &[tollgate_spec::diag::Finding],
    doc: &Document,
    git: &Repository,
    commit: git2::Oid,
    prefix: &str,
    opts: &Options,
) -> ReleasePlan {
    let model = doc.str_at("/spec/model/name").unwrap_or_default().to_owned();
    let version = doc.str_at("/spec/model/version").unwrap_or_default().to_owned();
    let model_doc = index.get(Kind::Model, &model);
    let model_sha256 = model_doc
        .and_then(|m| m.spec().get("versions").and_then(Value::as_array))
        .and_then(|vs| vs.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version.as_str())))
        .and_then(|v| v.pointer("/artifact/sha256").and_then(Value::as_str))
        .map(str::to_owned);
    let image = doc.str_at("/spec/serving/image").map(str::to_owned);
    let target = doc.str_at("/spec/environment").unwrap_or_default();
    let path_docs = index.promotion_path(target);

    // Findings on the release, its model, its datasets, the environments on its path and the
    // Config block it.
    let mut related: Vec<String> = vec![doc.id()];
    related.extend(model_doc.map(Document::id));
    for ptr in ["/spec/gates/evaluation", "/spec/gates/reference"] {
        if let Some(d) = doc.str_at(ptr).and_then(|n| index.get(Kind::Dataset, n)) {
            related.push(d.id());
        }
    }
    related.extend(path_docs.iter().map(|e| e.id()));
    related.extend(repo.config().map(Document::id));
    let files: Vec<&str> = [doc.file.path.as_str()].into_iter().chain(model_doc.map(|m| m.file.path.as_str())).collect();
    let mut mine: Vec<FindingInput> = findings
        .iter()
        .filter(|f| f.severity != Severity::Warning)
        .filter(|f| f.document.as_ref().is_some_and(|d| related.contains(d)) || (f.document.is_none() && files.contains(&f.file.as_str())))
        .map(finding_input)
        .collect();
    mine.dedup();

    let git_path = if prefix.is_empty() { doc.file.path.to_string() } else { format!("{prefix}/{}", doc.file.path) };
    let change = promote::last_change(git, commit, &git_path, 10_000);
    let changed_at = change.as_ref().map_or(0, |c| c.1);
    let authors = change.map(|c| c.0).into_iter().collect();

    let defines_gates =
        doc.spec().get("gates").is_some_and(|g| ["quality", "fairness", "dataQuality", "drift"].iter().any(|k| g.get(k).is_some()));
    // Gate data (datasets, artifacts) is read from the working tree of a local repository, or
    // for a mirror (no working tree) from the commit, written out; either way every file's
    // digest is checked against the spec at this commit before it is used.
    let gates = defines_gates.then(|| {
        let root = match git.workdir() {
            Some(w) => Ok(w.join(prefix)),
            None => materialize(git, commit, prefix, &gate_files(index, doc)),
        };
        match root {
            Ok(root) => crate::gating_bridge::run(repo, &doc.name, &opts.gates, Some(&root)),
            Err(err) => GateOutcome {
                digest: None,
                categories: BTreeMap::new(),
                failures: vec![],
                error: Some(format!("cannot read the gates' files from the commit: {err}")),
                results: Value::Null,
            },
        }
    });
    let content_digest = tollgate_decision::content_digest(
        doc.spec(),
        model_sha256.as_deref(),
        image.as_deref(),
        gates.as_ref().and_then(|g| g.digest.as_deref()),
    );

    let path = path_docs
        .iter()
        .map(|env| EnvPlan {
            name: env.name.clone(),
            promotes_from: env.str_at("/spec/promotesFrom").map(str::to_owned),
            approvals: ApprovalPolicy::from_environment(env),
            required_gates: str_list(env.spec().get("gates")),
            window: crate::gating_bridge::window(env, opts.now),
            mode: env.str_at("/spec/promotion/mode").unwrap_or("commit").to_owned(),
            branch: env.str_at("/spec/promotion/branch").map(str::to_owned),
            spec: env.spec().clone(),
        })
        .collect();
    ReleasePlan {
        name: doc.name.clone(),
        model,
        version,
        model_sha256,
        image,
        spec: doc.spec().clone(),
        git_path,
        authors,
        changed_at,
        findings: mine,
        gates,
        content_digest,
        path,
    }
}

/// The repo paths a release's gates read: every artifact of its model and of a named
/// baseline model, and its evaluation and reference datasets.
fn gate_files(index: &Index<'_>, release: &Document) -> Vec<RepoPath> {
    let mut models = vec![release.str_at("/spec/model/name")];
    models.push(release.str_at("/spec/gates/baseline").and_then(|b| b.split_once('@')).map(|(m, _)| m));
    let mut uris: Vec<&str> = Vec::new();
    for model in models.into_iter().flatten().filter_map(|m| index.get(Kind::Model, m)) {
        let versions = model.value.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten();
        uris.extend(versions.filter_map(|v| v.pointer("/artifact/uri").and_then(Value::as_str)));
    }
    for pointer in ["/spec/gates/evaluation", "/spec/gates/reference"] {
        if let Some(d) = release.str_at(pointer).and_then(|n| index.get(Kind::Dataset, n)) {
            uris.extend(d.str_at("/spec/uri"));
        }
    }
    uris.into_iter()
        .filter(|u| !u.contains("://") || u.starts_with("file://"))
        .filter_map(|u| RepoPath::new(u.trim_start_matches("file://")).ok())
        .collect()
}

/// Writes `paths` as they are at `commit` under `<git dir>/tollgate/checkout/<commit>/`, for a
/// repository without a working tree, and returns that folder. Blobs are streamed; a file
/// already written for this commit is kept; folders of other commits are removed.
fn materialize(git: &Repository, commit: git2::Oid, prefix: &str, paths: &[RepoPath]) -> Result<PathBuf, git2::Error> {
    let base = git.path().join("tollgate").join("checkout");
    let dir = base.join(commit.to_string());
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten().filter(|e| e.path() != dir) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let tree = git.find_commit(commit)?.tree()?;
    let odb = git.odb()?;
    let io = |e: std::io::Error| git2::Error::from_str(&e.to_string());
    for path in paths {
        let full = if prefix.is_empty() { path.to_string() } else { format!("{prefix}/{path}") };
        // A file the commit does not have is reported by the gates, which look for it.
        let Ok(entry) = tree.get_path(Path::new(&full)) else { continue };
        let target = dir.join(path.as_str());
        if target.exists() {
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap_or(&dir)).map_err(io)?;
        let mut reader = odb.reader(entry.id())?.0;
        let mut tmp = tempfile::NamedTempFile::new_in(target.parent().unwrap_or(&dir)).map_err(io)?;
        std::io::copy(&mut reader, &mut tmp).map_err(io)?;
        tmp.persist(&target).map_err(|e| io(e.error))?;
    }
    Ok(dir)
}

fn gate_input(plan: &ReleasePlan, env: &EnvPlan) -> GateInput {
    if env.required_gates.is_empty() {
        return GateInput::NotRequired;
    }
    match &plan.gates {
        None => GateInput::Results {
            digest: String::new(),
            required: env.required_gates.iter().map(|c| (c.clone(), None)).collect(),
            failures: vec![],
        },
        Some(g) => match (&g.error, &g.digest) {
            (Some(e), _) => GateInput::Unavailable { reason: e.clone() },
            (None, None) => GateInput::Unavailable { reason: "no results".into() },
            (None, Some(d)) => GateInput::Results {
                digest: d.clone(),
                required: env.required_gates.iter().map(|c| (c.clone(), g.categories.get(c).copied())).collect(),
                failures: g.failures.clone(),
            },
        },
    }
}

/// Whether release `a` is a newer request than `b` (later change, then later name).
fn newer(a: &ReleasePlan, b: &ReleasePlan) -> bool {
    (a.changed_at, &a.name) > (b.changed_at, &b.name)
}

/// The store subject of a promotion slot.
pub fn promotion_subject(env: &str, model: &str) -> String {
    format!("deploy/{env}/{model}")
}

/// What the reconciler needs from the store, kept in memory and brought up to date by reading
/// only the records appended since the last look (by audit sequence number). One view per
/// reconciler process; `status` and `explain` load one for a single pass.
#[derive(Debug, Default)]
pub struct StoreView {
    /// Every record up to this audit sequence number is applied.
    seq: u64,
    /// Approval records (seq, doc) by subject.
    approvals: HashMap<String, Vec<(u64, Value)>>,
    /// Promotion records by slot subject, oldest first.
    promotions: HashMap<String, Vec<Value>>,
    /// The newest recorded decision (id, state) by subject; loaded only when `decisions` is set.
    decisions: HashMap<String, (String, String)>,
    /// The newest recorded content digest by release subject (with `decisions`).
    releases: HashMap<String, String>,
    /// The newest recorded gate-results digest by release subject (with `decisions`).
    gate_results: HashMap<String, String>,
    /// The payload of the newest `promotion.pull_request_*` event by slot subject.
    pull_requests: HashMap<String, Value>,
    track_decisions: bool,
}

impl StoreView {
    /// A view that also tracks recorded decisions (for the reconciler, which records changes).
    pub fn with_decisions() -> StoreView {
        StoreView { track_decisions: true, ..StoreView::default() }
    }

    /// Applies every record appended since the last refresh.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    pub async fn refresh(&mut self, store: &Store) -> Result<(), StoreError> {
        use futures_util::StreamExt as _;
        let head = store.head().await?.size;
        if head <= self.seq {
            return Ok(());
        }
        let from = self.seq + 1;
        let mut kinds = vec![RecordKind::Approval, RecordKind::Promotion];
        if self.track_decisions {
            kinds.extend([RecordKind::Decision, RecordKind::Release, RecordKind::GateResult]);
        }
        for kind in kinds {
            let mut rows = store.records(kind, from, head);
            while let Some(row) = rows.next().await {
                let row = row?;
                match kind {
                    RecordKind::Approval => self.approvals.entry(row.subject).or_default().push((row.audit_seq, row.doc)),
                    RecordKind::Promotion => self.promotions.entry(row.subject).or_default().push(row.doc),
                    RecordKind::Release => {
                        let d = row.doc.get("contentDigest").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.releases.insert(row.subject, d);
                    }
                    RecordKind::GateResult => {
                        let d = row.doc.get("digest").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.gate_results.insert(row.subject, d);
                    }
                    _ => {
                        let id = row.doc.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let state = row.doc.get("state").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.decisions.insert(row.subject, (id, state));
                    }
                }
            }
        }
        // Pull-request events are plain audit events (their action names what happened), read
        // through their own index.
        let mut events = store.pull_request_events(from, head);
        while let Some(ev) = events.next().await {
            let ev = ev?;
            if ev.action.starts_with(PULL_REQUEST_ACTION_PREFIX)
                && let Ok(decoded) = tollgate_audit::event::Event::decode(&ev.body)
            {
                self.pull_requests.insert(ev.subject, decoded.payload);
            }
        }
        self.seq = head;
        Ok(())
    }

    /// Applies a promotion this process just recorded, so the rest of the pass sees it. (The
    /// next refresh reads it again; a repeated entry changes no answer.)
    fn note_promotion(&mut self, env: &str, model: &str, doc: Value) {
        self.promotions.entry(promotion_subject(env, model)).or_default().push(doc);
    }

    /// The newest pull-request event's payload of a slot, when it is about this release with
    /// this content.
    fn pull_request(&self, env: &str, plan: &ReleasePlan) -> Option<&Value> {
        self.pull_requests.get(&promotion_subject(env, &plan.model)).filter(|p| {
            p.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
                && p.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
        })
    }

    fn promotions(&self, env: &str, model: &str) -> &[Value] {
        self.promotions.get(&promotion_subject(env, model)).map_or(&[], Vec::as_slice)
    }
}

/// Decides every (release, environment) of a prepared pass, reading approvals and promotion
/// history from the store.
///
/// # Errors
///
/// [`ReconcileError::Store`].
pub async fn decide_all(store: &Store, prepared: &Prepared) -> Result<Vec<Decision>, ReconcileError> {
    let mut view = StoreView::default();
    view.refresh(store).await?;
    Ok(decide_with(&view, prepared))
}

/// Decides every (release, environment) of a prepared pass against a store view the caller
/// keeps up to date (see [`StoreView::refresh`]).
pub fn decide_with(view: &StoreView, prepared: &Prepared) -> Vec<Decision> {
    prepared.releases.iter().flat_map(|plan| plan.path.iter().map(move |env| decide_for(view, prepared, plan, env))).collect()
}

/// Decides one release into one environment on its path.
pub fn decide_for(view: &StoreView, prepared: &Prepared, plan: &ReleasePlan, env: &EnvPlan) -> Decision {
    decide_one(view, prepared, plan, env, &prepared.promotions)
}

fn decide_one(
    view: &StoreView,
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    promotions: &HashMap<(String, String), GitPromotion>,
) -> Decision {
    let records = view.approvals.get(&approvals::subject(&plan.name, &env.name)).map_or(&[][..], Vec::as_slice);
    let live = approvals::live_approvals(records.iter().map(|(seq, doc)| (*seq, doc)));
    let status = approvals::evaluate(&env.approvals, &prepared.directory, &live, &plan.content_digest, &plan.authors);
    let slot = (env.name.clone(), plan.model.clone());
    let git = promotions.get(&slot);
    let history = view.promotions(&env.name, &plan.model);
    let release_of = |r: &Value| r.get("release").and_then(Value::as_str).map(str::to_owned);
    let promoted_before = history.iter().any(|r| {
        r.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
            && r.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
    });
    let latest_is_git = history.last().and_then(release_of).is_some_and(|r| git.is_some_and(|g| g.release == r));
    let superseded_by = prepared
        .by_model
        .get(&plan.model)
        .into_iter()
        .flatten()
        .map(|&i| &prepared.releases[i])
        .filter(|other| newer(other, plan))
        .find(|other| {
            git.is_some_and(|g| g.release == other.name) || history.iter().any(|r| release_of(r).as_deref() == Some(other.name.as_str()))
        })
        .map(|other| other.name.clone());
    let promoted = match git {
        None => PromotedInput::Nothing,
        Some(g) if g.release == plan.name => PromotedInput::This { content_digest: g.content_digest.clone(), decision: g.decision.clone() },
        Some(g) => PromotedInput::Other { release: g.release.clone(), by_tollgate: g.decision.is_some() && latest_is_git },
    };
    let previous = env.promotes_from.as_ref().map(|prev| {
        let there = promotions.get(&(prev.clone(), plan.model.clone()));
        let ok = there.is_some_and(|g| g.release == plan.name && g.content_digest.as_deref() == Some(plan.content_digest.as_str()));
        (prev.clone(), ok)
    });
    let closed_pull_request =
        view.pull_request(&env.name, plan).filter(|p| p.get("state").and_then(Value::as_str) == Some("closed")).map(|p| PullRequestInput {
            number: p.get("number").and_then(Value::as_u64).unwrap_or_default(),
            url: p.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
        });
    let mut findings = prepared.fatal.clone();
    findings.extend(plan.findings.iter().cloned());
    findings.dedup();
    let inputs = DecisionInputs {
        release: plan.name.clone(),
        environment: env.name.clone(),
        commit: Some(prepared.commit.clone()),
        policy_digest: prepared.policy_digest.clone(),
        content_digest: plan.content_digest.clone(),
        model: json!({"name": plan.model, "version": plan.version, "sha256": plan.model_sha256}),
        image: plan.image.clone(),
        previous,
        findings,
        gates: gate_input(plan, env),
        approvals: status,
        window: env.window.clone(),
        promoted,
        promoted_before,
        superseded_by,
        now: prepared.now.to_string(),
        closed_pull_request,
    };
    tollgate_decision::decide(&inputs)
}

impl Prepared {
    /// Moves the clock: evaluates every environment's windows at `now` again. Everything else a
    /// pass prepares depends on the commit only.
    pub fn set_clock(&mut self, now: jiff::Timestamp) {
        self.now = now;
        for plan in &mut self.releases {
            for env in &mut plan.path {
                env.window = crate::gating_bridge::window_of(&env.spec, now);
            }
        }
    }
}

/// A reconciler's memory between passes: the store view (read incrementally) and the last
/// prepared commit, reused while the branch does not move (only the clock is applied again).
/// This is what makes a pass with nothing changed cheap.
#[derive(Debug)]
pub struct Reconciler {
    view: StoreView,
    last: Option<(Options, Prepared)>,
    /// The last pass's decisions, the store sequence number after it, and the window states it
    /// saw: when none of them moved, the next pass has nothing to decide again.
    settled: Option<(Vec<Decision>, u64, Vec<WindowInput>)>,
}

impl Default for Reconciler {
    fn default() -> Self {
        Reconciler { view: StoreView::with_decisions(), last: None, settled: None }
    }
}

fn window_states(p: &Prepared) -> Vec<WindowInput> {
    p.releases.iter().flat_map(|r| r.path.iter().map(|e| e.window.clone())).collect()
}

impl Reconciler {
    /// The last prepared commit.
    pub fn last(&self) -> Option<&Prepared> {
        self.last.as_ref().map(|(_, p)| p)
    }

    /// Prepares a pass: reuses the last one when the commit and the options are the same.
    ///
    /// # Errors
    ///
    /// As [`prepare`].
    pub fn prepare(&mut self, opts: &Options) -> Result<&Prepared, ReconcileError> {
        self.prepare_reusing(opts).map(|(p, _)| p)
    }

    fn prepare_reusing(&mut self, opts: &Options) -> Result<(&Prepared, bool), ReconcileError> {
        let commit = Source::commit(&opts.repo, &opts.rev)?.commit_id().map(|c| c.to_string());
        let reusable = self.last.as_ref().is_some_and(|(o, p)| {
            Some(&p.commit) == commit.as_ref()
                && o.repo == opts.repo
                && o.release == opts.release
                && o.gates.cache_dir == opts.gates.cache_dir
        });
        let same_options = self.last.as_ref().is_some_and(|(o, _)| {
            o.repo == opts.repo && o.rev == opts.rev && o.release == opts.release && o.gates.cache_dir == opts.gates.cache_dir
        });
        if reusable {
            let (o, p) = self.last.as_mut().expect("checked");
            o.now = opts.now;
            p.set_clock(opts.now);
        } else if let Some(next) = self.last.as_ref().filter(|_| same_options).and_then(|(_, p)| {
            // Anything unexpected (the old commit gone after a force-push and a gc...) means a
            // pass from scratch, which reports its own errors.
            prepare_incremental(opts, p).inspect_err(|err| tracing::debug!(error = %err, "incremental prepare failed")).ok().flatten()
        }) {
            self.last = Some((opts.clone(), next));
        } else {
            self.last = Some((opts.clone(), prepare(opts)?));
        }
        Ok((&self.last.as_ref().expect("just set").1, reusable))
    }

    /// Runs a whole pass: prepare (or reuse), decide, record, promote. The repo work runs on the
    /// calling thread.
    ///
    /// # Errors
    ///
    /// As [`prepare`] and [`act`].
    pub async fn pass(
        &mut self,
        log: &AuditLog,
        opts: &Options,
        actor: &str,
        publish: Option<&dyn Publish>,
    ) -> Result<PassReport, ReconcileError> {
        let (_, reused) = self.prepare_reusing(opts)?;
        let prepared = &self.last.as_ref().expect("prepared").1;
        self.view.refresh(log.store()).await?;
        let windows = window_states(prepared);
        // Same commit, nothing new in the store, every window as it was: every decision is
        // what it was, and there is nothing to record or promote.
        if reused
            && let Some((decisions, seq, seen)) = &self.settled
            && *seq == self.view.seq
            && *seen == windows
        {
            return Ok(PassReport { commit: prepared.commit.clone(), decisions: decisions.clone(), actions: Vec::new() });
        }
        let bot = (opts.bot.0.as_str(), opts.bot.1.as_str());
        let report = match act(log, &mut self.view, prepared, actor, bot, publish).await {
            Ok(report) => report,
            Err(err) => {
                // The view may count records a failed batch never wrote: read it afresh.
                self.view = StoreView::with_decisions();
                self.settled = None;
                return Err(err);
            }
        };
        self.view.refresh(log.store()).await?;
        // A decision waiting on a pull request waits on GitHub, which the commit, the store and
        // the clock do not show: such a pass is never settled, so the next one looks again.
        let waits_on_github = report.decisions.iter().any(|d| d.state == State::Promoting || d.inputs.closed_pull_request.is_some());
        self.settled = (!waits_on_github).then(|| (report.decisions.clone(), self.view.seq, windows));
        Ok(report)
    }
}

/// What a pass did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// A decision changed and was recorded.
    Recorded {
        /// `release/<r>@<env>`.
        subject: String,
        /// The new state.
        state: State,
        /// Its audit event.
        seq: u64,
    },
    /// A promotion commit was written.
    Promoted {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// The commit.
        commit: String,
        /// The branch it went to.
        branch: String,
    },
    /// A pull-request branch was written; the promotion completes when it is merged.
    Proposed {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// The proposal branch.
        branch: String,
        /// Its tip.
        commit: String,
    },
    /// A promotion pull request was opened, adopted (found open, unrecorded), updated, closed
    /// without merging, reopened or merged; its audit event was recorded.
    PullRequest {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// Its number.
        number: u64,
        /// Its page.
        url: String,
        /// `opened`, `adopted`, `updated`, `closed`, `reopened` or `merged`.
        what: String,
    },
    /// A promotion found in Git without its record (a crash between the two) was recorded.
    Healed {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
    },
}

/// A pass's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// The commit reconciled.
    pub commit: String,
    /// Every decision, after acting.
    pub decisions: Vec<Decision>,
    /// What changed.
    pub actions: Vec<Action>,
}

/// Where promotion commits go after they are written: a remote mirror pushes them.
pub trait Publish {
    /// Pushes `commit` to `branch` of the remote; a branch that moved meanwhile is an error and
    /// the next pass starts over from the fetched tip.
    ///
    /// # Errors
    ///
    /// Whatever the transport reports.
    fn publish(&self, commit: git2::Oid, branch: &str) -> Result<(), crate::git::GitError>;

    /// The remote's URL (without credentials), from which a GitHub repository may be derived.
    fn remote_url(&self) -> Option<String> {
        None
    }
}

impl Publish for crate::git::Mirror {
    fn publish(&self, commit: git2::Oid, branch: &str) -> Result<(), crate::git::GitError> {
        self.push(commit, branch)
    }

    fn remote_url(&self) -> Option<String> {
        self.remote_url().map(str::to_owned)
    }
}

/// The audit actions of promotion pull requests: `…opened`, `…adopted`, `…updated`, `…closed`,
/// `…reopened`, `…merged`.
pub const PULL_REQUEST_ACTION_PREFIX: &str = "promotion.pull_request_";

/// The GitHub client of a pass, made when the first pull-request promotion needs it.
#[derive(Default)]
struct PullRequests {
    client: Option<Option<github::Client>>,
}

impl PullRequests {
    /// The client, or `None` when pull requests are not opened: the config repo is not a remote
    /// mirror (the branch stays local), or neither `spec.github` nor a `github.com` remote says
    /// where.
    fn client(&mut self, prepared: &Prepared, publish: Option<&dyn Publish>) -> Result<Option<&github::Client>, github::GitHubError> {
        if self.client.is_none() {
            let client = match publish {
                None => None,
                Some(p) => match github::Target::resolve(prepared.github.as_ref(), p.remote_url().as_deref())? {
                    Some(target) => Some(github::Client::new(target)?),
                    None => None,
                },
            };
            self.client = Some(client);
        }
        Ok(self.client.as_ref().and_then(Option::as_ref))
    }
}

/// Records transitions and promotes. Runs only on the leader. With `publish`, promotion
/// commits are written without moving local refs and pushed.
///
/// # Errors
///
/// [`ReconcileError::Store`] or [`ReconcileError::Promote`]; work done before the error stays
/// done and recorded, and the next pass continues from there.
pub async fn act(
    log: &AuditLog,
    view: &mut StoreView,
    prepared: &Prepared,
    actor: &str,
    bot: (&str, &str),
    publish: Option<&dyn Publish>,
) -> Result<PassReport, ReconcileError> {
    view.track_decisions = true;
    view.refresh(log.store()).await?;
    let mut promotions = prepared.promotions.clone();
    let mut decisions = Vec::new();
    let mut actions = Vec::new();
    let mut promoted_now = std::collections::HashSet::new();
    let mut pulls = PullRequests::default();
    let git = Repository::open(&prepared.git_dir).map_err(|source| RepoError::Git { context: "open the repository".into(), source })?;
    let mut batch = Batch::default();
    for plan in &prepared.releases {
        record_release(&mut batch, view, actor, plan);
        for env in &plan.path {
            let mut d = decide_one(view, prepared, plan, env, &promotions);
            let subject = approvals::subject(&plan.name, &env.name);
            let pr_err = |source| ReconcileError::PullRequest {
                release: plan.name.clone(),
                environment: env.name.clone(),
                source: Box::new(source),
            };
            if d.state == State::Blocked
                && let Some(closed) = d.inputs.closed_pull_request.clone()
                && reopened(&mut pulls, prepared, publish, closed.number).await
            {
                let what = "reopened";
                let payload = pull_request_payload(view, env, plan, what);
                batch.flush(log, &mut actions).await?;
                pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                d = decide_one(view, prepared, plan, env, &promotions);
            }
            if d.state == State::Promoted {
                batch.flush(log, &mut actions).await?;
                heal(log, view, actor, prepared, plan, env, &d, &git, &mut actions).await?;
                if view.pull_request(&env.name, plan).is_some_and(|p| p.get("state").and_then(Value::as_str) == Some("open")) {
                    // The proposal reached the environment's branch: its pull request was merged.
                    let what = "merged";
                    let mut payload = pull_request_payload(view, env, plan, what);
                    payload["commit"] = json!(prepared.commit);
                    batch.flush(log, &mut actions).await?;
                    pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                }
            }
            record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
            let slot = (env.name.clone(), plan.model.clone());
            if d.state == State::Promoting && promoted_now.contains(&slot) {
                // A newer release took this slot in this pass; the next pass supersedes this one.
                decisions.push(d);
                continue;
            }
            if d.state == State::Promoting {
                promoted_now.insert(slot);
                // The promotion names its decision's audit event: record it first.
                batch.flush(log, &mut actions).await?;
                let target = env.branch.clone().or_else(|| prepared.branch.clone()).unwrap_or_else(|| "main".into());
                let proposal = env.mode == "pullRequest";
                let branch = if proposal { promote::proposal_branch(&env.name, &plan.model) } else { target.clone() };
                // GitHub is asked before anything is written, so a wrong token or repository
                // leaves neither a pushed branch nor a record behind.
                let client = if proposal { pulls.client(prepared, publish).map_err(pr_err)? } else { None };
                let mut open_pr = None;
                if let Some(c) = client {
                    open_pr = c.find_open(&branch, &target).await.map_err(pr_err)?;
                    let known = view
                        .pull_request(&env.name, plan)
                        .filter(|p| p.get("state").and_then(Value::as_str) == Some("open"))
                        .and_then(|p| p.get("number").and_then(Value::as_u64));
                    if open_pr.is_none()
                        && let Some(number) = known
                    {
                        let now = c.get(number).await.map_err(pr_err)?;
                        match now.state {
                            github::PullState::Closed => {
                                let what = "closed";
                                let payload = pull_request_payload(view, env, plan, what);
                                batch.flush(log, &mut actions).await?;
                                pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                                d = decide_one(view, prepared, plan, env, &promotions);
                                record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
                                decisions.push(d);
                                continue;
                            }
                            // Merged: the next fetch brings the promotion file, and with it `Promoted`.
                            github::PullState::Merged => {
                                decisions.push(d);
                                continue;
                            }
                            github::PullState::Open => {}
                        }
                    }
                }
                let mut audit_seq = log.store().latest_record(RecordKind::Decision, &subject).await?.map_or(0, |r| r.audit_seq);
                let path = promote::deploy_path(&env.name, &plan.model);
                // A proposal branch that already holds this decision is not written again (the
                // file's `promotedAt` would make every pass a new commit).
                let proposed = if proposal { proposed_tip(&git, &branch, &prepared.prefix, &path, plan, &d) } else { None };
                let commit = match proposed {
                    Some((tip, seq)) => {
                        // The pull request says what the file on the branch says.
                        audit_seq = seq;
                        tip
                    }
                    None => {
                        let doc = promotion_doc(prepared, plan, env, &d, audit_seq);
                        let bytes = promote::render(&doc);
                        let message = commit_message(plan, env, &d, audit_seq, proposal);
                        let commit = promote::commit_file(
                            &git,
                            &promote::Commit {
                                branch: &branch,
                                base: &target,
                                prefix: &prepared.prefix,
                                path: &path,
                                contents: &bytes,
                                message: &message,
                                bot,
                                detached: publish.is_some(),
                            },
                        )
                        .map_err(|source| ReconcileError::Promote {
                            release: plan.name.clone(),
                            environment: env.name.clone(),
                            source,
                        })?;
                        if let Some(p) = publish {
                            p.publish(commit, &branch).map_err(|source| ReconcileError::Push {
                                release: plan.name.clone(),
                                environment: env.name.clone(),
                                source: Box::new(source),
                            })?;
                        }
                        commit
                    }
                };
                if proposal {
                    if proposed.is_none() {
                        let doc = json!({"release": plan.name, "environment": env.name, "branch": branch, "commit": commit.to_string(), "decision": d.id});
                        let event =
                            tollgate_audit::event::NewEvent::new(actor, "promotion.proposed", &subject, doc).map_err(StoreError::from)?;
                        log.append(&[event]).await?;
                        actions.push(Action::Proposed {
                            release: plan.name.clone(),
                            environment: env.name.clone(),
                            branch: branch.clone(),
                            commit: commit.to_string(),
                        });
                    }
                    if let Some(c) = client {
                        let title = pull_request_title(plan, env);
                        let body = pull_request_body(prepared, plan, env, &d, audit_seq, &branch, commit);
                        let want = github::Proposal { head: &branch, base: &target, title: &title, body: &body };
                        let (pr, ensured) = match open_pr {
                            Some(found) => c.refresh(found, &want).await,
                            None => c.ensure(&want).await,
                        }
                        .map_err(pr_err)?;
                        let known = view.pull_request(&env.name, plan).is_some_and(|p| {
                            p.get("number").and_then(Value::as_u64) == Some(pr.number)
                                && p.get("state").and_then(Value::as_str) == Some("open")
                        });
                        let what = match (ensured, known) {
                            (github::Ensured::Opened, _) => Some("opened"),
                            // Opened by an earlier pass that stopped before recording it.
                            (_, false) => Some("adopted"),
                            (github::Ensured::Updated, true) => Some("updated"),
                            (github::Ensured::Found, true) => None,
                        };
                        if let Some(what) = what {
                            let payload = json!({
                                "release": plan.name,
                                "environment": env.name,
                                "model": plan.model,
                                "contentDigest": plan.content_digest,
                                "decision": d.id,
                                "decisionSeq": audit_seq,
                                "repository": c.target().full_name(),
                                "number": pr.number,
                                "url": pr.url,
                                "head": branch,
                                "base": target,
                                "commit": commit.to_string(),
                                "state": "open",
                            });
                            batch.flush(log, &mut actions).await?;
                            pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                        }
                    }
                    decisions.push(d);
                    continue;
                }
                let record = promotion_record(plan, env, &d, &commit.to_string(), audit_seq, false);
                log.record(RecordKind::Promotion, actor, &promotion_subject(&env.name, &plan.model), &record).await?;
                view.note_promotion(&env.name, &plan.model, record);
                actions.push(Action::Promoted {
                    release: plan.name.clone(),
                    environment: env.name.clone(),
                    commit: commit.to_string(),
                    branch,
                });
                promotions.insert(
                    (env.name.clone(), plan.model.clone()),
                    GitPromotion {
                        release: plan.name.clone(),
                        content_digest: Some(plan.content_digest.clone()),
                        decision: Some(d.id.clone()),
                    },
                );
                d = decide_one(view, prepared, plan, env, &promotions);
                record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
            }
            decisions.push(d);
        }
        batch.flush_when_full(log, &mut actions).await?;
    }
    batch.flush(log, &mut actions).await?;
    Ok(PassReport { commit: prepared.commit.clone(), decisions, actions })
}

/// Whether the closed pull request `number` was reopened. GitHub being unreachable here is
/// logged, not an error: the decision stays what the trail says until the next pass.
async fn reopened(pulls: &mut PullRequests, prepared: &Prepared, publish: Option<&dyn Publish>, number: u64) -> bool {
    let client = match pulls.client(prepared, publish) {
        Ok(Some(c)) => c,
        Ok(None) => return false,
        Err(err) => {
            tracing::warn!(error = %err, number, "cannot ask GitHub whether a closed promotion pull request was reopened");
            return false;
        }
    };
    match client.get(number).await {
        Ok(pr) => pr.state == github::PullState::Open,
        Err(err) => {
            tracing::warn!(error = %err, number, "cannot ask GitHub whether a closed promotion pull request was reopened");
            false
        }
    }
}

/// The payload of the slot's last pull-request event, with a new `state`.
fn pull_request_payload(view: &StoreView, env: &EnvPlan, plan: &ReleasePlan, what: &str) -> Value {
    let mut payload = view.pull_request(&env.name, plan).cloned().unwrap_or_else(|| json!({}));
    payload["state"] = json!(match what {
        "closed" => "closed",
        "merged" => "merged",
        _ => "open",
    });
    payload
}

/// Appends `promotion.pull_request_<what>` for the slot and applies it to the view.
#[allow(clippy::too_many_arguments)]
async fn pull_request_event(
    log: &AuditLog,
    view: &mut StoreView,
    actor: &str,
    env: &EnvPlan,
    plan: &ReleasePlan,
    what: &str,
    payload: Value,
    actions: &mut Vec<Action>,
) -> Result<(), ReconcileError> {
    let subject = promotion_subject(&env.name, &plan.model);
    let action = format!("{PULL_REQUEST_ACTION_PREFIX}{what}");
    let event = tollgate_audit::event::NewEvent::new(actor, &action, &subject, payload.clone()).map_err(StoreError::from)?;
    log.append(&[event]).await?;
    actions.push(Action::PullRequest {
        release: plan.name.clone(),
        environment: env.name.clone(),
        number: payload.get("number").and_then(Value::as_u64).unwrap_or_default(),
        url: payload.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
        what: what.to_owned(),
    });
    view.pull_requests.insert(subject, payload);
    Ok(())
}

/// The tip of the proposal branch and the file's `auditSeq`, when its promotion file already
/// names this release, content and decision.
fn proposed_tip(git: &Repository, branch: &str, prefix: &str, path: &str, plan: &ReleasePlan, d: &Decision) -> Option<(git2::Oid, u64)> {
    let tip = git.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
    let full = if prefix.is_empty() { path.to_owned() } else { format!("{prefix}/{path}") };
    let entry = git.find_commit(tip).ok()?.tree().ok()?.get_path(Path::new(&full)).ok()?;
    let blob = git.find_blob(entry.id()).ok()?;
    let docs = tollgate_spec::yaml::parse_documents(blob.content(), &tollgate_spec::yaml::Limits::default()).ok()?;
    let spec = docs.first()?.value.get("spec")?.clone();
    let is = |k: &str, v: &str| spec.get(k).and_then(Value::as_str) == Some(v);
    let seq = spec.get("auditSeq").and_then(Value::as_u64).unwrap_or_default();
    (is("release", &plan.name) && is("contentDigest", &plan.content_digest) && is("decision", &d.id)).then_some((tip, seq))
}

fn pull_request_title(plan: &ReleasePlan, env: &EnvPlan) -> String {
    format!("Promote {} ({}@{}) to {}", plan.name, plan.model, plan.version, env.name)
}

/// The pull request's body: the facts of the Promotion document, for reviewers.
fn pull_request_body(
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    d: &Decision,
    audit_seq: u64,
    branch: &str,
    commit: git2::Oid,
) -> String {
    let mut b = format!("tollgate proposes promoting release `{}` to environment `{}`.\n\n", plan.name, env.name);
    b.push_str("| | |\n|---|---|\n");
    b.push_str(&format!("| Release | `{}` |\n| Environment | `{}` |\n", plan.name, env.name));
    b.push_str(&format!("| Model | `{}@{}` |\n", plan.model, plan.version));
    b.push_str(&format!("| Model digest | `sha256:{}` |\n", plan.model_sha256.as_deref().unwrap_or("unknown")));
    if let Some(image) = &plan.image {
        b.push_str(&format!("| Serving image | `{image}` |\n"));
    }
    b.push_str(&format!("| Content digest | `{}` |\n", plan.content_digest));
    let gates = match &plan.gates {
        None => "none defined".to_owned(),
        Some(g) => {
            let cats: Vec<String> = g.categories.iter().map(|(c, ok)| format!("{c} {}", if *ok { "pass" } else { "fail" })).collect();
            format!(
                "{} (results `{}`)",
                if cats.is_empty() { "none".into() } else { cats.join(", ") },
                g.digest.as_deref().unwrap_or("n/a")
            )
        }
    };
    b.push_str(&format!("| Gates | {gates} |\n"));
    let counted: Vec<String> = d.inputs.approvals.counted.iter().map(|a| format!("{} ({})", a.user, a.at)).collect();
    let approvals = if counted.is_empty() { "none required".to_owned() } else { counted.join(", ") };
    b.push_str(&format!("| Approvals counted | {approvals} |\n"));
    b.push_str(&format!("| Decision | `{}` (audit seq {audit_seq}) |\n", d.id));
    b.push_str(&format!("| Config commit | `{}` |\n| Proposal | `{branch}` at `{commit}` |\n\n", prepared.commit));
    if !d.reasons.is_empty() {
        b.push_str("Why:\n");
        for r in &d.reasons {
            b.push_str(&format!("- {}\n", r.message));
        }
        b.push('\n');
    }
    b.push_str(
        "Merging promotes the release: the decision becomes `Promoted` when `deploy/` on the base branch names it. \
         Closing without merging stops this promotion (`Blocked`) until the pull request is reopened or the release changes.\n\n",
    );
    b.push_str(&format!("<!-- tollgate: decision={} release={} environment={} -->\n", d.id, plan.name, env.name));
    b
}

/// Records of a pass written together: release, gate-result and decision records are
/// buffered and committed in one transaction, before anything that depends on them (a
/// promotion names its decision's audit event; a healed promotion follows its release's
/// record), every [`Batch::LIMIT`] records, and at the end of the pass. A crash before a flush
/// loses only records the next pass writes again: the store holds none of them, and a
/// [`Reconciler`] reads its view afresh after a failed pass.
#[derive(Default)]
struct Batch {
    records: Vec<NewRecord>,
    /// `(index of the record, index of its `Action::Recorded`)`, to fill in the audit seq.
    tickets: Vec<(usize, usize)>,
}

impl Batch {
    const LIMIT: usize = 512;

    fn push(&mut self, kind: RecordKind, actor: &str, subject: &str, doc: Value) -> usize {
        self.records.push(NewRecord { kind, actor: actor.to_owned(), subject: subject.to_owned(), doc });
        self.records.len() - 1
    }

    async fn flush_when_full(&mut self, log: &AuditLog, actions: &mut [Action]) -> Result<(), ReconcileError> {
        if self.records.len() >= Self::LIMIT { self.flush(log, actions).await } else { Ok(()) }
    }

    async fn flush(&mut self, log: &AuditLog, actions: &mut [Action]) -> Result<(), ReconcileError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let stored = log.record_many(&self.records).await?;
        for (record, action) in self.tickets.drain(..) {
            if let (Some(event), Some(Action::Recorded { seq, .. })) = (stored.get(record), actions.get_mut(action)) {
                *seq = event.seq;
            }
        }
        self.records.clear();
        Ok(())
    }
}

fn record_release(batch: &mut Batch, view: &mut StoreView, actor: &str, plan: &ReleasePlan) {
    let subject = format!("release/{}", plan.name);
    if view.releases.get(&subject) != Some(&plan.content_digest) {
        let doc = json!({"release": plan.name, "spec": plan.spec, "contentDigest": plan.content_digest, "modelSha256": plan.model_sha256});
        batch.push(RecordKind::Release, actor, &subject, doc);
        view.releases.insert(subject.clone(), plan.content_digest.clone());
    }
    if let Some(g) = &plan.gates
        && let Some(digest) = &g.digest
        && view.gate_results.get(&subject) != Some(digest)
    {
        let doc = json!({"release": plan.name, "digest": digest, "categories": g.categories, "failures": g.failures, "results": g.results});
        batch.push(RecordKind::GateResult, actor, &subject, doc);
        view.gate_results.insert(subject, digest.clone());
    }
}

/// Records `d` unless the newest record for `subject` is the same decision in the same state,
/// with an [`Action::Recorded`] whose seq the batch fills in when it is written.
fn record_decision(batch: &mut Batch, view: &mut StoreView, actor: &str, subject: &str, d: &Decision, actions: &mut Vec<Action>) {
    if view.decisions.get(subject).is_some_and(|(id, state)| *id == d.id && state == d.state.as_str()) {
        return;
    }
    let doc = serde_json::to_value(d).unwrap_or(Value::Null);
    let record = batch.push(RecordKind::Decision, actor, subject, doc);
    view.decisions.insert(subject.to_owned(), (d.id.clone(), d.state.as_str().to_owned()));
    actions.push(Action::Recorded { subject: subject.to_owned(), state: d.state, seq: 0 });
    batch.tickets.push((record, actions.len() - 1));
}

#[allow(clippy::too_many_arguments)]
async fn heal(
    log: &AuditLog,
    view: &mut StoreView,
    actor: &str,
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    d: &Decision,
    git: &Repository,
    actions: &mut Vec<Action>,
) -> Result<(), ReconcileError> {
    let recorded = view.promotions(&env.name, &plan.model).iter().any(|r| {
        r.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
            && r.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
    });
    if recorded {
        return Ok(());
    }
    let decision = match &d.inputs.promoted {
        PromotedInput::This { decision, .. } => decision.clone(),
        _ => None,
    };
    let tip = git2::Oid::from_str(&prepared.commit).ok();
    let commit = tip
        .zip(decision.as_deref())
        .and_then(|(tip, dec)| promote::find_decision_commit(git, tip, dec, 10_000))
        .map(|c| c.to_string())
        .unwrap_or_else(|| prepared.commit.clone());
    let mut record = promotion_record(plan, env, d, &commit, 0, true);
    if let Some(dec) = decision {
        record["decision"] = json!(dec);
    }
    log.record(RecordKind::Promotion, actor, &promotion_subject(&env.name, &plan.model), &record).await?;
    view.note_promotion(&env.name, &plan.model, record);
    actions.push(Action::Healed { release: plan.name.clone(), environment: env.name.clone() });
    Ok(())
}

fn promotion_record(plan: &ReleasePlan, env: &EnvPlan, d: &Decision, commit: &str, audit_seq: u64, healed: bool) -> Value {
    json!({
        "release": plan.name,
        "environment": env.name,
        "model": {"name": plan.model, "version": plan.version, "sha256": plan.model_sha256},
        "image": plan.image,
        "contentDigest": plan.content_digest,
        "decision": d.id,
        "decisionSeq": audit_seq,
        "commit": commit,
        "healed": healed,
    })
}

fn promotion_doc(prepared: &Prepared, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, audit_seq: u64) -> Value {
    let gates = plan.gates.as_ref().map_or(Value::Null, |g| json!({"digest": g.digest, "passed": g.categories}));
    let approvals: Vec<Value> = d.inputs.approvals.counted.iter().map(|a| json!({"user": a.user, "at": a.at})).collect();
    let mut spec = json!({
        "environment": env.name,
        "release": plan.name,
        "model": {"name": plan.model, "version": plan.version, "sha256": plan.model_sha256.clone().unwrap_or_default()},
        "contentDigest": plan.content_digest,
        "decision": d.id,
        "auditSeq": audit_seq,
        "promotedAt": prepared.now.to_string(),
    });
    if let Some(image) = &plan.image {
        spec["image"] = json!(image);
    }
    if !gates.is_null() {
        spec["gates"] = gates;
    }
    if !approvals.is_empty() {
        spec["approvals"] = Value::Array(approvals);
    }
    json!({
        "apiVersion": "tollgate.dev/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": promotion_name(&env.name, &plan.model)},
        "spec": spec,
    })
}

/// The Promotion document's name: unique per (environment, model), a DNS label.
pub fn promotion_name(env: &str, model: &str) -> String {
    let name = format!("{env}-{model}");
    if name.len() <= 63 {
        return name;
    }
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}-{}", name[..50].trim_end_matches('-'), &h[..12])
}

fn commit_message(plan: &ReleasePlan, env: &EnvPlan, d: &Decision, audit_seq: u64, proposal: bool) -> String {
    let verb = if proposal { "Propose promoting" } else { "Promote" };
    let mut m = format!("{verb} {} ({}@{}) to {}\n\n", plan.name, plan.model, plan.version, env.name);
    for r in &d.reasons {
        m.push_str(&format!("- {}\n", r.message));
    }
    m.push_str(&format!(
        "\nTollgate-Decision: {}\nTollgate-Release: {}\nTollgate-Environment: {}\nTollgate-Content-Digest: {}\nTollgate-Audit-Seq: {audit_seq}\n",
        d.id, plan.name, env.name, plan.content_digest
    ));
    m
}

/// The path of the Git repository's work tree (or the repository itself when bare).
pub fn git_root(dir: &Path) -> Option<PathBuf> {
    let repo = Repository::discover(dir).ok()?;
    Some(repo.workdir().unwrap_or(repo.path()).to_owned())
}
