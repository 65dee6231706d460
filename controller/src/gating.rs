//! Release gates: everything `spec.gates` of a Release asks for, computed from the config repo.
//!
//! [`run_release_gates`] resolves the release's model version, its evaluation Dataset, the
//! baseline (`production` or `model@version`) and the drift reference, then in one pass over the
//! evaluation data scores the rows with the candidate and the baseline (running their
//! TorchScript artifacts with the `torch` feature, or reading predictions a version declares as
//! columns of the dataset), and checks every threshold. Data-quality thresholds read the dataset
//! against its schema; drift thresholds compare it with the reference.
//!
//! The result, [`ReleaseGates`], says per category (`quality`, `fairness`, `dataQuality`,
//! `drift`) whether the release passed, with one readable reason per failed threshold, and
//! carries a `digest` of its canonical JSON that approvals bind to. Results are cached by (model
//! digest, dataset digest, digest of everything else that shapes them) and reused.
//!
//! # Guarantees
//! - Every file is checked against the SHA-256 pinned in the repo before any result is used.
//! - A build without the `torch` feature runs releases whose versions declare their
//!   predictions, and refuses the others with [`GatingError::Runner`] wrapping
//!   `RunnerError::TorchDisabled`, never a silent pass.
//! - `digest` does not depend on timing, on the cache or on where the repo lives.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tollgate_error::Hint;
use tollgate_gates::cache::ResultCache;
use tollgate_gates::dataset::{ColumnSpec, ColumnType, DEFAULT_BATCH_ROWS, Format, Range, Sha256Digest};
use tollgate_gates::eval::{EvalReport, EvalRequest, Predictions, evaluate_with};
use tollgate_gates::metrics::DEFAULT_ECE_BINS;
use tollgate_gates::runner::{Device, Input, OutputKind, RunInfo, Signature};
use tollgate_gates::scorer::Scorer;
use tollgate_gates::spec::{Baseline, CacheKey, GateSpec, Outcome, ThresholdResult};

use tollgate_spec::{ConfigRepo, Document, Kind};

/// The gate categories a release may define, in report order. Environments name them in
/// `spec.gates`.
pub const CATEGORIES: [&str; 4] = ["quality", "fairness", "dataQuality", "drift"];

/// Bumped when the shape or meaning of cached results changes, so old entries are misses.
const RESULT_VERSION: u32 = 1;

/// How to run a release's gates.
#[derive(Clone, Debug, Default)]
pub struct GateRunOptions {
    /// Where models run (`auto`: CUDA when libtorch sees a GPU).
    pub device: Device,
    /// The result cache; `None` computes every time.
    pub cache_dir: Option<PathBuf>,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// The folder the repo's relative URIs (datasets, artifacts) resolve against; `None` uses
    /// `repo.origin`, which is the folder for a working-directory repo.
    pub root: Option<PathBuf>,
}

