//! `tollgate check`: schemas, references and policies over a loaded config repo, its reports
//! ([`report`]) and the starter repo of `tollgate init` ([`scaffold`]).
//!
//! **Architecture Invariant:** this crate and its dependencies (`tollgate-spec`,
//! `tollgate-policy`) link no database, HTTP client or model runtime; `scripts/test` checks
//! that `cargo tree` of `tollgate-check` names no `sqlx`, `octocrab` or `tch`.
//!
//! With a base (`--base REF`), only documents in changed files, and the documents whose
//! policy input includes them, are schema-checked and evaluated; reference checks, which are
//! cheap and repo-wide by nature, always run over everything.

#[cfg(test)]
mod compile_tests;
pub mod report;
pub mod scaffold;
#[cfg(test)]
mod scoped_tests;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use tollgate_policy::{Bundle, ConvertedValue, Limits, PolicyError, PolicyInput};
use tollgate_spec::Changes;
use tollgate_spec::diag::{self, Finding, Severity, Stage};
use tollgate_spec::refs::{self, Index};
use tollgate_spec::repo::{RepoError, Source};
use tollgate_spec::{ConfigRepo, Document, Kind, LoadOptions, Scoped, load::CONFIG_FILE};

/// Who made the change being checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// How to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Compare with a base revision and check only what the change touches.
    pub changes: Option<Changes>,
    /// Worker threads (0 = one per core).
    pub jobs: usize,
    pub author: Option<Author>,
}

/// The outcome of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Files changed since the base, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_files: Option<Vec<String>>,
    /// SHA-256 of the policy bundle, when it compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
    pub documents: usize,
    pub documents_checked: usize,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub fatal: usize,
    pub errors: usize,
    pub warnings: usize,
}

impl Report {
    /// 0 when clean (warnings allowed), 1 with violations, 2 when input could not be read.
    pub fn exit_code(&self) -> u8 {
        if self.summary.fatal > 0 {
            2
        } else if self.summary.errors > 0 {
            1
        } else {
            0
        }
    }
}

/// Loads what a check needs from the config repo at `dir` (its working directory, or the
/// commit `rev`): the whole repo, or with a `base`, what changed since it with what that
/// affects and needs ([`spec::load_scoped`]), falling back to the whole repo, compared file by
/// file, where a scoped load does not apply.
///
/// # Errors
///
/// Returns [`RepoError`] when the repo, a revision or a file cannot be read.
pub fn load(dir: &Path, rev: Option<&str>, base: Option<&str>, jobs: usize) -> Result<(ConfigRepo, Option<Changes>), RepoError> {
    let options = LoadOptions { jobs };
    if let Some(base) = base {
        match tollgate_spec::load_scoped(dir, rev, base, &options)? {
            Scoped::Loaded(repo, changes) => return Ok((*repo, Some(changes))),
            Scoped::Whole(reason) => tracing::debug!(reason, "checking the whole repo"),
        }
    }
    let source = match rev {
        Some(rev) => Source::commit(dir, rev)?,
        None => Source::workdir(dir)?,
    };
    let repo = tollgate_spec::load(&source, &options)?;
    let changes = match base {
        Some(base) => Some(Changes::between(base, &tollgate_spec::repo::blob_index(dir, base)?, &repo)),
        None => None,
    };
    Ok((repo, changes))
}

/// The whole `tollgate check` of the config repo at `dir` (its working directory, or the
/// commit `rev`), scoped to what changed since `base` when given: load, compile the policies,
/// check, with policy compile errors as fatal findings. What the CLI and the pull-request door
/// both run.
///
/// # Errors
///
/// Returns [`RepoError`] when the repo, a revision or a file cannot be read.
pub fn check_repo(dir: &Path, rev: Option<&str>, base: Option<&str>, jobs: usize) -> Result<Report, RepoError> {
    let (repo, changes) = load(dir, rev, base, jobs)?;
    let author = tollgate_spec::repo::commit_author(dir, rev.unwrap_or("HEAD")).map(|(name, email)| Author { name, email });
    let (bundle, compile_findings) = match compile_policies(&repo) {
        Ok(bundle) => (Some(bundle), Vec::new()),
        Err(findings) => (None, findings),
    };
    let options = CheckOptions { changes, jobs, author };
    let mut report = check(&repo, bundle.as_ref(), &options);
    if !compile_findings.is_empty() {
        report.summary.fatal += compile_findings.len();
        report.findings.extend(compile_findings);
        diag::sort(&mut report.findings);
    }
    Ok(report)
}

