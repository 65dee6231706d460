//! The config-repo model: document kinds, documents, and loading a whole repo.
//!
//! Documents are found by content (`apiVersion` + `kind`), not by path, except Terraform plans
//! and Kubernetes manifests, found by the globs in `tollgate.yaml`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::repo::RepoPath;
use crate::yaml::Pos;

pub mod load;
pub mod scoped;
mod summaries;

pub use load::{LoadOptions, load};
pub use scoped::{Scoped, load_scoped};

/// The `apiVersion` of every tollgate document.
pub const API_VERSION: &str = "tollgate.dev/v1alpha1";
/// The group part of [`API_VERSION`].
pub const API_GROUP: &str = "tollgate.dev";

/// The kinds of document tollgate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Config,
    Environment,
    Model,
    Dataset,
    Release,
    Promotion,
    /// `terraform show -json` output, found by `spec.plans` globs.
    TerraformPlan,
    /// A Kubernetes object, found by `spec.manifests` globs.
    KubernetesManifest,
}

impl Kind {
    /// The kinds written as YAML documents with tollgate's `apiVersion`.
    pub const DOCUMENTS: [Kind; 6] = [Kind::Config, Kind::Environment, Kind::Model, Kind::Dataset, Kind::Release, Kind::Promotion];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "Config",
            Kind::Environment => "Environment",
            Kind::Model => "Model",
            Kind::Dataset => "Dataset",
            Kind::Release => "Release",
            Kind::Promotion => "Promotion",
            Kind::TerraformPlan => "TerraformPlan",
            Kind::KubernetesManifest => "KubernetesManifest",
        }
    }

    /// The last part of the Rego packages that check this kind (`tollgate.<it>` and
    /// `tollgate.lib.<it>`).
    pub fn package_suffix(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Environment => "environment",
            Kind::Model => "model",
            Kind::Dataset => "dataset",
            Kind::Release => "release",
            Kind::Promotion => "promotion",
            Kind::TerraformPlan => "terraform",
            Kind::KubernetesManifest => "kubernetes",
        }
    }

    /// Every kind, documents first.
    pub const ALL: [Kind; 8] = [
        Kind::Config,
        Kind::Environment,
        Kind::Model,
        Kind::Dataset,
        Kind::Release,
        Kind::Promotion,
        Kind::TerraformPlan,
        Kind::KubernetesManifest,
    ];

    /// The kind [`Kind::as_str`] names.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Parses a document `kind` field.
    pub fn from_document_kind(kind: &str) -> Option<Kind> {
        Kind::DOCUMENTS.into_iter().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The raw contents of one file, kept so that findings can be located after the fact.
#[derive(Debug)]
pub struct FileData {
    pub path: RepoPath,
    pub bytes: Vec<u8>,
    /// Git blob id of the bytes when read from a commit; zero for working-directory files,
    /// whose id [`FileData::blob_id`] computes on demand.
    pub blob: git2::Oid,
    /// Where each node of the file starts, found in one pass the first time a finding in this
    /// file needs a position.
    positions: std::sync::OnceLock<crate::yaml::Positions>,
}

impl FileData {
    pub fn new(path: RepoPath, bytes: Vec<u8>, blob: git2::Oid) -> FileData {
        FileData { path, bytes, blob, positions: std::sync::OnceLock::new() }
    }

    /// Where the node at `pointer` of document `index` starts, or its nearest parent's.
    pub fn locate(&self, index: usize, pointer: &str, limits: &crate::yaml::Limits) -> Option<Pos> {
        self.positions.get_or_init(|| crate::yaml::Positions::of(&self.bytes, limits)).nearest(index, pointer)
    }

    /// The Git blob id of the bytes (the same id `git hash-object` prints).
    pub fn blob_id(&self) -> git2::Oid {
        if self.blob.is_zero() { crate::repo::blob_id(&self.bytes) } else { self.blob }
    }
}

/// One document of the repo.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: Arc<FileData>,
    /// Index of the document within its file (multi-document YAML).
    pub index: usize,
    pub start: Pos,
    pub kind: Kind,
    /// `metadata.name`, or the file path for plans, or `Kind/namespace/name` for manifests.
    pub name: String,
    pub value: Value,
}

impl Document {
    /// `Kind/name`, as reports show it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The `spec` of the document (or `Value::Null`).
    pub fn spec(&self) -> &Value {
        self.value.get("spec").unwrap_or(&Value::Null)
    }

    /// A string at a JSON pointer below the document root.
    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }

    /// Where the value at `pointer` is written, or its nearest written parent.
    pub fn locate(&self, pointer: &str, limits: &crate::yaml::Limits) -> Option<Pos> {
        // JSON is YAML, so plans are located by the same parser.
        self.file.locate(self.index, pointer, limits).or(Some(self.start))
    }
}