/// Why a release's gates could not be computed. A failed threshold is not an error: it is a
/// result whose `passed()` is false.
#[derive(Debug, thiserror::Error)]
pub enum GatingError {
    /// No Release of that name.
    #[error("no release `{name}` in the config repo")]
    UnknownRelease { name: String, known: String },
    /// The release defines no gates.
    #[error("release `{release}` has no `spec.gates`")]
    NoGates { release: String },
    /// A document the gates need is missing or incomplete.
    #[error("{what}")]
    Spec { what: String, hint: String },
    /// A repo path points outside the repo or is not a local file.
    #[error("`{uri}` is not a file inside the config repo")]
    Uri { uri: String },
    /// A model could not be verified, loaded or run.
    #[error(transparent)]
    Runner(Box<tollgate_gates::runner::RunnerError>),
    /// The evaluation failed (data unreadable, digest mismatch, bad values).
    #[error(transparent)]
    Eval(Box<tollgate_gates::eval::EvalError>),
    /// The data-quality pass failed.
    #[error("failed to assess data quality of `{path}`")]
    DataQuality {
        path: PathBuf,
        #[source]
        source: Box<tollgate_gates::dataset::DatasetError>,
    },
    /// The drift pass failed.
    #[error(transparent)]
    Drift(Box<tollgate_gates::drift_files::DriftError>),
    /// The result cache could not be written.
    #[error(transparent)]
    Cache(#[from] tollgate_gates::cache::CacheError),
    /// `gates.runner: kubernetes` needs a store for the Job's result, and none is set.
    #[error("gates run as kubernetes jobs need a result store, and none is set")]
    NoStore,
    /// The Job resolved a different run than the controller asked for (the inputs moved).
    #[error("release `{release}`: the job's run is `{found}`, not `{expected}`")]
    KeyMismatch { release: String, expected: String, found: String },
    /// The gates Job failed, was evicted too often, or the Kubernetes API refused.
    #[error(transparent)]
    Job(Box<tollgate_jobs::JobError>),
    /// A result in the store does not verify: it is refused, never used.
    #[error("the gate result `{path}` is refused")]
    Unverified {
        path: PathBuf,
        #[source]
        source: job::SignedError,
    },
    /// The results hold a value RFC 8785 refuses, so they have no digest to bind approvals to.
    #[error("gate results of release `{release}` for `{environment}` cannot be hashed")]
    Digest {
        release: String,
        environment: String,
        #[source]
        source: tollgate_audit::jcs::JcsError,
    },
}

impl GatingError {
    /// Whether the same gates at the same commit may compute when tried again: the cache could
    /// not be read or written, the Kubernetes API could not be reached, a Job vanished or found
    /// no node in time, or read other inputs. A reconciler tries such gates again after a
    /// backoff ([`crate::reconcile::Backoff`]); any other error stands until the commit changes
    /// (a Job that failed or was evicted too often is not run again on its own: that costs an
    /// accelerator each time).
    pub fn is_transient(&self) -> bool {
        use tollgate_jobs::JobError;
        match self {
            GatingError::Cache(tollgate_gates::cache::CacheError::Io { .. }) | GatingError::KeyMismatch { .. } => true,
            GatingError::Job(e) => {
                matches!(**e, JobError::Api { .. } | JobError::Client(_) | JobError::Vanished { .. } | JobError::Timeout { .. })
            }
            _ => false,
        }
    }
}

impl Hint for GatingError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            GatingError::UnknownRelease { known, .. } => Some(format!("releases here: {known}").into()),
            GatingError::NoGates { .. } => Some("add `gates: {evaluation: DATASET, quality: [{metric: roc_auc, min: 0.8}]}`".into()),
            GatingError::Spec { hint, .. } => Some(hint.as_str().into()),
            GatingError::Uri { .. } => Some("gates read artifacts and datasets by a path relative to the repo root".into()),
            // Transparent: the gates' error is not a link of the chain, so its hint is asked here.
            GatingError::Runner(e) => e.hint(),
            GatingError::Eval(e) => e.hint(),
            GatingError::NoStore => Some("set the gate cache (`--gate-cache DIR`), where jobs write their signed results".into()),
            GatingError::KeyMismatch { .. } => Some("the job read another commit or root than the controller; it runs again at the next pass".into()),
            GatingError::Job(e) => e.hint(),
            GatingError::Unverified { .. } => Some(
                "only a gates job signs results, with the key whose public half the controller trusts (`--gates-trusted-key`); remove the file to run the job again".into(),
            ),
            GatingError::DataQuality { .. } | GatingError::Drift(_) | GatingError::Cache(_) | GatingError::Digest { .. } => None,
        }
    }
}

// The gates' errors are large; boxed so that `Result<_, GatingError>` stays small.
impl From<tollgate_gates::runner::RunnerError> for GatingError {
    fn from(e: tollgate_gates::runner::RunnerError) -> GatingError {
        GatingError::Runner(Box::new(e))
    }
}

impl From<tollgate_gates::eval::EvalError> for GatingError {
    fn from(e: tollgate_gates::eval::EvalError) -> GatingError {
        GatingError::Eval(Box::new(e))
    }
}

impl From<tollgate_gates::drift_files::DriftError> for GatingError {
    fn from(e: tollgate_gates::drift_files::DriftError) -> GatingError {
        GatingError::Drift(Box::new(e))
    }
}

fn spec_error(what: impl Into<String>, hint: impl Into<String>) -> GatingError {
    GatingError::Spec { what: what.into(), hint: hint.into() }
}

/// One category of gates and its thresholds' results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryResult {
    /// `quality`, `fairness`, `dataQuality` or `drift`.
    pub category: String,
    pub passed: bool,
    pub results: Vec<ThresholdResult>,
}

/// Metrics of one group, for the per-group breakdown (NaN is `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMetrics {
    pub group: Vec<String>,
    pub rows: u64,
    pub metrics: std::collections::BTreeMap<String, Option<f64>>,
}

/// The groups of one grouping a fairness threshold names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub features: Vec<String>,
    pub groups: Vec<GroupMetrics>,
}

/// A model version, as results name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    pub name: String,
    pub version: String,
    /// The artifact's pinned SHA-256.
    pub sha256: String,
    /// `model` (the artifact ran) or `column COL` (predictions read from the dataset).
    pub scored_by: String,
}

/// Every gate result of a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseGates {
    pub release: String,
    pub environment: String,
    pub model: ModelRef,
    /// `None` when the release has no baseline or `production` resolves to nothing.
    pub baseline: Option<ModelRef>,
    pub evaluation: String,
    pub dataset_sha256: String,
    /// True when no threshold failed.
    pub passed: bool,
    /// The categories the release defines, in [`CATEGORIES`] order.
    pub categories: Vec<CategoryResult>,
    /// Per-group metrics of the groupings fairness thresholds name.
    pub breakdown: Vec<Breakdown>,
    /// What was not checked, and why.
    pub warnings: Vec<String>,
    /// Device, libtorch version, model digest, rows of the candidate's run.
    pub run: RunInfo,
    /// SHA-256 (hex) of the RFC 8785 canonical JSON of these results without `digest`,
    /// `cacheHit` and timing: what approvals bind to.
    pub digest: String,
    /// Whether these results came from the cache.
    pub cache_hit: bool,
}