/// Compiles the repo's policy bundle (organisation policies plus the default library), under
/// the evaluation limits of `tollgate.yaml` (`spec.policies.timeout`, `maxMemoryBytes`).
///
/// # Errors
///
/// Returns one finding per policy file that does not compile (recursion included), or one for
/// limits that are out of range.
pub fn compile_policies(repo: &ConfigRepo) -> Result<Bundle, Vec<Finding>> {
    compile_policies_keeping(repo, None)
}

/// As [`compile_policies`], but `previous` itself when the repo's policies and limits are the
/// ones it was compiled with: a server preparing commit after commit compiles its policies once,
/// and keeps the engine copies that evaluated before (a fresh copy's first evaluation sizes its
/// tables, which costs more than evaluating a small document).
///
/// # Errors
///
/// As [`compile_policies`].
pub fn compile_policies_keeping(repo: &ConfigRepo, previous: Option<&Bundle>) -> Result<Bundle, Vec<Finding>> {
    let limits = policy_limits(repo)?;
    let sources: Vec<(String, String)> = repo.policies.iter().map(|(p, t)| (p.to_string(), t.clone())).collect();
    if let Some(previous) = previous
        && previous.limits() == limits
        && previous.digest() == Bundle::digest_of(&sources, repo.settings.default_library)
    {
        return Ok(previous.clone());
    }
    let bundle = Bundle::compile(&sources, repo.settings.default_library).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| match e {
                PolicyError::Compile { file, line, column, message } => {
                    let pos = (line > 0).then_some(tollgate_spec::yaml::Pos { line, column });
                    Finding::new(Severity::Fatal, Stage::Policy, "policy-compile", file, message)
                        .at(pos)
                        .hint("fix the policy; `tollgate policy test` compiles and tests policies on their own")
                }
                PolicyError::Eval { rule, message } => {
                    Finding::new(Severity::Fatal, Stage::Policy, "policy-compile", rule, message).hint("fix the policy")
                }
                PolicyError::Limit { ref policy, .. } => {
                    Finding::new(Severity::Fatal, Stage::Policy, "policy-limit", policy.clone(), e.to_string()).hint("fix the policy")
                }
            })
            .collect::<Vec<_>>()
    })?;
    Ok(bundle.with_limits(limits))
}

/// The evaluation limits `tollgate.yaml` asks for, checked against what tollgate allows.
fn policy_limits(repo: &ConfigRepo) -> Result<Limits, Vec<Finding>> {
    let mut limits = Limits::default();
    let settings = &repo.settings;
    let config = repo.config();
    let finding = |pointer: &str, message: String| {
        let file = config.map_or(CONFIG_FILE, |c| c.file.path.as_str());
        let hint = if pointer.ends_with("timeout") {
            format!("write a duration of at most {}s, such as `5s` or `500ms`", Limits::MAX_TIMEOUT.as_secs())
        } else {
            format!("give at least {} bytes (16 MiB)", Limits::MIN_MEMORY)
        };
        let mut f = Finding::new(Severity::Fatal, Stage::Input, "policy-limits", file, message).pointer(pointer).hint(hint);
        if let Some(c) = config {
            f = f.at(c.locate(pointer, &settings.limits)).document(c.id());
        }
        vec![f]
    };
    if let Some(text) = &settings.policy_timeout {
        let parsed = tollgate_spec::time::parse_duration(text).map_err(|e| finding("/spec/policies/timeout", e.to_string()))?;
        let timeout = parsed.unsigned_abs();
        if timeout > Limits::MAX_TIMEOUT {
            return Err(finding(
                "/spec/policies/timeout",
                format!("a policy timeout of {text} is longer than the {}s tollgate allows", Limits::MAX_TIMEOUT.as_secs()),
            ));
        }
        limits.timeout = timeout;
    }
    if let Some(bytes) = settings.policy_memory {
        if bytes < Limits::MIN_MEMORY {
            return Err(finding(
                "/spec/policies/maxMemoryBytes",
                format!("a policy memory budget of {bytes} bytes is below the {} bytes tollgate needs", Limits::MIN_MEMORY),
            ));
        }
        limits.memory = bytes;
    }
    Ok(limits)
}

