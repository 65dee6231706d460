//! Loading a config repo: list files, read `tollgate.yaml`, classify and parse the rest.

use std::collections::HashMap;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde_json::Value;

use super::{API_GROUP, API_VERSION, ConfigRepo, Document, FileData, Kind, Settings};
use crate::diag::{Finding, Severity, Stage};
use crate::repo::{Listing, RepoError, RepoFile, RepoPath, Source};
use crate::yaml::{self, Pos};

/// The file that holds the Config document.
pub const CONFIG_FILE: &str = "tollgate.yaml";

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Worker threads for parsing (0 = one per core).
    pub jobs: usize,
}

/// Loads every document of a repo. Unreadable files and documents become
/// [`Severity::Fatal`] findings in [`ConfigRepo::findings`]; loading goes on past them so that
/// one report shows every problem.
///
/// # Errors
///
/// Returns [`RepoError`] only when the source itself cannot be listed.
pub fn load(source: &Source, options: &LoadOptions) -> Result<ConfigRepo, RepoError> {
    let listing = source.list()?;
    let mut repo = ConfigRepo { origin: source.describe(), ..ConfigRepo::default() };
    repo.commit = source.commit_id().map(|c| c.to_string());
    repo.paths = listing.files.iter().map(|f| f.path.clone()).collect();

    for refused in &listing.refused {
        repo.findings.push(
            Finding::new(Severity::Fatal, Stage::Input, "path", &refused.path, refused.error.to_string())
                .hint("keep every file of the config repo inside it; remove the link or copy the file in"),
        );
    }

    // tollgate.yaml comes first: it says where everything else is.
    let config_file = listing.files.iter().find(|f| f.path.as_str() == CONFIG_FILE);
    let mut settings = Settings::default();
    if let Some(file) = config_file {
        if let Some(data) = read_checked(source, &listing, file, &settings.limits, &mut repo.findings)
            && let Some(s) = settings_from(&data.bytes)
        {
            settings = s;
        }
    } else {
        repo.findings.push(
            Finding::new(Severity::Fatal, Stage::Input, "config-missing", CONFIG_FILE, "no `tollgate.yaml` at the repo root")
                .hint("run `tollgate init DIR` to start a config repo, or pass `--repo` pointing at one"),
        );
    }

    let globs = Globs::new(&settings, &mut repo.findings);
    let mut yaml_files = Vec::new();
    let mut plan_files = Vec::new();
    for file in &listing.files {
        let path = file.path.as_str();
        match globs.role(path) {
            None => {}
            Some(Role::Plan) => plan_files.push(file),
            Some(Role::Yaml) => yaml_files.push(file),
            Some(Role::Policy) => {
                if let Some(data) = read_checked(source, &listing, file, &settings.limits, &mut repo.findings) {
                    match String::from_utf8(data.bytes.clone()) {
                        Ok(text) => repo.policies.push((file.path.clone(), text)),
                        Err(_) => repo.findings.push(
                            Finding::new(Severity::Fatal, Stage::Input, "utf8", path, "policy file is not valid UTF-8")
                                .hint("save the file as UTF-8"),
                        ),
                    }
                }
            }
        }
    }

    // Read serially (libgit2 handles are not shared across threads), parse in parallel.
    let mut datas = Vec::with_capacity(yaml_files.len() + plan_files.len());
    for (file, is_plan) in yaml_files.iter().map(|f| (*f, false)).chain(plan_files.iter().map(|f| (*f, true))) {
        if let Some(data) = read_checked(source, &listing, file, &settings.limits, &mut repo.findings) {
            datas.push((Arc::new(data), is_plan));
        }
    }
    let limits = settings.limits;
    let parse_all = || -> Vec<(Vec<Document>, Vec<Finding>)> {
        datas.par_iter().map(|(data, is_plan)| parse_file(data, *is_plan, &globs, &limits)).collect()
    };
    let parsed = if options.jobs == 0 {
        parse_all()
    } else {
        match rayon::ThreadPoolBuilder::new().num_threads(options.jobs).build() {
            Ok(pool) => pool.install(parse_all),
            Err(_) => parse_all(),
        }
    };
    for (docs, findings) in parsed {
        repo.documents.extend(docs);
        repo.findings.extend(findings);
    }
    repo.files = datas.into_iter().map(|(d, _)| (d.path.clone(), d)).collect::<HashMap<_, _>>();
    repo.settings = settings;
    Ok(repo)
}

/// The settings of the Config document in `tollgate.yaml`'s bytes, when it parses.
pub(super) fn settings_from(bytes: &[u8]) -> Option<Settings> {
    let docs = yaml::parse_documents(bytes, &Settings::default().limits).ok()?;
    let doc = docs.iter().find(|d| d.value.get("kind").and_then(Value::as_str) == Some("Config"))?;
    Some(Settings::from_config(&doc.value))
}