impl ReleaseGates {
    /// True when every threshold of every category passed (a `maxRegression` not evaluated for
    /// want of a baseline does not block).
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// Whether a category passed; `None` when the release defines no threshold in it.
    pub fn category_passed(&self, category: &str) -> Option<bool> {
        self.categories.iter().find(|c| c.category == category).map(|c| c.passed)
    }

    /// One readable reason per failed threshold, prefixed with its category.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.categories {
            for r in &c.results {
                if let Outcome::Fail { reasons } = &r.outcome {
                    out.push(format!("{}: {}{}", c.category, reasons.join("; "), scope(&r.threshold)));
                }
            }
        }
        out
    }

    /// The digest `digest` should hold for these results.
    ///
    /// # Errors
    ///
    /// [`GatingError::Digest`] when the results hold an integer beyond ±2^53 (a count), which
    /// RFC 8785 refuses: they are not hashed some other way. (Non-finite numbers are already
    /// null in the JSON form.)
    pub fn compute_digest(&self) -> Result<String, GatingError> {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("digest");
            map.remove("cacheHit");
            if let Some(run) = map.get_mut("run").and_then(Value::as_object_mut) {
                run.remove("inferenceSeconds");
            }
        }
        let bytes = tollgate_audit::jcs::canonicalize(&value).map_err(|source| GatingError::Digest {
            release: self.release.clone(),
            environment: self.environment.clone(),
            source,
        })?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }
}

fn scope(t: &tollgate_gates::spec::Threshold) -> String {
    let mut parts = Vec::new();
    if !t.sensitive_features.is_empty() {
        parts.push(format!("by {}", t.sensitive_features.join(" x ")));
    }
    if let Some(c) = &t.column {
        parts.push(format!("column `{c}`"));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

/// A model version resolved from the repo.
struct Version {
    model: String,
    version: String,
    uri: String,
    sha256: Sha256Digest,
    signature: Signature,
    /// Predictions this version declares for the evaluation dataset: (prediction, score).
    predictions: Option<(Option<String>, Option<String>)>,
}

fn find<'a>(repo: &'a ConfigRepo, kind: Kind, name: &str) -> Option<&'a Document> {
    repo.of_kind(kind).find(|d| d.name == name)
}

fn names(repo: &ConfigRepo, kind: Kind) -> String {
    let v: Vec<String> = repo.of_kind(kind).map(|d| format!("`{}`", d.name)).collect();
    if v.is_empty() { "none".to_owned() } else { v.join(", ") }
}

