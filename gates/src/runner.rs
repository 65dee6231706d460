//! The format-independent half of running a model: verify an artifact's digest, the declared
//! signature, the encoding of input columns into the model's input, and the checks on its
//! outputs. Loading and running a TorchScript file is `tollgate-torch`'s (the one crate that
//! links libtorch), which builds on these.
//!
//! The model takes one `float32` tensor of shape `[rows, width]` built from the declared input
//! columns, in order: a numeric input is one column (its value), a category input with `values`
//! is one column per value (one-hot; a value not in the list, or null, is all zeros, as
//! scikit-learn's `handle_unknown="ignore"`). It returns one value per row (`[rows]` or
//! `[rows, 1]`), or two (`[rows, 2]`, the second being the positive class).
//!
//! A build without the `torch` feature (which adds `tollgate-torch`) still verifies artifacts
//! and computes every metric from predictions it is given (`tollgate gate eval`); asked to run
//! a model, it fails with [`RunnerError::TorchDisabled`], which says how to get a build that can.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_error::Hint;

use crate::dataset::{Batch, Column, ColumnType, DatasetError, Sha256Digest, sha256_file};

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

/// One input column of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub name: String,
    /// For a category input, the values it is one-hot encoded over, in order; `None` for a
    /// numeric input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl Input {
    /// A numeric input.
    pub fn numeric(name: impl Into<String>) -> Input {
        Input { name: name.into(), values: None }
    }

    /// How the dataset reader should type the column.
    pub fn column_type(&self) -> ColumnType {
        if self.values.is_some() { ColumnType::String } else { ColumnType::Float }
    }

    fn width(&self) -> usize {
        self.values.as_ref().map_or(1, Vec::len)
    }
}

/// A model version's declared signature: which dataset columns feed it, in order, and how to
/// read its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    pub inputs: Vec<Input>,
    pub output: OutputKind,
    /// Predict positive when the output is at least this.
    pub threshold: f64,
}

impl Signature {
    /// Columns of the input tensor.
    pub fn width(&self) -> usize {
        self.inputs.iter().map(Input::width).sum()
    }
}

/// What a run records with its results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    /// `cpu` or `cuda:N`, or `none` when no model ran (predictions were read from the data).
    pub device: String,
    /// The libtorch the build links, when a model ran.
    pub libtorch_version: Option<String>,
    pub model_sha256: Sha256Digest,
    pub rows: u64,
    /// Seconds spent in inference (encoding inputs, forward passes, reading outputs).
    pub inference_seconds: f64,
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
    #[error("running model `{path}` needs tollgate built with the `torch` feature")]
    TorchDisabled { path: PathBuf },
    /// CUDA was asked for and libtorch sees no GPU.
    #[error("`--device cuda` was asked for, but libtorch sees no CUDA device")]
    NoCuda,
    /// libtorch could not load the artifact as TorchScript.
    #[error("failed to load `{path}` as TorchScript")]
    Load {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The forward pass failed (wrong input width, an exception in the model).
    #[error("model `{path}` failed on a batch of {rows} rows x {width} inputs")]
    Forward {
        path: PathBuf,
        rows: usize,
        width: usize,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The output tensor has a shape the signature cannot read.
    #[error("model `{path}` returned a tensor of shape {shape:?} for {rows} rows")]
    OutputShape { path: PathBuf, shape: Vec<i64>, rows: usize },
    /// A declared probability is outside `[0, 1]`, or an output is not finite.
    #[error("model `{path}` returned {value} for the row at line {line}, expected {expected}")]
    OutputValue { path: PathBuf, line: u64, value: f64, expected: &'static str, hint: &'static str },
    /// A numeric input cell is null or not a number.
    #[error("line {line}: model input `{column}` is `{value}`, expected a number")]
    InputValue { line: u64, column: String, value: String },
}

impl Hint for RunnerError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            RunnerError::Artifact { source, .. } => source.hint(),
            RunnerError::TorchDisabled { .. } => Some(Cow::Borrowed(
                "`cargo build --release --features torch` with libtorch 2.13 (see the README); `tollgate gate eval` computes every metric from predictions you already have",
            )),
            RunnerError::NoCuda => {
                Some(Cow::Borrowed("use `--device auto` to fall back to the CPU, or check the driver with `nvidia-smi`"))
            }
            RunnerError::Load { .. } => {
                Some(Cow::Borrowed("save it with `torch.jit.save(torch.jit.trace(model, example), path)` or `torch.jit.script`"))
            }
            RunnerError::Forward { .. } => Some(Cow::Borrowed(
                "the model takes a float32 tensor [rows, width] built from `signature.inputs` (one column per numeric input, one per value of a category input)",
            )),
            RunnerError::OutputShape { .. } => {
                Some(Cow::Borrowed("return one value per row ([rows] or [rows, 1]) or two class probabilities ([rows, 2])"))
            }
            RunnerError::OutputValue { hint, .. } => Some(Cow::Borrowed(hint)),
            RunnerError::InputValue { .. } => Some(Cow::Borrowed(
                "fill or drop rows with missing inputs before evaluating, or declare the input as a category with `values`",
            )),
        }
    }
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