/// A loaded config repo: every document, the policy sources, and what could not be read.
#[derive(Debug, Default)]
pub struct ConfigRepo {
    /// Where it was read from, for reports.
    pub origin: String,
    /// The commit, when read from Git (or the working directory's HEAD, when there is one).
    pub commit: Option<String>,
    pub documents: Vec<Document>,
    /// The organisation's Rego files (path, source).
    pub policies: Vec<(RepoPath, String)>,
    /// Problems reading input: unreadable files, bad YAML, unknown kinds.
    pub findings: Vec<crate::diag::Finding>,
    /// Every file loaded, by path.
    pub files: HashMap<RepoPath, Arc<FileData>>,
    /// Every file path in the repo, loaded or not (for "does this file exist" checks).
    pub paths: std::collections::HashSet<RepoPath>,
    pub settings: Settings,
    /// Files a scoped load ([`load_scoped`]) did not load, with summaries of their documents;
    /// empty after a full load. When it is not empty, `documents` holds only what the change
    /// touches and what that needs.
    pub others: Vec<OtherFile>,
}

/// A file a scoped load did not load, and what it knows of the file's documents.
#[derive(Debug, Clone)]
pub struct OtherFile {
    pub path: RepoPath,
    /// Shared with the summaries cache: a scoped load copies nothing per document.
    pub documents: Arc<[Summary]>,
}

/// What a scoped load knows of a document it did not load: enough to tell whether a change
/// affects it, and to name it in hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: Kind,
    pub name: String,
    /// What its checks look up ([`crate::refs::outgoing`]).
    pub refs: Vec<(Kind, String)>,
}

impl ConfigRepo {
    /// The Config document, when there is exactly one.
    pub fn config(&self) -> Option<&Document> {
        self.documents.iter().find(|d| d.kind == Kind::Config)
    }

    /// How many documents the repo has, loaded or not.
    pub fn document_count(&self) -> usize {
        self.documents.len() + self.others.iter().map(|f| f.documents.len()).sum::<usize>()
    }

    /// Documents of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Document> {
        self.documents.iter().filter(move |d| d.kind == kind)
    }
}

/// Settings read from `tollgate.yaml` that shape loading and checking.
#[derive(Debug, Clone)]
pub struct Settings {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub plans: Vec<String>,
    pub manifests: Vec<String>,
    pub policy_paths: Vec<String>,
    pub default_library: bool,
    pub disabled_rules: Vec<String>,
    /// `spec.policies.timeout` as written: time for one rule against one document (the policy
    /// engine's default when absent). Parsed and range-checked where the bundle is compiled.
    pub policy_timeout: Option<String>,
    /// `spec.policies.maxMemoryBytes`: heap growth allowed while policies are evaluated.
    pub policy_memory: Option<u64>,
    pub limits: crate::yaml::Limits,
    /// Promotion order from `spec.environments`.
    pub environments: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            include: vec!["**/*.yaml".into(), "**/*.yml".into()],
            exclude: Vec::new(),
            plans: Vec::new(),
            manifests: Vec::new(),
            policy_paths: vec!["policies".into()],
            default_library: true,
            disabled_rules: Vec::new(),
            policy_timeout: None,
            policy_memory: None,
            limits: crate::yaml::Limits::default(),
            environments: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads settings from a Config document's value; missing fields keep their defaults.
    /// Values of the wrong type are left to schema validation, which reports them.
    pub fn from_config(value: &Value) -> Settings {
        let mut s = Settings::default();
        let spec = value.get("spec").unwrap_or(&Value::Null);
        let strings = |v: Option<&Value>| -> Option<Vec<String>> {
            v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        };
        if let Some(v) = strings(spec.get("include")) {
            s.include = v;
        }
        if let Some(v) = strings(spec.get("exclude")) {
            s.exclude = v;
        }
        if let Some(v) = strings(spec.get("plans")) {
            s.plans = v;
        }
        if let Some(v) = strings(spec.get("manifests")) {
            s.manifests = v;
        }
        if let Some(v) = strings(spec.get("environments")) {
            s.environments = v;
        }
        if let Some(policies) = spec.get("policies") {
            if let Some(v) = strings(policies.get("paths")) {
                s.policy_paths = v;
            }
            if let Some(b) = policies.get("defaultLibrary").and_then(Value::as_bool) {
                s.default_library = b;
            }
            if let Some(v) = strings(policies.get("disabled")) {
                s.disabled_rules = v;
            }
            s.policy_timeout = policies.get("timeout").and_then(Value::as_str).map(str::to_owned);
            s.policy_memory = policies.get("maxMemoryBytes").and_then(Value::as_u64);
        }
        if let Some(limits) = spec.get("limits") {
            let num = |k: &str| limits.get(k).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
            if let Some(n) = num("maxFileBytes") {
                s.limits.max_file_bytes = n;
            }
            if let Some(n) = num("maxDepth") {
                s.limits.max_depth = n.min(1024);
            }
            if let Some(n) = num("maxNodes") {
                s.limits.max_nodes = n;
            }
        }
        s
    }
}