fn resolve_version(repo: &ConfigRepo, model: &str, version: &str, dataset: &str, threshold: f64) -> Result<Version, GatingError> {
    let doc = find(repo, Kind::Model, model)
        .ok_or_else(|| spec_error(format!("no model `{model}`"), format!("models here: {}", names(repo, Kind::Model))))?;
    let spec = doc.spec();
    let versions = spec.get("versions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let entry = versions.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version)).ok_or_else(|| {
        let known: Vec<&str> = versions.iter().filter_map(|v| v.get("version").and_then(Value::as_str)).collect();
        spec_error(format!("model `{model}` has no version `{version}`"), format!("versions: {}", known.join(", ")))
    })?;
    let artifact = entry.get("artifact").unwrap_or(&Value::Null);
    let uri = artifact.get("uri").and_then(Value::as_str).unwrap_or_default().to_owned();
    let sha256: Sha256Digest = artifact.get("sha256").and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(|| {
        spec_error(format!("model `{model}@{version}` has no valid `artifact.sha256`"), "pin the artifact: `sha256sum FILE`")
    })?;
    let sig = spec.get("signature").unwrap_or(&Value::Null);
    let inputs: Vec<Input> = sig
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    let name = i.get("name")?.as_str()?.to_owned();
                    let values = i.get("values").and_then(Value::as_array).map(|v| v.iter().map(value_text).collect());
                    Some(Input { name, values })
                })
                .collect()
        })
        .unwrap_or_default();
    let output = match sig.pointer("/output/kind").and_then(Value::as_str) {
        Some("probability") | None => OutputKind::Probability,
        Some("score") => OutputKind::Score,
        Some(other) => {
            return Err(spec_error(
                format!("model `{model}`: gates cannot read output kind `{other}`"),
                "gates run binary classifiers whose output is `probability` or `score`",
            ));
        }
    };
    let predictions = entry
        .get("predictions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|p| p.get("dataset").and_then(Value::as_str) == Some(dataset)))
        .map(|p| {
            (p.get("prediction").and_then(Value::as_str).map(str::to_owned), p.get("score").and_then(Value::as_str).map(str::to_owned))
        });
    Ok(Version {
        model: model.to_owned(),
        version: version.to_owned(),
        uri,
        sha256,
        signature: Signature { inputs, output, threshold },
        predictions,
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The version `production` means for a release: the model version of the latest Promotion
/// of this model into the release's environment (by `promotedAt`, then document order),
/// other than the candidate itself.
fn production_version(repo: &ConfigRepo, environment: &str, model: &str, candidate: &str) -> Option<String> {
    repo.of_kind(Kind::Promotion)
        .filter(|d| d.str_at("/spec/environment") == Some(environment) && d.str_at("/spec/model/name") == Some(model))
        .filter_map(|d| Some((d.str_at("/spec/promotedAt").unwrap_or_default(), d.str_at("/spec/model/version")?)))
        .filter(|(_, v)| *v != candidate)
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, v)| v.to_owned())
}

/// A dataset resolved from the repo.
struct Dataset {
    name: String,
    path: PathBuf,
    format: Format,
    sha256: Sha256Digest,
    label: Option<String>,
    sensitive: Vec<String>,
    schema: Vec<ColumnSpec>,
    /// The declared row count, if any (for the progress bar only).
    rows: Option<u64>,
}

fn resolve_dataset(repo: &ConfigRepo, root: &Path, name: &str) -> Result<Dataset, GatingError> {
    let doc = find(repo, Kind::Dataset, name)
        .ok_or_else(|| spec_error(format!("no dataset `{name}`"), format!("datasets here: {}", names(repo, Kind::Dataset))))?;
    let spec = doc.spec();
    let uri = spec.get("uri").and_then(Value::as_str).unwrap_or_default();
    let path = local_path(root, uri)?;
    let sha256 = spec
        .get("sha256")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| spec_error(format!("dataset `{name}` has no valid `sha256`"), "pin the file: `sha256sum FILE`"))?;
    let format = match spec.get("format").and_then(Value::as_str) {
        Some("parquet") => Format::Parquet,
        Some("csv") => Format::Csv,
        _ => Format::from_path(&path).unwrap_or(Format::Csv),
    };
    let strings =
        |v: Option<&Value>| -> Vec<String> { v.and_then(Value::as_array).map(|a| a.iter().map(value_text).collect()).unwrap_or_default() };
    let schema = spec
        .pointer("/schema/columns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    let ty = match c.get("type").and_then(Value::as_str).unwrap_or("string") {
                        "integer" => ColumnType::Integer,
                        "float" => ColumnType::Float,
                        "boolean" => ColumnType::Boolean,
                        _ => ColumnType::String,
                    };
                    let mut col = ColumnSpec::new(c.get("name")?.as_str()?, ty);
                    col.nullable = c.get("nullable").and_then(Value::as_bool).unwrap_or(true);
                    col.range = c
                        .get("range")
                        .map(|r| Range { min: r.get("min").and_then(Value::as_f64), max: r.get("max").and_then(Value::as_f64) });
                    col.allowed_values = c.get("allowedValues").map(|v| strings(Some(v)));
                    Some(col)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Dataset {
        name: name.to_owned(),
        path,
        format,
        sha256,
        label: spec.get("label").and_then(Value::as_str).map(str::to_owned),
        sensitive: strings(spec.get("sensitiveFeatures")),
        schema,
        rows: spec.get("rows").and_then(Value::as_u64),
    })
}

/// A repo-relative URI as a path under `root`, refusing anything that could leave it.
fn local_path(root: &Path, uri: &str) -> Result<PathBuf, GatingError> {
    let rel = uri.strip_prefix("file://").unwrap_or(uri);
    let rel_path = Path::new(rel);
    let inside = !rel.is_empty()
        && !rel.contains("://")
        && rel_path.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !inside {
        return Err(GatingError::Uri { uri: uri.to_owned() });
    }
    Ok(root.join(rel_path))
}

/// Runs every gate of `release`.
///
/// # Errors
/// The release, its model version, datasets or baseline cannot be resolved; a file does not
/// match its pinned digest; a model must run and this build has no `torch` feature, or it
/// fails; the data holds unusable values. Failing thresholds are results, not errors.
#[tracing::instrument(skip(repo, opts))]
pub fn run_release_gates(repo: &ConfigRepo, release: &str, opts: &GateRunOptions) -> Result<ReleaseGates, GatingError> {
    let planned = plan(repo, release, opts)?;
    let key = &planned.key;
    let cache = opts.cache_dir.as_ref().map(ResultCache::new);
    if let Some(cache) = &cache
        && let Some(mut hit) = cache.get::<ReleaseGates>(key)?
        && hit.compute_digest().is_ok_and(|d| d == hit.digest)
    {
        hit.cache_hit = true;
        return Ok(hit);
    }
    let result = compute_planned(&planned, opts)?;
    if let Some(cache) = &cache {
        cache.put(key, &result)?;
    }
    Ok(result)
}

