//! The repo side of a pass: everything a decision needs that the config repo says, at a commit
//! and the clock's instant, without the store.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use git2::Repository;
use serde::Serialize;
use serde_json::Value;

use super::checkout::GateFiles;
use super::{Options, ReconcileError, gating_bridge};
use crate::github::GitHubConfig;
use crate::promote;
use tollgate_check::CheckOptions;
use tollgate_decision::approvals::{ApprovalPolicy, Directory};
use tollgate_decision::{FindingInput, WindowInput};
use tollgate_spec::diag::{Finding, Severity};
use tollgate_spec::refs::Index;
use tollgate_spec::repo::{RepoPath, Source};
use tollgate_spec::{ConfigRepo, Document, Kind, LoadOptions};

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
    /// Emails of the authors and committers of the release change its approvals here are
    /// about (separation of duties; `promote::change`).
    pub authors: Vec<String>,
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
    /// Where its parts are written in its file, for annotations.
    #[serde(skip)]
    pub lines: ReleaseLines,
    /// Its model's and datasets' documents, for its model card.
    #[serde(skip)]
    pub card_docs: super::CardDocs,
}

/// Lines (1-based) of a release document's parts in its file, each the document's first line
/// when the part is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReleaseLines {
    /// `metadata.name`.
    pub name: u32,
    /// `spec.environment`, the promotion asked for.
    pub environment: u32,
    /// `spec.gates`.
    pub gates: u32,
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
    /// Whether the error may pass when the gates are tried again at the same commit (a cache
    /// that could not be written, an API that could not be reached): the reconciler prepares
    /// the commit again after a backoff. Other errors stand until the commit changes.
    #[serde(skip)]
    pub transient: bool,
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
    /// The serving image promoted, pinned by digest.
    pub image: Option<String>,
    /// The model version promoted.
    pub model_version: Option<String>,
    /// Its artifact's SHA-256.
    pub model_sha256: Option<String>,
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
    pub(super) findings: Vec<tollgate_spec::diag::Finding>,
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
    /// What the admission webhook's index is built from ([`crate::admission`]).
    pub admission: crate::admission::AdmissionPlan,
    /// The policy bundle this pass evaluated with: the repo's, or the last good one when the
    /// repo's does not compile ([`bundle_for`]).
    pub(crate) bundle: Option<tollgate_policy::Bundle>,
    /// Which preparation this is, a number no other in the process has: a commit reused from
    /// pass to pass keeps it, and a commit prepared again (its gates tried again) gets another,
    /// so that decisions kept for it ([`super::Settled`]) are not taken for the new one's.
    pub(crate) preparation: u64,
}

/// The number of a new preparation ([`Prepared::preparation`]).
pub(super) fn next_preparation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The bundle a pass evaluates with. The repo's when it compiles. When it does not (a syntax
/// error, a recursive rule) or, found by [`prepare_keeping`], a new bundle runs past a limit,
/// the contract (docs/design.md) is that the broken bundle is rejected and the last good one
/// kept: the pass evaluates with `last_good`, and the errors become findings that block nothing
/// (`policy-bundle-refused`, logged too). With no good bundle yet (the first pass of a process),
/// the compile errors stay fatal and nothing moves. Policies and limits that did not change
/// keep `last_good` itself, compiled once ([`tollgate_check::compile_policies_keeping`]).
pub(super) fn bundle_for(
    repo: &ConfigRepo,
    last_good: Option<&tollgate_policy::Bundle>,
) -> (Option<tollgate_policy::Bundle>, Vec<Finding>) {
    match tollgate_check::compile_policies_keeping(repo, last_good) {
        Ok(bundle) => (Some(bundle), Vec::new()),
        Err(errors) => match last_good {
            None => (None, errors),
            Some(good) => (Some(good.clone()), errors.into_iter().map(|f| refused(f, good)).collect()),
        },
    }
}

/// The findings saying that a new bundle was refused for running past a limit: one per policy
/// and limit (each document it stopped on says the same).
fn refused_for_limits(findings: &[Finding], good: &tollgate_policy::Bundle) -> Vec<Finding> {
    let mut stopped: Vec<&Finding> = findings.iter().filter(|f| f.rule == "policy-limit").collect();
    stopped.sort_by(|a, b| a.message.cmp(&b.message));
    stopped.dedup_by(|a, b| a.message == b.message);
    stopped.into_iter().map(|f| refused(Finding { document: None, ..f.clone() }, good)).collect()
}

/// `finding` as a refusal of the bundle it came from, which blocks nothing, logged.
fn refused(finding: Finding, good: &tollgate_policy::Bundle) -> Finding {
    tracing::warn!(file = %finding.file, error = %finding.message, kept = good.digest(), "policy bundle refused; the last good one is kept");
    let message = format!("{} (the policy bundle is refused; the last good one, {}, is kept)", finding.message, &good.digest()[..12]);
    Finding { severity: Severity::Error, rule: "policy-bundle-refused".to_owned(), message, ..finding }
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
    prepare_keeping(opts, None)
}