fn read_checked(
    source: &Source,
    listing: &Listing,
    file: &RepoFile,
    limits: &yaml::Limits,
    findings: &mut Vec<Finding>,
) -> Option<FileData> {
    if file.size > limits.max_file_bytes as u64 {
        let err = yaml::YamlError::TooLarge { size: usize::try_from(file.size).unwrap_or(usize::MAX), limit: limits.max_file_bytes };
        findings.push(Finding::new(Severity::Fatal, Stage::Input, "too-large", file.path.as_str(), err.to_string()).hint(err.hint()));
        return None;
    }
    match source.read(listing, &file.path) {
        Ok(bytes) => {
            // Sizes can change between listing and reading; check what was actually read.
            if bytes.len() > limits.max_file_bytes {
                let err = yaml::YamlError::TooLarge { size: bytes.len(), limit: limits.max_file_bytes };
                findings
                    .push(Finding::new(Severity::Fatal, Stage::Input, "too-large", file.path.as_str(), err.to_string()).hint(err.hint()));
                return None;
            }
            // Working-directory files get their blob id only when a comparison needs it.
            let blob = file.blob;
            Some(FileData::new(file.path.clone(), bytes, blob))
        }
        Err(err) => {
            findings.push(
                Finding::new(Severity::Fatal, Stage::Input, "unreadable", file.path.as_str(), tollgate_error::chain(&err))
                    .hint("check the file's permissions"),
            );
            None
        }
    }
}

pub(super) struct Globs {
    pub(super) include: GlobSet,
    pub(super) exclude: GlobSet,
    pub(super) plans: GlobSet,
    pub(super) manifests: GlobSet,
    policy_prefixes: Vec<String>,
}

impl Globs {
    pub(super) fn new(settings: &Settings, findings: &mut Vec<Finding>) -> Globs {
        let mut build = |patterns: &[String], field: &str| {
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                match Glob::new(p) {
                    Ok(g) => {
                        b.add(g);
                    }
                    Err(e) => findings.push(
                        Finding::new(
                            Severity::Fatal,
                            Stage::Input,
                            "glob",
                            CONFIG_FILE,
                            format!("invalid glob `{p}` in `spec.{field}`: {}", e.kind()),
                        )
                        .hint("globs use `*`, `**`, `?`, `[...]` and `{a,b}`"),
                    ),
                }
            }
            b.build().unwrap_or_else(|_| GlobSet::empty())
        };
        Globs {
            include: build(&settings.include, "include"),
            exclude: build(&settings.exclude, "exclude"),
            plans: build(&settings.plans, "plans"),
            manifests: build(&settings.manifests, "manifests"),
            policy_prefixes: settings
                .policy_paths
                .iter()
                .filter_map(|p| RepoPath::new(p).ok())
                .map(|p| format!("{}/", p.as_str()))
                .collect(),
        }
    }

    fn is_policy(&self, path: &str) -> bool {
        self.policy_prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// What a file is to the loader, or `None` when it is not read at all.
    pub(super) fn role(&self, path: &str) -> Option<Role> {
        if self.exclude.is_match(path) {
            None
        } else if self.plans.is_match(path) {
            Some(Role::Plan)
        } else if self.include.is_match(path) || self.manifests.is_match(path) {
            Some(Role::Yaml)
        } else if path.ends_with(".rego") && self.is_policy(path) {
            Some(Role::Policy)
        } else {
            None
        }
    }
}

/// What a file is to the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// YAML documents (tollgate's, or Kubernetes objects under `spec.manifests`).
    Yaml,
    /// A Terraform plan (JSON).
    Plan,
    /// A Rego policy.
    Policy,
}

/// Parses one file into documents, or findings saying why it cannot be read.
pub(super) fn parse_file(data: &Arc<FileData>, is_plan: bool, globs: &Globs, limits: &yaml::Limits) -> (Vec<Document>, Vec<Finding>) {
    let path = data.path.as_str();
    if is_plan {
        return parse_plan(data, limits);
    }
    let docs = match yaml::parse_documents(&data.bytes, limits) {
        Ok(docs) => docs,
        Err(err) => {
            let finding = Finding::new(Severity::Fatal, Stage::Input, "yaml", path, err.to_string()).at(err.pos()).hint(err.hint());
            return (Vec::new(), vec![finding]);
        }
    };
    let is_manifest_file = globs.manifests.is_match(path);
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for doc in docs {
        match classify(&doc.value, is_manifest_file) {
            Classified::Tollgate(kind) => {
                let name = doc.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
                if let Some((pointer, number)) = beyond_double(&doc.value) {
                    let pos = data.locate(doc.index, &pointer, limits).or(Some(doc.start));
                    let message = format!("integer `{number}` is beyond ±2^53, which tollgate cannot hash exactly");
                    findings.push(
                        Finding::new(Severity::Fatal, Stage::Input, "integer-range", path, message)
                            .at(pos)
                            .pointer(pointer)
                            .document(format!("{kind}/{name}"))
                            .hint(format!("quote it to keep it as text: `\"{number}\"` (digests are over RFC 8785 JSON, whose numbers are IEEE doubles)")),
                    );
                    continue;
                }
                out.push(Document { file: data.clone(), index: doc.index, start: doc.start, kind, name, value: doc.value });
            }
            Classified::Manifest => {
                let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
                let ns = doc.value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                let name = doc.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                let name = format!("{kind}/{ns}/{name}");
                out.push(Document {
                    file: data.clone(),
                    index: doc.index,
                    start: doc.start,
                    kind: Kind::KubernetesManifest,
                    name,
                    value: doc.value,
                });
            }
            Classified::Foreign => {}
            Classified::Bad { message, hint, pointer } => {
                let pos = data.locate(doc.index, pointer, limits).or(Some(doc.start));
                findings.push(Finding::new(Severity::Fatal, Stage::Input, "kind", path, message).at(pos).pointer(pointer).hint(hint));
            }
        }
    }
    (out, findings)
}