/// A release's gate run, resolved from the repo: everything [`compute_planned`] reads, and
/// the cache key that names the run.
pub(crate) struct Planned {
    release: String,
    environment: String,
    gates: GateSpec,
    candidate: Version,
    baseline: Option<Version>,
    dataset: Dataset,
    reference: Option<Dataset>,
    root: PathBuf,
    warnings: Vec<String>,
    /// (model digest, dataset digest, digest of everything else): the run's identity.
    pub(crate) key: CacheKey,
}

/// Computes a planned run (no cache).
pub(crate) fn compute_planned(p: &Planned, opts: &GateRunOptions) -> Result<ReleaseGates, GatingError> {
    let mut result =
        compute(&p.release, &p.environment, &p.gates, &p.candidate, p.baseline.as_ref(), &p.dataset, p.reference.as_ref(), &p.root, opts)?;
    result.warnings.splice(0..0, p.warnings.iter().cloned());
    result.digest = result.compute_digest()?;
    Ok(result)
}

/// Resolves a release's gate run from the repo, without computing it.
///
/// # Errors
/// As [`run_release_gates`], for what resolving finds.
pub(crate) fn plan(repo: &ConfigRepo, release: &str, opts: &GateRunOptions) -> Result<Planned, GatingError> {
    let doc = find(repo, Kind::Release, release)
        .ok_or_else(|| GatingError::UnknownRelease { name: release.to_owned(), known: names(repo, Kind::Release) })?;
    let spec = doc.spec();
    let gates_value = spec.get("gates").filter(|g| !g.is_null()).ok_or_else(|| GatingError::NoGates { release: release.to_owned() })?;
    let gates: GateSpec = serde_json::from_value(gates_value.clone()).map_err(|e| {
        spec_error(format!("release `{release}`: `spec.gates` is not valid: {e}"), "run `tollgate check` for the field and a hint")
    })?;
    if gates.evaluation.is_empty() {
        return Err(spec_error(
            format!("release `{release}`: `spec.gates.evaluation` is missing"),
            "name the Dataset the model is evaluated on",
        ));
    }
    let model = doc.str_at("/spec/model/name").unwrap_or_default().to_owned();
    let version = doc.str_at("/spec/model/version").unwrap_or_default().to_owned();
    let environment = doc.str_at("/spec/environment").unwrap_or_default().to_owned();
    let root = opts.root.clone().unwrap_or_else(|| PathBuf::from(&repo.origin));
    let threshold = gates.threshold.unwrap_or(0.5);

    let candidate = resolve_version(repo, &model, &version, &gates.evaluation, threshold)?;
    let dataset = resolve_dataset(repo, &root, &gates.evaluation)?;
    let mut warnings = Vec::new();
    let baseline = match &gates.baseline {
        None => None,
        Some(Baseline::Named(_)) => match production_version(repo, &environment, &model, &version) {
            Some(v) => Some(resolve_version(repo, &model, &v, &gates.evaluation, threshold)?),
            None => {
                warnings.push(format!(
                    "NO BASELINE: no Promotion of `{model}` into `{environment}` to compare with; maxRegression thresholds were NOT checked"
                ));
                None
            }
        },
        Some(Baseline::Version(v)) => {
            let (m, ver) = v.split_once('@').ok_or_else(|| {
                spec_error(
                    format!("release `{release}`: baseline `{v}` is neither `production` nor `<model>@<version>`"),
                    "e.g. `income@3`",
                )
            })?;
            Some(resolve_version(repo, m, ver, &gates.evaluation, threshold)?)
        }
    };
    let reference = match &gates.reference {
        Some(r) if !gates.drift.is_empty() => Some(resolve_dataset(repo, &root, r)?),
        _ => None,
    };

    // Everything besides the model and the evaluation data that shapes the results.
    let key_material = serde_json::json!({
        "version": RESULT_VERSION,
        "release": release,
        "environment": environment,
        "gates": gates,
        "signature": candidate.signature,
        "predictions": candidate.predictions,
        "baseline": baseline.as_ref().map(|b| (b.model.clone(), b.version.clone(), b.sha256.to_string(), b.signature.clone(), b.predictions.clone())),
        "reference": reference.as_ref().map(|r| r.sha256.to_string()),
        "label": dataset.label,
        "sensitive": dataset.sensitive,
        "schema": dataset.schema,
    });
    let key = CacheKey {
        model: candidate.sha256,
        dataset: dataset.sha256,
        gate_spec: Sha256Digest(Sha256::digest(key_material.to_string().as_bytes()).into()),
    };
    Ok(Planned { release: release.to_owned(), environment, gates, candidate, baseline, dataset, reference, root, warnings, key })
}

fn model_ref(v: &Version) -> ModelRef {
    let scored_by = match &v.predictions {
        Some((_, Some(score))) => format!("column {score}"),
        Some((Some(prediction), None)) => format!("column {prediction}"),
        _ => "model".to_owned(),
    };
    ModelRef { name: v.model.clone(), version: v.version.clone(), sha256: v.sha256.to_string(), scored_by }
}