/// As [`prepare`], keeping `last_good` when the repo's policy bundle does not compile
/// ([`bundle_for`]).
///
/// # Errors
///
/// As [`prepare`].
pub fn prepare_keeping(opts: &Options, last_good: Option<&tollgate_policy::Bundle>) -> Result<Prepared, ReconcileError> {
    let source = Source::commit(&opts.repo, &opts.rev)?;
    let Source::Commit { repo: git, commit, prefix } = &source else { unreachable!("a commit source") };
    let branch = branch_of(git, &opts.rev);
    let git_dir = git.path().to_owned();
    let prefix = prefix.clone();
    let commit = *commit;
    let repo = tollgate_spec::load(&source, &LoadOptions { jobs: opts.jobs })?;
    let (mut bundle, mut compile_findings) = bundle_for(&repo, last_good);
    let author =
        tollgate_spec::repo::commit_author(&opts.repo, &commit.to_string()).map(|(name, email)| tollgate_check::Author { name, email });
    let check_options = CheckOptions { changes: None, jobs: opts.jobs, author };
    let mut report = tollgate_check::check(&repo, bundle.as_ref(), &check_options);
    // A new bundle that runs past a limit is refused too, and the last good one kept (a bundle
    // that did not change has nothing to fall back to: its limits hold every release).
    if let (Some(good), Some(new)) = (last_good, bundle.as_ref())
        && good.digest() != new.digest()
        && report.findings.iter().any(|f| f.rule == "policy-limit")
    {
        let refused = refused_for_limits(&report.findings, good);
        report = tollgate_check::check(&repo, Some(good), &check_options);
        bundle = Some(good.clone());
        compile_findings.extend(refused);
    }
    let fatal = fatal_of(report.findings.iter().chain(&compile_findings));
    let index = Index::new(&repo);
    let directory = Directory::from_config(repo.config());
    let promotions = git_promotions(&repo);
    let admission = crate::admission::AdmissionPlan::of(&repo);
    let files = GateFiles::of(git, commit, &prefix);
    let at = At { git, commit, prefix: &prefix, files: &files };
    let mut releases = Vec::new();
    for doc in repo.of_kind(Kind::Release) {
        if opts.release.as_deref().is_some_and(|r| r != doc.name) {
            continue;
        }
        releases.push(release_plan(&repo, &index, &report.findings, doc, &at, opts));
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
        findings: report.findings.into_iter().chain(compile_findings.into_iter().filter(|f| f.severity != Severity::Fatal)).collect(),
        releases,
        directory,
        promotions,
        git_dir,
        prefix,
        now: opts.now,
        github: repo.config().and_then(|c| GitHubConfig::from_config(&c.value)),
        admission,
        bundle,
        preparation: next_preparation(),
    })
}

pub(super) fn fatal_of<'f>(findings: impl Iterator<Item = &'f tollgate_spec::diag::Finding>) -> Vec<FindingInput> {
    let mut fatal: Vec<FindingInput> = findings.filter(|f| f.severity == Severity::Fatal).map(finding_input).collect();
    fatal.dedup();
    fatal
}

/// Rules that judge the repo as a whole; a scoped check computes them over what it loaded.
pub(super) const REPO_WIDE_RULES: [&str; 4] = ["duplicate-name", "duplicate-config", "promotion-order", "promotion-cycle"];

pub(super) fn branch_of(git: &Repository, rev: &str) -> Option<String> {
    git.head().ok().filter(|_| rev == "HEAD").and_then(|h| h.shorthand().ok().map(str::to_owned)).or_else(|| {
        let name = rev.strip_prefix("refs/heads/").unwrap_or(rev);
        git.find_branch(name, git2::BranchType::Local).ok().map(|_| name.to_owned())
    })
}
pub(super) fn git_promotions(repo: &ConfigRepo) -> HashMap<(String, String), GitPromotion> {
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
                image: doc.str_at("/spec/image").map(str::to_owned),
                model_version: doc.str_at("/spec/model/version").map(str::to_owned),
                model_sha256: doc.str_at("/spec/model/sha256").map(str::to_owned),
            },
        );
    }
    out
}

/// The commit plans are made at.
pub(super) struct At<'a> {
    /// The Git repository.
    pub(super) git: &'a Repository,
    /// The commit.
    pub(super) commit: git2::Oid,
    /// The config repo's folder in the repository.
    pub(super) prefix: &'a str,
    /// Where the gates read their files.
    pub(super) files: &'a GateFiles,
}

