//! A release's gates run as a Kubernetes Job (`gates.runner: kubernetes`), and the signed
//! result the Job leaves in the store.
//!
//! The controller resolves the run exactly as in-process ([`super::plan`]) and names it by its
//! cache key. If the store already holds a signed result for that key, it is read; otherwise
//! [`tollgate_jobs::JobRunner`] runs `tollgate gate run-job` as a Job (one per key, adopted
//! after a restart), which resolves the same run from the same commit, refuses to go on when
//! its key differs, computes the gates with the same code, and writes the result as a C2SP
//! signed note (Ed25519, the audit checkpoints' keys and format) to
//! `<cache>/signed/<key>.note`. The controller accepts the result only if a trusted key signed
//! it, it names the key asked for, and its digest is the digest of its content: a result that
//! does not verify is refused, never used.
//!
//! # Guarantees
//! - The result has the digest an in-process run gives, so approvals, decisions and audit
//!   events do not depend on where gates ran.
//! - No unsigned, forged or mismatched result reaches a decision (fail closed).

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tollgate_audit::checkpoint::{Signer, Verifier, open_note, sign_note};
use tollgate_gates::spec::CacheKey;
use tollgate_spec::ConfigRepo;

use super::{GateRunOptions, GatingError, ReleaseGates, compute_planned, plan};

/// The first line of a signed gate result.
pub const RESULT_ORIGIN: &str = "tollgate.dev/gate-result";

/// The controller's side of `gates.runner: kubernetes`: the cluster, the keys results must be
/// signed with, and what the Job's container is told.
#[derive(Debug, Clone)]
pub struct JobGates {
    /// The Kubernetes API the Jobs are created through.
    pub cluster: tollgate_jobs::Cluster,
    /// Keys a result must be signed by (one of them).
    pub trusted: Vec<Verifier>,
    /// Where the Job's container reads its signing key (a Secret's volume).
    pub key_file: PathBuf,
    /// The tollgate program inside the image.
    pub program: String,
    /// Timeout, eviction retries, log lines.
    pub limits: tollgate_jobs::Limits,
}

/// What the Job reads the release from: the repository and commit the controller prepared.
#[derive(Debug, Clone, Copy)]
pub struct JobInputs<'a> {
    pub repo: &'a Path,
    pub commit: &'a str,
}

/// Why a result from the store was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// The note's signature is missing, by an untrusted key, or wrong.
    #[error("the signature does not verify")]
    Signature(#[source] tollgate_audit::checkpoint::CheckpointError),
    /// The note is signed but is not a gate result for the run asked for.
    #[error("{reason}")]
    Content { reason: String },
}

/// Where the signed result of a run lives in the store.
pub fn signed_path(store: &Path, key: &CacheKey) -> PathBuf {
    store.join("signed").join(format!("{}.note", key.to_key()))
}

/// The digest a run's Job is named by: SHA-256 of its cache key.
pub fn run_digest(key: &CacheKey) -> String {
    hex::encode(Sha256::digest(key.to_key().as_bytes()))
}

/// The cache key of `release`'s gate run: what its Job and its signed result are named by.
///
/// # Errors
/// As [`super::run_release_gates`], for what resolving finds.
pub fn run_key(repo: &ConfigRepo, release: &str, opts: &GateRunOptions) -> Result<CacheKey, GatingError> {
    plan(repo, release, opts).map(|p| p.key)
}

/// `result`, signed by `signer`, for the run `key`.
///
/// # Errors
/// [`GatingError::Digest`] when the result has no canonical form.
pub fn sign_result(result: &ReleaseGates, key: &CacheKey, signer: &Signer) -> Result<String, GatingError> {
    let value = serde_json::to_value(result).unwrap_or(serde_json::Value::Null);
    let canonical = tollgate_audit::jcs::canonicalize(&value).map_err(|source| GatingError::Digest {
        release: result.release.clone(),
        environment: result.environment.clone(),
        source,
    })?;
    let json = String::from_utf8_lossy(&canonical);
    Ok(sign_note(&format!("{RESULT_ORIGIN}\n{}\n{json}\n", key.to_key()), &[signer]))
}

/// The result in `note`, if a key of `trusted` signed it, it is for `key`, and its digest is
/// that of its content.
///
/// # Errors
/// [`SignedError`] saying which of these failed.
pub fn open_result(note: &str, key: &CacheKey, trusted: &[Verifier]) -> Result<ReleaseGates, SignedError> {
    let (body, _) = open_note(note, trusted).map_err(SignedError::Signature)?;
    let content = |reason: &str| SignedError::Content { reason: reason.to_owned() };
    let mut lines = body.strip_suffix('\n').unwrap_or(body).splitn(3, '\n');
    if lines.next() != Some(RESULT_ORIGIN) {
        return Err(content("the note is not a gate result"));
    }
    if lines.next() != Some(key.to_key().as_str()) {
        return Err(content("the result is for another run (its key differs)"));
    }
    let result: ReleaseGates =
        serde_json::from_str(lines.next().unwrap_or_default()).map_err(|_| content("the result does not read as gate results"))?;
    if result.compute_digest().ok().as_deref() != Some(result.digest.as_str()) {
        return Err(content("the result's digest is not the digest of its content"));
    }
    Ok(result)
}