/// The first integer in `value` that an IEEE double does not hold exactly (beyond ±2^53), with
/// its JSON pointer. RFC 8785, which every digest of a document uses, refuses such integers, so
/// a document holding one is refused when it is read rather than hashed some other way later.
fn beyond_double(value: &Value) -> Option<(String, &serde_json::Number)> {
    // Tokens are collected leaf first, and only on the way out of a hit: a clean document
    // allocates nothing.
    fn walk(value: &Value) -> Option<(Vec<String>, &serde_json::Number)> {
        const MAX_SAFE: u64 = 1 << 53;
        fn within(token: String, (mut tokens, n): (Vec<String>, &serde_json::Number)) -> (Vec<String>, &serde_json::Number) {
            tokens.push(token);
            (tokens, n)
        }
        match value {
            Value::Number(n) => {
                let beyond = n.as_u64().is_some_and(|u| u > MAX_SAFE) || n.as_i64().is_some_and(|i| i.unsigned_abs() > MAX_SAFE);
                beyond.then(|| (Vec::new(), n))
            }
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| walk(v).map(|hit| within(i.to_string(), hit))),
            Value::Object(members) => {
                members.iter().find_map(|(k, v)| walk(v).map(|hit| within(k.replace('~', "~0").replace('/', "~1"), hit)))
            }
            _ => None,
        }
    }
    let (tokens, n) = walk(value)?;
    Some((tokens.iter().rev().map(|t| format!("/{t}")).collect(), n))
}

enum Classified {
    Tollgate(Kind),
    Manifest,
    /// Not ours (a CI workflow, Helm values...): ignored.
    Foreign,
    Bad {
        message: String,
        hint: String,
        pointer: &'static str,
    },
}

fn classify(value: &Value, is_manifest_file: bool) -> Classified {
    let api = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let ours = api.is_some_and(|a| a.split('/').next() == Some(API_GROUP));
    if ours {
        if api != Some(API_VERSION) {
            return Classified::Bad {
                message: format!("unsupported apiVersion `{}`", api.unwrap_or_default()),
                hint: format!("this version of tollgate reads `apiVersion: {API_VERSION}`"),
                pointer: "/apiVersion",
            };
        }
        return match kind.and_then(Kind::from_document_kind) {
            Some(k) => Classified::Tollgate(k),
            None => Classified::Bad {
                message: match kind {
                    Some(k) => format!("unknown kind `{k}`"),
                    None => "document has no `kind`".to_owned(),
                },
                hint: format!("expected one of {}", Kind::DOCUMENTS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
                pointer: "/kind",
            },
        };
    }
    if let Some(k) = kind.and_then(Kind::from_document_kind) {
        // A tollgate kind under another (or no) apiVersion is almost certainly a typo.
        return Classified::Bad {
            message: match api {
                Some(a) => format!("document of kind `{k}` has apiVersion `{a}`"),
                None => format!("document of kind `{k}` has no `apiVersion`"),
            },
            hint: format!("write `apiVersion: {API_VERSION}`"),
            pointer: "/apiVersion",
        };
    }
    if is_manifest_file && api.is_some() && kind.is_some() {
        return Classified::Manifest;
    }
    Classified::Foreign
}

fn parse_plan(data: &Arc<FileData>, limits: &yaml::Limits) -> (Vec<Document>, Vec<Finding>) {
    let path = data.path.as_str();
    match serde_json::from_slice::<Value>(&data.bytes) {
        Ok(value) if value.is_object() => {
            let doc = Document {
                file: data.clone(),
                index: 0,
                start: Pos { line: 1, column: 1 },
                kind: Kind::TerraformPlan,
                name: path.to_owned(),
                value,
            };
            (vec![doc], Vec::new())
        }
        Ok(_) => (
            Vec::new(),
            vec![
                Finding::new(Severity::Fatal, Stage::Input, "plan", path, "plan is not a JSON object")
                    .at(Some(Pos { line: 1, column: 1 }))
                    .hint("write plans with `terraform show -json plan.out > plan.json`"),
            ],
        ),
        Err(err) => {
            let pos = Pos { line: u32::try_from(err.line()).unwrap_or(0), column: u32::try_from(err.column()).unwrap_or(0) };
            let _ = limits;
            (
                Vec::new(),
                vec![
                    Finding::new(Severity::Fatal, Stage::Input, "json", path, format!("invalid JSON: {err}"))
                        .at(Some(pos))
                        .hint("write plans with `terraform show -json plan.out > plan.json`"),
                ],
            )
        }
    }
}