/// The candidate's or baseline's predictions, and a loaded scorer when its model must run.
fn predictions_of(
    v: &Version,
    root: &Path,
    opts: &GateRunOptions,
    scorers: &mut Vec<Box<dyn ScorerBox>>,
) -> Result<Predictions, GatingError> {
    match &v.predictions {
        Some((Some(prediction), score)) => Ok(Predictions::Column { prediction: prediction.clone(), score: score.clone() }),
        Some((None, Some(score))) => Ok(Predictions::Threshold { score: score.clone(), threshold: v.signature.threshold }),
        _ => {
            let path = local_path(root, &v.uri)?;
            let scorer = load(&path, &v.sha256, &v.signature, opts.device)?;
            scorers.push(scorer);
            Ok(Predictions::Model {
                name: format!("{}@{}", v.model, v.version),
                inputs: v.signature.inputs.iter().map(|i| (i.name.clone(), i.column_type())).collect(),
                threshold: v.signature.threshold,
                scorer: scorers.len() - 1,
            })
        }
    }
}

/// A loaded model: a [`Scorer`] that also says where it ran.
trait ScorerBox: Scorer {
    fn device(&self) -> String;
    fn totals(&self) -> (u64, f64);
    fn as_scorer(&mut self) -> &mut dyn Scorer;
}

/// Whether this build can run models: the `torch` feature, which adds `tollgate-torch` (and
/// links libtorch). Without it, a release whose model must run fails with
/// [`RunnerError::TorchDisabled`](tollgate_gates::runner::RunnerError::TorchDisabled).
pub const CAN_RUN_MODELS: bool = cfg!(feature = "torch");

/// The libtorch version this build links; `None` without the `torch` feature.
pub fn libtorch_version() -> Option<&'static str> {
    #[cfg(feature = "torch")]
    return Some(tollgate_torch::libtorch_version());
    #[cfg(not(feature = "torch"))]
    None
}

#[cfg(feature = "torch")]
impl ScorerBox for tollgate_torch::ModelScorer {
    fn device(&self) -> String {
        tollgate_torch::ModelScorer::device(self)
    }
    fn totals(&self) -> (u64, f64) {
        tollgate_torch::ModelScorer::totals(self)
    }
    fn as_scorer(&mut self) -> &mut dyn Scorer {
        self
    }
}

#[cfg(feature = "torch")]
fn load(path: &Path, sha256: &Sha256Digest, signature: &Signature, device: Device) -> Result<Box<dyn ScorerBox>, GatingError> {
    Ok(Box::new(tollgate_torch::load_scorer(path, tollgate_gates::runner::ArtifactFormat::TorchScript, sha256, signature, device)?))
}

#[cfg(not(feature = "torch"))]
fn load(path: &Path, sha256: &Sha256Digest, _signature: &Signature, _device: Device) -> Result<Box<dyn ScorerBox>, GatingError> {
    // Verifies the digest first, then says this build cannot run it.
    tollgate_gates::runner::verify_artifact(path, sha256)?;
    Err(tollgate_gates::runner::RunnerError::TorchDisabled { path: path.to_owned() }.into())
}