/// Checks a loaded repo with a compiled bundle (or none, when it failed to compile).
pub fn check(repo: &ConfigRepo, bundle: Option<&Bundle>, options: &CheckOptions) -> Report {
    let index = Index::new(repo);
    let scope = scope(repo, &index, options.changes.as_ref());
    let limits = repo.settings.limits;

    let run = || {
        let schema: Vec<Finding> = scope.par_iter().flat_map_iter(|doc| tollgate_spec::schema::validate(doc, &limits)).collect();
        let policy = bundle.map(|b| evaluate_policies(repo, &index, b, &scope, options)).unwrap_or_default();
        (schema, policy)
    };
    let (schema, policy) = if options.jobs == 0 {
        run()
    } else {
        match rayon::ThreadPoolBuilder::new().num_threads(options.jobs).build() {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        }
    };

    // References are checked everywhere, except after a scoped load: there only the scope's
    // documents have everything they reference loaded.
    let ref_docs: Vec<&Document> = if repo.others.is_empty() { repo.documents.iter().collect() } else { scope.clone() };
    let references = refs::check(repo, &index, &repo.paths, &ref_docs, true);
    // Like references, windows are cheap to check and always checked everywhere.
    let windows: Vec<Finding> = repo.of_kind(Kind::Environment).flat_map(|env| tollgate_spec::windows::check(env, &limits)).collect();

    let mut findings = repo.findings.clone();
    findings.extend(schema);
    findings.extend(references);
    findings.extend(windows);
    findings.extend(policy);
    diag::sort(&mut findings);
    findings.dedup();
    let mut summary = Summary::default();
    for f in &findings {
        match f.severity {
            Severity::Fatal => summary.fatal += 1,
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
        }
    }
    Report {
        origin: repo.origin.clone(),
        commit: repo.commit.clone(),
        base: options.changes.as_ref().map(|c| c.base.clone()),
        changed_files: options.changes.as_ref().map(Changes::list),
        policy_digest: bundle.map(|b| b.digest().to_owned()),
        documents: repo.document_count(),
        documents_checked: scope.len(),
        findings,
        summary,
    }
}

/// The documents to schema-check and evaluate: all, or those a change touches (documents in
/// changed files) and those that depend on them (they reference a touched or deleted document,
/// or are releases whose promotion path crosses a touched environment).
pub fn scope<'r>(repo: &'r ConfigRepo, index: &Index<'r>, changes: Option<&Changes>) -> Vec<&'r Document> {
    let Some(changes) = changes else {
        return repo.documents.iter().collect();
    };
    let global = changes.changed.iter().chain(changes.deleted.iter()).any(|p| p.as_str() == CONFIG_FILE || p.as_str().ends_with(".rego"));
    if global {
        return repo.documents.iter().collect();
    }
    let touched: HashSet<(Kind, &str)> = repo
        .documents
        .iter()
        .filter(|d| changes.changed.contains(&d.file.path))
        .map(|d| (d.kind, d.name.as_str()))
        .chain(changes.deleted_documents.iter().map(|(k, n)| (*k, n.as_str())))
        .collect();
    let env_touched = touched.iter().any(|(k, _)| *k == Kind::Environment);
    repo.documents
        .iter()
        .filter(|doc| {
            changes.changed.contains(&doc.file.path)
                || refs::outgoing(doc).iter().any(|(k, n)| touched.contains(&(*k, n.as_str())))
                || (env_touched
                    && doc.kind == Kind::Release
                    && doc.str_at("/spec/environment").is_some_and(|e| {
                        index.promotion_path(e).iter().any(|env| touched.contains(&(Kind::Environment, env.name.as_str())))
                    }))
        })
        .collect()
}

/// Context shared by every evaluation: converted once.
struct Shared {
    config: ConvertedValue,
    commit: ConvertedValue,
    changed: ConvertedValue,
    author: ConvertedValue,
    converted: HashMap<(Kind, String), ConvertedValue>,
}