/// Reads and checks the signed result of `key` in `store`; `None` when there is none.
fn read_signed(store: &Path, key: &CacheKey, trusted: &[Verifier]) -> Result<Option<ReleaseGates>, GatingError> {
    let path = signed_path(store, key);
    let note = match std::fs::read_to_string(&path) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(GatingError::Cache(tollgate_gates::cache::CacheError::Io { path, source })),
    };
    open_result(&note, key, trusted).map(Some).map_err(|source| GatingError::Unverified { path, source })
}

/// Runs `release`'s gates as a Kubernetes Job (or reads the result a Job already wrote).
///
/// # Errors
/// As [`super::run_release_gates`]; [`GatingError::NoStore`] without a store;
/// [`GatingError::Job`] when the Job fails (with its log tail), is evicted too often, or the API
/// refuses; [`GatingError::Unverified`] when the result does not verify.
#[tracing::instrument(skip(repo, opts, job, settings, inputs))]
pub fn run_release_gates_as_job(
    repo: &ConfigRepo,
    release: &str,
    opts: &GateRunOptions,
    job: &JobGates,
    settings: tollgate_jobs::PodSettings,
    inputs: JobInputs<'_>,
) -> Result<ReleaseGates, GatingError> {
    let planned = plan(repo, release, opts)?;
    let store = opts.cache_dir.clone().ok_or(GatingError::NoStore)?;
    if let Some(mut found) = read_signed(&store, &planned.key, &job.trusted)? {
        found.cache_hit = true;
        return Ok(found);
    }
    // The Job runs elsewhere: every path it is given is absolute (the chart mounts them at the
    // same places).
    let path = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).to_string_lossy().into_owned();
    let mut command = vec![job.program.clone(), "gate".into(), "run-job".into(), release.to_owned()];
    for (flag, value) in [
        ("--repo", path(inputs.repo)),
        ("--rev", inputs.commit.to_owned()),
        ("--root", path(&planned.root)),
        ("--store", path(&store)),
        ("--key-file", path(&job.key_file)),
        ("--expect-key", planned.key.to_key()),
        ("--device", device_arg(opts.device).to_owned()),
    ] {
        command.push(flag.to_owned());
        command.push(value);
    }
    let run = tollgate_jobs::Run { digest: run_digest(&planned.key), command, env: vec![("RUST_LOG".into(), "warn".into())] };
    tollgate_jobs::JobRunner::new(job.cluster.clone(), settings, job.limits.clone())
        .run_blocking(&run)
        .map_err(|e| GatingError::Job(Box::new(e)))?;
    read_signed(&store, &planned.key, &job.trusted)?.ok_or_else(|| GatingError::Unverified {
        path: signed_path(&store, &planned.key),
        source: SignedError::Content { reason: "the job completed without writing its result".into() },
    })
}

fn device_arg(device: tollgate_gates::runner::Device) -> &'static str {
    use tollgate_gates::runner::Device;
    match device {
        Device::Cpu => "cpu",
        Device::Cuda => "cuda",
        Device::Auto => "auto",
    }
}

/// The Job's side: resolves the run from the repo, refuses when its key is not `expect_key`,
/// computes it as in-process and writes the signed result to the store (atomically).
///
/// # Errors
/// As [`super::run_release_gates`]; [`GatingError::KeyMismatch`]; the store cannot be written.
pub fn run_job(repo: &ConfigRepo, release: &str, opts: &GateRunOptions, expect_key: &str, signer: &Signer) -> Result<PathBuf, GatingError> {
    let store = opts.cache_dir.clone().ok_or(GatingError::NoStore)?;
    let planned = plan(repo, release, opts)?;
    if planned.key.to_key() != expect_key {
        return Err(GatingError::KeyMismatch { release: release.to_owned(), expected: expect_key.to_owned(), found: planned.key.to_key() });
    }
    let result = compute_planned(&planned, opts)?;
    let note = sign_result(&result, &planned.key, signer)?;
    let path = signed_path(&store, &planned.key);
    let io = |source| GatingError::Cache(tollgate_gates::cache::CacheError::Io { path: path.clone(), source });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Jobs of one key may write at once (a retried pod, two releases of one model and data).
    tollgate_gates::cache::write_whole(&path, note.as_bytes()).map_err(io)?;
    Ok(path)
}