/// Everything the repo says about one release at the commit.
pub(super) fn release_plan(
    repo: &ConfigRepo,
    index: &Index<'_>,
    findings: &[tollgate_spec::diag::Finding],
    doc: &Document,
    at: &At<'_>,
    opts: &Options,
) -> ReleasePlan {
    let At { git, commit, prefix, files: gate_root } = *at;
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

    let defines_gates =
        doc.spec().get("gates").is_some_and(|g| ["quality", "fairness", "dataQuality", "drift"].iter().any(|k| g.get(k).is_some()));
    // Gate data (datasets, artifacts) is read from the working tree of a local repository, or
    // for a mirror (no working tree) from the commit, written out; either way every file's
    // digest is checked against the spec at this commit before it is used.
    let gates = defines_gates.then(|| match gate_root.root(git, prefix, &gate_files(index, doc)) {
        Ok(root) => {
            let commit = at.commit.to_string();
            gating_bridge::run(repo, &doc.name, &opts.gates, Some(&root), gating_bridge::At { repo: &opts.repo, commit: &commit })
        }
        // Writing the commit's files out can fail for the disk's reasons, which pass.
        Err(err) => gating_bridge::failed_for_now(&format!("cannot read the gates' files from the commit: {err}")),
    });
    let content_digest = tollgate_decision::content_digest(
        doc.spec(),
        model_sha256.as_deref(),
        image.as_deref(),
        gates.as_ref().and_then(|g| g.digest.as_deref()),
    );
    let change = |environment: &str| {
        let asked = promote::Asked { release: &doc.name, environment, content_digest: &content_digest };
        promote::change(git, commit, &git_path, asked, 10_000)
    };
    let changed_at = promote::last_changed(git, commit, &git_path, 10_000).unwrap_or(0);

    let path = path_docs
        .iter()
        .map(|env| EnvPlan {
            name: env.name.clone(),
            promotes_from: env.str_at("/spec/promotesFrom").map(str::to_owned),
            approvals: ApprovalPolicy::from_environment(env),
            required_gates: str_list(env.spec().get("gates")),
            window: gating_bridge::window(env, opts.now),
            mode: env.str_at("/spec/promotion/mode").unwrap_or("commit").to_owned(),
            branch: env.str_at("/spec/promotion/branch").map(str::to_owned),
            spec: env.spec().clone(),
            authors: change(&env.name).map(|c| c.authors).unwrap_or_default(),
        })
        .collect();
    let line = |pointer: &str| doc.locate(pointer, &repo.settings.limits).map_or(doc.start.line, |p| p.line).max(1);
    let lines = ReleaseLines { name: line("/metadata/name"), environment: line("/spec/environment"), gates: line("/spec/gates") };
    let card_docs = card_docs(index, doc, model_doc, &version);
    ReleasePlan {
        name: doc.name.clone(),
        model,
        version,
        model_sha256,
        image,
        spec: doc.spec().clone(),
        git_path,
        changed_at,
        findings: mine,
        gates,
        content_digest,
        path,
        lines,
        card_docs,
    }
}

/// The documents a release's model card reads: its Model, and its evaluation, reference and
/// training Datasets (`None` where the repo has no Dataset of the name).
fn card_docs(index: &Index<'_>, release: &Document, model: Option<&Document>, version: &str) -> super::CardDocs {
    let mut datasets = Vec::new();
    let mut add = |role: &'static str, name: Option<&str>| {
        if let Some(name) = name.filter(|n| !datasets.iter().any(|(r, d, _): &(&str, String, _)| *r == role && d == n)) {
            datasets.push((role, name.to_owned(), index.get(Kind::Dataset, name).map(|d| d.spec().clone())));
        }
    };
    add("evaluation", release.str_at("/spec/gates/evaluation"));
    add("reference", release.str_at("/spec/gates/reference"));
    let trained_on = model.and_then(|m| {
        let versions = m.spec().get("versions").and_then(Value::as_array)?;
        let v = versions.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version))?;
        v.get("trainingData").and_then(Value::as_str)
    });
    add("training", trained_on.or_else(|| model.and_then(|m| m.str_at("/spec/card/trainingData/dataset"))));
    super::CardDocs { model: model.map(|m| m.spec().clone()), datasets }
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

impl Prepared {
    /// Every finding of the check (and a refused policy bundle's, which block nothing).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Moves the clock: evaluates every environment's windows at `now` again. Everything else a
    /// pass prepares depends on the commit only.
    /// Each environment's windows at the clock's instant, by name: with the commit and the
    /// store view, all a decision depends on (the instant itself only moves windows).
    pub fn windows(&self) -> Vec<(&str, &WindowInput)> {
        let mut windows: Vec<(&str, &WindowInput)> = Vec::new();
        for env in self.releases.iter().flat_map(|p| &p.path) {
            if !windows.iter().any(|(name, _)| *name == env.name) {
                windows.push((&env.name, &env.window));
            }
        }
        windows.sort_unstable_by_key(|(name, _)| *name);
        windows
    }

    pub fn set_clock(&mut self, now: jiff::Timestamp) {
        self.now = now;
        // Windows are the environment's: evaluated once per environment (and spec), not once
        // per release on its path (18,000 evaluations at 6,000 releases, each parsing the
        // environment's windows and zones).
        // Every plan of a pass names the same Environment document by the same name.
        let mut evaluated: HashMap<String, WindowInput> = HashMap::new();
        for plan in &mut self.releases {
            for env in &mut plan.path {
                env.window = match evaluated.get(&env.name) {
                    Some(window) => window.clone(),
                    None => {
                        let window = gating_bridge::window_of(&env.spec, now);
                        evaluated.insert(env.name.clone(), window.clone());
                        window
                    }
                };
            }
        }
    }
}