fn evaluate_policies(repo: &ConfigRepo, index: &Index<'_>, bundle: &Bundle, scope: &[&Document], options: &CheckOptions) -> Vec<Finding> {
    let needs_context = scope.iter().any(|d| matches!(d.kind, Kind::Release | Kind::Promotion));
    let converted: HashMap<(Kind, String), ConvertedValue> = if needs_context {
        repo.documents
            .par_iter()
            .filter(|d| matches!(d.kind, Kind::Model | Kind::Environment | Kind::Dataset))
            .map(|d| ((d.kind, d.name.clone()), ConvertedValue::new(&d.value)))
            .collect()
    } else {
        HashMap::new()
    };
    let shared = Arc::new(Shared {
        config: ConvertedValue::new(repo.config().map_or(&Value::Null, |c| c.spec())),
        commit: ConvertedValue::new(&repo.commit.as_ref().map_or(Value::Null, |c| Value::String(c.clone()))),
        changed: ConvertedValue::new(&json!(options.changes.as_ref().map(Changes::list).unwrap_or_default())),
        author: ConvertedValue::new(&options.author.as_ref().map_or(Value::Null, |a| json!({"name": a.name, "email": a.email}))),
        converted,
    });
    let packages_of_kind: HashMap<Kind, Vec<String>> = Kind::ALL
        .into_iter()
        .map(|k| {
            let packages = [format!("tollgate.{}", k.package_suffix()), format!("tollgate.lib.{}", k.package_suffix())]
                .into_iter()
                .filter(|p| bundle.has_rules(p))
                .collect();
            (k, packages)
        })
        .collect();
    let disabled: HashSet<&str> = repo.settings.disabled_rules.iter().map(String::as_str).collect();
    let limits = repo.settings.limits;

    // Per target environment, once: the promotion path, the packages each environment of it
    // names, and the converted list of its environments.
    let mut plans: HashMap<&str, EnvPlan<'_>> = HashMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    for release in scope.iter().filter(|d| d.kind == Kind::Release) {
        let Some(target) = release.str_at("/spec/environment") else { continue };
        if plans.contains_key(target) {
            continue;
        }
        let path = index.promotion_path(target);
        let mut named = Vec::new();
        for env in &path {
            let packages: Vec<String> = env
                .value
                .pointer("/spec/policies")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let (present, missing): (Vec<String>, Vec<String>) = packages.into_iter().partition(|p| bundle.has_rules(p));
            for p in missing {
                findings.push(
                    Finding::new(
                        Severity::Error,
                        Stage::Policy,
                        "policy-missing",
                        env.file.path.as_str(),
                        format!("package `{p}` has no `deny`, `violation` or `warn` rules"),
                    )
                    .at(env.locate("/spec/policies", &limits))
                    .pointer("/spec/policies")
                    .document(env.id())
                    .hint("add the package under the policy paths of tollgate.yaml, or remove it from `spec.policies`"),
                );
            }
            if !present.is_empty() {
                named.push((present, *env));
            }
        }
        let environments = ConvertedValue::list(
            path.iter()
                .map(|e| {
                    shared.converted.get(&(Kind::Environment, e.name.clone())).cloned().unwrap_or_else(|| ConvertedValue::new(&Value::Null))
                })
                .collect(),
        );
        plans.insert(target, EnvPlan { path, named, environments });
    }
    let no_plan = EnvPlan { path: Vec::new(), named: Vec::new(), environments: ConvertedValue::list(Vec::new()) };

    let evaluated: Vec<Finding> = scope
        .par_iter()
        .map_init(
            || bundle.evaluator(),
            |evaluator, doc| {
                let mut out = Vec::new();
                let base_packages = &packages_of_kind[&doc.kind];
                let mut runs: Vec<(&[String], Option<&Document>)> = Vec::new();
                let mut plan = &no_plan;
                if doc.kind == Kind::Release {
                    plan = doc.str_at("/spec/environment").and_then(|e| plans.get(e)).unwrap_or(&no_plan);
                    runs.push((base_packages, plan.path.last().copied()));
                    for (packages, env) in &plan.named {
                        runs.push((packages, Some(*env)));
                    }
                } else if !base_packages.is_empty() {
                    runs.push((base_packages, None));
                }
                runs.retain(|(packages, _)| !packages.is_empty());
                let mut converted = Some(ConvertedValue::new(&doc.value));
                let last = runs.len().saturating_sub(1);
                for (i, (packages, env)) in runs.into_iter().enumerate() {
                    let document = if i == last { converted.take() } else { converted.clone() };
                    let input = build_input(doc, document.unwrap_or_else(|| ConvertedValue::new(&doc.value)), env, plan, index, &shared);
                    match evaluator.evaluate(&input, packages) {
                        Ok(results) => {
                            for r in results {
                                if disabled.contains(r.id.as_str()) {
                                    continue;
                                }
                                let severity = if r.is_warning() { Severity::Warning } else { Severity::Error };
                                let pointer = r.path.clone().unwrap_or_default();
                                let pos = doc.locate(&pointer, &limits);
                                let mut f = Finding::new(severity, Stage::Policy, r.id.clone(), doc.file.path.as_str(), r.message.clone())
                                    .at(pos)
                                    .document(doc.id());
                                if !pointer.is_empty() {
                                    f = f.pointer(pointer);
                                }
                                if let Some(h) = r.hint {
                                    f = f.hint(h);
                                }
                                out.push(f);
                            }
                        }
                        Err(err @ PolicyError::Limit { .. }) => out.push(
                            Finding::new(Severity::Fatal, Stage::Policy, "policy-limit", doc.file.path.as_str(), err.to_string())
                                .at(Some(doc.start))
                                .document(doc.id())
                                .hint(
                                    "fix the policy, or raise `spec.policies.timeout` / `maxMemoryBytes` in tollgate.yaml if it needs more",
                                ),
                        ),
                        Err(err) => out.push(
                            Finding::new(Severity::Fatal, Stage::Policy, "policy-eval", doc.file.path.as_str(), err.to_string())
                                .at(Some(doc.start))
                                .document(doc.id())
                                .hint("a policy failed at run time on this document; fix the policy or report it to its owner"),
                        ),
                    }
                }
                out
            },
        )
        .flatten()
        .collect();
    findings.extend(evaluated);
    findings
}