/// Turns the input columns of a batch into the model's row-major `float32` input.
#[derive(Clone, Debug)]
pub struct InputEncoder {
    inputs: Vec<Input>,
    width: usize,
}

impl InputEncoder {
    pub fn new(inputs: &[Input]) -> InputEncoder {
        InputEncoder { inputs: inputs.to_vec(), width: inputs.iter().map(Input::width).sum() }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Encodes `batch.rows` rows of `columns` (one batch column per input, in order) into
    /// `out`, replacing its contents (its allocation is reused).
    ///
    /// One pass per input over the row-major output. Float and string columns, what the
    /// dataset readers produce for numeric and category inputs, take a path without per-cell
    /// conversions; other column types go through [`Column::number`] and [`Column::text`].
    ///
    /// # Errors
    /// A numeric input is null or not a number.
    pub fn encode(&self, batch: &Batch, columns: &[usize], out: &mut Vec<f32>) -> Result<(), RunnerError> {
        let rows = batch.rows;
        out.clear();
        out.resize(rows * self.width, 0.0);
        if self.width == 0 {
            return Ok(());
        }
        let mut offset = 0;
        for (input, &c) in self.inputs.iter().zip(columns) {
            let column = &batch.columns[c];
            let cells = out.chunks_exact_mut(self.width).map(|row| &mut row[offset..offset + input.width()]);
            let bad = |row: usize| RunnerError::InputValue {
                line: batch.line(row),
                column: input.name.clone(),
                value: column.text(row).map(|t| t.into_owned()).unwrap_or_default(),
            };
            match (&input.values, column) {
                (None, Column::Float(v)) => {
                    for (row, (cell, x)) in cells.zip(v).enumerate() {
                        match x {
                            Some(x) if x.is_finite() => cell[0] = *x as f32,
                            _ => return Err(bad(row)),
                        }
                    }
                }
                (None, _) => {
                    for (row, cell) in cells.enumerate() {
                        match column.number(row) {
                            Some(x) if x.is_finite() => cell[0] = x as f32,
                            _ => return Err(bad(row)),
                        }
                    }
                }
                (Some(values), Column::String(v)) => {
                    for (cell, text) in cells.zip(v) {
                        if let Some(text) = text
                            && let Some(k) = values.iter().position(|v| v == text)
                        {
                            cell[k] = 1.0;
                        }
                    }
                }
                (Some(values), _) => {
                    for (row, cell) in cells.enumerate() {
                        if let Some(text) = column.text(row)
                            && let Some(k) = values.iter().position(|v| *v == text)
                        {
                            cell[k] = 1.0;
                        }
                    }
                }
            }
            offset += input.width();
        }
        Ok(())
    }
}

/// Reads a model's output values as scores, checking what the signature promises.
///
/// # Errors
/// A value is not finite, or a declared probability is outside `[0, 1]`.
pub fn check_outputs(path: &Path, output: OutputKind, batch: &Batch, scores: &[f64]) -> Result<(), RunnerError> {
    for (row, &value) in scores.iter().enumerate() {
        let (ok, expected, hint) = match output {
            OutputKind::Probability => (
                (0.0..=1.0).contains(&value),
                "a probability in [0, 1]",
                "end the model with a sigmoid (or softmax), or declare `output.kind: score`",
            ),
            OutputKind::Score => (value.is_finite(), "a finite score", "check the model for overflow on this row's inputs"),
        };
        if !ok {
            return Err(RunnerError::OutputValue { path: path.to_owned(), line: batch.line(row), value, expected, hint });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