fn progress_bar(opts: &GateRunOptions, rows: Option<u64>) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    // indicatif draws nothing when stderr is not a terminal.
    let bar = indicatif::ProgressBar::with_draw_target(rows, indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("{spinner} gates {bar:30} {human_pos}/{human_len} rows {per_sec} {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

#[allow(clippy::too_many_arguments)]
fn compute(
    release: &str,
    environment: &str,
    gates: &GateSpec,
    candidate: &Version,
    baseline: Option<&Version>,
    dataset: &Dataset,
    reference: Option<&Dataset>,
    root: &Path,
    opts: &GateRunOptions,
) -> Result<ReleaseGates, GatingError> {
    let mut categories = Vec::new();
    let mut breakdown = Vec::new();
    let mut warnings = Vec::new();
    let mut run =
        RunInfo { device: "none".to_owned(), libtorch_version: None, model_sha256: candidate.sha256, rows: 0, inference_seconds: 0.0 };

    if !gates.quality.is_empty() || !gates.fairness.is_empty() {
        let label = dataset.label.clone().ok_or_else(|| {
            spec_error(format!("dataset `{}` has no `label`", dataset.name), "name the column of true labels: `label: COLUMN`")
        })?;
        let mut scorers: Vec<Box<dyn ScorerBox>> = Vec::new();
        let predictions = predictions_of(candidate, root, opts, &mut scorers)?;
        let candidate_runs = !scorers.is_empty();
        let baseline_predictions = baseline.map(|b| predictions_of(b, root, opts, &mut scorers)).transpose()?;
        let request = EvalRequest {
            data: dataset.path.clone(),
            format: Some(dataset.format),
            label,
            predictions,
            sensitive: dataset.sensitive.clone(),
            weight: None,
            baseline: baseline_predictions,
            expected_sha256: Some(dataset.sha256),
            ece_bins: DEFAULT_ECE_BINS,
            batch_rows: DEFAULT_BATCH_ROWS,
        };
        // The declared row count sizes the bar; it counts up without a length otherwise.
        let bar = progress_bar(opts, dataset.rows);
        let report = {
            let mut refs: Vec<&mut dyn Scorer> = scorers.iter_mut().map(|s| s.as_scorer()).collect();
            evaluate_with(&request, &mut refs, &mut |n| bar.inc(n as u64))?
        };
        bar.finish_and_clear();
        if candidate_runs && let Some(s) = scorers.first() {
            let (rows, seconds) = s.totals();
            run.device = s.device();
            run.libtorch_version = libtorch_version().map(str::to_owned);
            run.rows = rows;
            run.inference_seconds = seconds;
        } else {
            run.rows = report.dataset.rows;
        }
        let checked = tollgate_gates::spec::check_eval(gates, &report);
        warnings.extend(checked.warnings.into_iter().filter(|w| !w.contains("needs the dataset's schema")));
        warnings.extend(report.notes.iter().filter(|n| !n.starts_with("NO BASELINE")).cloned());
        let (quality, fairness): (Vec<_>, Vec<_>) = checked.results.into_iter().partition(|r| gates.quality.contains(&r.threshold));
        push_category(&mut categories, "quality", quality);
        push_category(&mut categories, "fairness", fairness);
        breakdown = breakdown_of(&report, gates);
    }
    let data_quality = if gates.data_quality.is_empty() {
        None
    } else {
        let report = tollgate_gates::data_quality::assess(&dataset.path, dataset.format, &dataset.schema, Some(&dataset.sha256))
            .map_err(|source| GatingError::DataQuality { path: dataset.path.clone(), source: Box::new(source) })?;
        Some(report)
    };
    let drift = match reference {
        Some(reference) => {
            let columns: Vec<ColumnSpec> = gates
                .drift
                .iter()
                .filter_map(|t| t.column.as_ref())
                .fold(Vec::<String>::new(), |mut acc, c| {
                    if !acc.contains(c) {
                        acc.push(c.clone());
                    }
                    acc
                })
                .into_iter()
                .map(|c| {
                    let ty = dataset.schema.iter().find(|s| s.name == c).map_or(ColumnType::Float, |s| s.ty);
                    let ty = if ty == ColumnType::Integer { ColumnType::Float } else { ty };
                    ColumnSpec::new(c, ty)
                })
                .collect();
            use tollgate_gates::drift_files::Side;
            let current = Side { path: &dataset.path, format: dataset.format, sha256: Some(&dataset.sha256) };
            let against = Side { path: &reference.path, format: reference.format, sha256: Some(&reference.sha256) };
            Some(tollgate_gates::drift_files::drift(against, current, &columns)?)
        }
        None => {
            if !gates.drift.is_empty() {
                warnings
                    .push("drift thresholds need `gates.reference` (the Dataset to compare with); they fail as not computed".to_owned());
            }
            None
        }
    };
    let data_results = tollgate_gates::spec::check_data(gates, data_quality.as_ref(), drift.as_ref());
    let (dq, dr): (Vec<_>, Vec<_>) = data_results.into_iter().partition(|r| gates.data_quality.contains(&r.threshold));
    push_category(&mut categories, "dataQuality", dq);
    push_category(&mut categories, "drift", dr);

    let passed = categories.iter().all(|c| c.passed);
    Ok(ReleaseGates {
        release: release.to_owned(),
        environment: environment.to_owned(),
        model: model_ref(candidate),
        baseline: baseline.map(model_ref),
        evaluation: dataset.name.clone(),
        dataset_sha256: dataset.sha256.to_string(),
        passed,
        categories,
        breakdown,
        warnings,
        run,
        digest: String::new(),
        cache_hit: false,
    })
}

fn push_category(categories: &mut Vec<CategoryResult>, name: &str, results: Vec<ThresholdResult>) {
    if results.is_empty() {
        return;
    }
    let passed = results.iter().all(|r| !matches!(r.outcome, Outcome::Fail { .. }));
    categories.push(CategoryResult { category: name.to_owned(), passed, results });
}

fn breakdown_of(report: &EvalReport, gates: &GateSpec) -> Vec<Breakdown> {
    let mut out: Vec<Breakdown> = Vec::new();
    for t in &gates.fairness {
        let wanted: &[String] = if t.sensitive_features.is_empty() { &report.inputs.sensitive } else { &t.sensitive_features };
        if out.iter().any(|b| b.features == wanted) {
            continue;
        }
        if let Some(f) = report.fairness.iter().find(|f| f.features == wanted) {
            out.push(Breakdown {
                features: f.features.clone(),
                groups: f
                    .groups
                    .iter()
                    .map(|g| GroupMetrics {
                        group: g.group.clone(),
                        rows: g.rows,
                        metrics: g.metrics.iter().map(|(k, v)| ((*k).to_owned(), v.is_finite().then_some(*v))).collect(),
                    })
                    .collect(),
            });
        }
    }
    out
}

pub mod job;

#[cfg(test)]
mod tests;

/// The per-group metrics shown in the text report, in this order.
const BREAKDOWN_METRICS: [&str; 5] = ["selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "roc_auc"];

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| if v.is_finite() { format!("{v:.4}") } else { "NaN".to_owned() })
}

/// A report a person reads at a glance: one line per threshold (category, metric, scope,
/// value, bounds, baseline, result), the reasons under each failure, the per-group
/// breakdown of the fairness groupings, and the verdict.
pub fn render_text(g: &ReleaseGates) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let ran = match g.run.device.as_str() {
        "none" => "predictions read from the dataset".to_owned(),
        device => format!("ran on {device}, libtorch {}", g.run.libtorch_version.as_deref().unwrap_or("?")),
    };
    let _ = writeln!(out, "release   {} -> {}", g.release, g.environment);
    let _ = writeln!(out, "model     {}@{} ({ran}; sha256 {})", g.model.name, g.model.version, &g.model.sha256[..12]);
    let _ =
        writeln!(out, "data      {} ({} rows, sha256 {})", g.evaluation, g.run.rows, &g.dataset_sha256[..12.min(g.dataset_sha256.len())]);
    match &g.baseline {
        Some(b) => {
            let _ = writeln!(out, "baseline  {}@{} (scored by {})", b.name, b.version, b.scored_by);
        }
        None => {
            let _ = writeln!(out, "baseline  none");
        }
    }
    for w in &g.warnings {
        let _ = writeln!(out, "  !! {w}");
    }
    let mut rows: Vec<[String; 7]> = vec![["CATEGORY", "METRIC", "SCOPE", "VALUE", "THRESHOLD", "BASELINE", "RESULT"].map(str::to_owned)];
    let mut reasons: Vec<(usize, Vec<String>)> = Vec::new();
    for c in &g.categories {
        for r in &c.results {
            let t = &r.threshold;
            let mut bounds = Vec::new();
            if let Some(m) = t.min {
                bounds.push(format!(">= {m}"));
            }
            if let Some(m) = t.max {
                bounds.push(format!("<= {m}"));
            }
            if let Some(m) = t.max_regression {
                bounds.push(format!("regress <= {m}"));
            }
            let mut scope_parts = Vec::new();
            if !t.sensitive_features.is_empty() {
                scope_parts.push(format!("by {}", t.sensitive_features.join("x")));
            }
            if let Some(col) = &t.column {
                scope_parts.push(col.clone());
            }
            let (status, why) = match &r.outcome {
                Outcome::Pass => ("pass", Vec::new()),
                Outcome::Fail { reasons } => ("FAIL", reasons.clone()),
                Outcome::NotEvaluated { reasons } => ("not checked", reasons.clone()),
            };
            rows.push([
                c.category.clone(),
                t.metric.clone(),
                scope_parts.join(" "),
                num(r.value),
                bounds.join(", "),
                num(r.baseline_value),
                status.to_owned(),
            ]);
            if !why.is_empty() {
                reasons.push((rows.len() - 1, why));
            }
        }
    }
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if let Some((_, why)) = reasons.iter().find(|(r, _)| *r == i) {
            for reason in why {
                let _ = writeln!(out, "    {reason}");
            }
        }
    }
    for b in &g.breakdown {
        let _ = writeln!(out, "\nby {}", b.features.join(" x "));
        let shown: Vec<&str> =
            BREAKDOWN_METRICS.iter().copied().filter(|m| b.groups.iter().any(|gr| gr.metrics.contains_key(*m))).collect();
        let name_width = b.groups.iter().map(|gr| gr.group.join(", ").chars().count()).max().unwrap_or(5).max(5);
        let mut header = format!("  {:<name_width$}  {:>6}", "GROUP", "ROWS");
        for m in &shown {
            let _ = write!(header, "  {m:>19}");
        }
        let _ = writeln!(out, "{header}");
        for gr in &b.groups {
            let mut line = format!("  {:<name_width$}  {:>6}", gr.group.join(", "), gr.rows);
            for m in &shown {
                let _ = write!(line, "  {:>19}", num(gr.metrics.get(*m).copied().flatten()));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let failed: Vec<&str> = g.categories.iter().filter(|c| !c.passed).map(|c| c.category.as_str()).collect();
    let total: usize = g.categories.iter().map(|c| c.results.len()).sum();
    let failures = g.failures().len();
    out.push('\n');
    if g.passed {
        let _ = writeln!(out, "PASS: all {total} thresholds pass");
    } else {
        let _ = writeln!(out, "FAIL: {failures} of {total} thresholds failed ({})", failed.join(", "));
    }
    let _ = writeln!(out, "results sha256 {}{}", g.digest, if g.cache_hit { " (cached)" } else { "" });
    out
}