/// What every release into one target environment shares.
struct EnvPlan<'r> {
    /// First environment to the target.
    path: Vec<&'r Document>,
    /// Packages named by environments of the path (that exist), with the environment.
    named: Vec<(Vec<String>, &'r Document)>,
    /// `context.environments`, converted once.
    environments: ConvertedValue,
}

fn build_input(
    doc: &Document,
    document: ConvertedValue,
    env: Option<&Document>,
    plan: &EnvPlan<'_>,
    index: &Index<'_>,
    shared: &Shared,
) -> PolicyInput {
    let mut context: Vec<(&str, ConvertedValue)> = vec![
        ("file", ConvertedValue::new(&Value::String(doc.file.path.to_string()))),
        ("commit", shared.commit.clone()),
        ("changedFiles", shared.changed.clone()),
        ("author", shared.author.clone()),
        ("config", shared.config.clone()),
    ];
    if doc.kind == Kind::Release {
        let get = |kind: Kind, name: Option<&str>| -> ConvertedValue {
            name.and_then(|n| shared.converted.get(&(kind, n.to_owned())).cloned()).unwrap_or_else(|| ConvertedValue::new(&Value::Null))
        };
        let model_name = doc.str_at("/spec/model/name");
        context.push(("model", get(Kind::Model, model_name)));
        let version = doc.str_at("/spec/model/version");
        let model_version = model_name
            .and_then(|m| index.get(Kind::Model, m))
            .and_then(|m| m.value.pointer("/spec/versions").and_then(Value::as_array))
            .and_then(|vs| vs.iter().find(|v| v.get("version").and_then(Value::as_str) == version))
            .map_or_else(|| ConvertedValue::new(&Value::Null), ConvertedValue::new);
        context.push(("modelVersion", model_version));
        context.push(("environment", get(Kind::Environment, env.map(|e| e.name.as_str()))));
        context.push(("environments", plan.environments.clone()));
        let mut datasets = Vec::new();
        for pointer in ["/spec/gates/evaluation", "/spec/gates/reference"] {
            if let Some(name) = doc.str_at(pointer)
                && shared.converted.contains_key(&(Kind::Dataset, name.to_owned()))
                && !datasets.iter().any(|(n, _): &(String, _)| n == name)
            {
                datasets.push((name.to_owned(), get(Kind::Dataset, Some(name))));
            }
        }
        context.push(("datasets", ConvertedValue::object(datasets)));
    } else if doc.kind == Kind::Promotion {
        let env = doc.str_at("/spec/environment").and_then(|e| shared.converted.get(&(Kind::Environment, e.to_owned())).cloned());
        context.push(("environment", env.unwrap_or_else(|| ConvertedValue::new(&Value::Null))));
    } else if doc.kind == Kind::Environment {
        context.push((
            "environment",
            shared.converted.get(&(Kind::Environment, doc.name.clone())).cloned().unwrap_or_else(|| ConvertedValue::new(&doc.value)),
        ));
    }
    PolicyInput::from_parts(document, context)
}
