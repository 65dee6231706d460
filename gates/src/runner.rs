//! Running a model artifact: verify its digest, then (with the `torch` feature) load it with
//! tch and run batched inference under no-grad on the chosen device.
//!
//! A build without `torch` still verifies artifacts and computes every metric from
//! predictions it is given (`tollgate gate eval`); asked to run a model, it fails with
//! [`RunnerError::TorchDisabled`], which says how to get a build that can.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetError, Sha256Digest, sha256_file};

/// How a model artifact is stored. An enum so that an ahead-of-time format (`torch.export`,
/// which upstream recommends over the deprecated TorchScript) can join later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactFormat {
    TorchScript,
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// What the model's single output tensor holds for each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// The probability of the positive class, in `[0, 1]`.
    Probability,
    /// A raw score (a logit, a margin): ranking metrics only.
    Score,
}

/// A model version's declared signature: which dataset columns feed it, in order, and how to
/// read its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    pub inputs: Vec<String>,
    pub output: OutputKind,
    /// Predict positive when the output is at least this.
    pub threshold: f64,
}

/// What a run records with its results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    pub device: String,
    pub libtorch_version: Option<String>,
    pub model_sha256: Sha256Digest,
    pub rows: u64,
}

/// Why a model could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The artifact could not be read or its digest differs from the pinned one.
    #[error("model artifact `{path}` failed verification")]
    Artifact {
        path: PathBuf,
        #[source]
        source: Box<DatasetError>,
    },
    /// This build does not link libtorch.
    #[error(
        "running model `{path}` needs tollgate built with the `torch` feature\nhint: `cargo build --release --features torch` with libtorch 2.13 (see the README); `tollgate gate eval` computes every metric from predictions you already have"
    )]
    TorchDisabled { path: PathBuf },
}

/// Checks a model artifact against its pinned digest before anything loads it.
///
/// # Errors
/// The file cannot be read, or its SHA-256 is not `expected`.
pub fn verify_artifact(path: &Path, expected: &Sha256Digest) -> Result<Sha256Digest, RunnerError> {
    let artifact_error = |source: DatasetError| RunnerError::Artifact { path: path.to_owned(), source: Box::new(source) };
    let (actual, _) = sha256_file(path).map_err(artifact_error)?;
    if actual != *expected {
        return Err(artifact_error(DatasetError::DigestMismatch { path: path.to_owned(), expected: *expected, actual }));
    }
    Ok(actual)
}

/// Whether this build can run models.
pub const CAN_RUN_MODELS: bool = cfg!(feature = "torch");

/// Verifies and loads a model for inference.
///
/// # Errors
/// Verification fails, or this build has no `torch` feature.
pub fn check_runnable(path: &Path, format: ArtifactFormat, expected: &Sha256Digest) -> Result<Sha256Digest, RunnerError> {
    let digest = verify_artifact(path, expected)?;
    match format {
        ArtifactFormat::TorchScript if !CAN_RUN_MODELS => Err(RunnerError::TorchDisabled { path: path.to_owned() }),
        ArtifactFormat::TorchScript => Ok(digest),
    }
}

#[cfg(test)]
mod tests;
