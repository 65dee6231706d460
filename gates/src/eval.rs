//! "Bring your own predictions": every quality and fairness metric of a file that already
//! holds labels and predictions (or scores and a threshold), in one streaming pass.

mod render;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use tollgate_error::Hint;

use crate::dataset::{self, Batch, ColumnSpec, ColumnType, DatasetError, Format, ReadOptions, Sha256Digest};
use crate::metrics::{BinaryAccumulator, BinaryMetric, BinaryReport, Disparities, GroupEncoder, Method, MetricError};
use crate::runner::RunnerError;
use crate::scorer::Scorer;

pub use render::{render_data_quality, render_drift, render_gates, render_text};

/// Where predicted labels come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// A column of 0/1 predictions, optionally with a score column for ranking metrics.
    Column { prediction: String, score: Option<String> },
    /// A score column turned into labels by `score >= threshold`.
    Threshold { score: String, threshold: f64 },
    /// Scores computed by a model from its input columns (by the [`Scorer`] at index `scorer`
    /// of [`evaluate_with`]'s list), turned into labels by `score >= threshold`.
    Model { name: String, inputs: Vec<(String, ColumnType)>, threshold: f64, scorer: usize },
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub data: PathBuf,
    /// The format, or `None` to tell it from the file name.
    pub format: Option<Format>,
    pub label: String,
    pub predictions: Predictions,
    pub sensitive: Vec<String>,
    pub weight: Option<String>,
    /// The baseline model's predictions on the same rows (`maxRegression`), if any.
    pub baseline: Option<Predictions>,
    pub expected_sha256: Option<Sha256Digest>,
    pub ece_bins: usize,
    pub batch_rows: usize,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A metric could not be computed.
    #[error("failed to compute metrics for `{path}`")]
    Metric {
        path: PathBuf,
        #[source]
        source: MetricError,
    },
    /// A cell that must hold a value holds none or the wrong one.
    #[error("{path}:{line}: column `{column}`: expected {expected}, found `{value}`")]
    Value { path: PathBuf, line: u64, column: String, expected: &'static str, value: String, hint: &'static str },
    /// The same column is named for two roles.
    #[error("column `{column}` is given as both {first} and {second}")]
    SameColumn { column: String, first: &'static str, second: &'static str },
    /// A model could not score the data.
    #[error(transparent)]
    Model(#[from] RunnerError),
    /// A [`Predictions::Model`] names a scorer that was not given.
    #[error("no scorer at index {index} for model `{name}`")]
    NoScorer { name: String, index: usize },
    /// The threshold is not a number in a usable range.
    #[error("threshold `{threshold}` is not a finite number")]
    BadThreshold { threshold: f64 },
}

impl Hint for EvalError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            EvalError::Dataset(e) => e.hint(),
            EvalError::Model(e) => e.hint(),
            EvalError::Value { hint, .. } => Some(Cow::Borrowed(hint)),
            EvalError::Metric { .. } | EvalError::SameColumn { .. } | EvalError::NoScorer { .. } | EvalError::BadThreshold { .. } => None,
        }
    }
}

/// The dataset an evaluation read.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetInfo {
    pub path: PathBuf,
    pub format: Format,
    pub sha256: Sha256Digest,
    pub rows: u64,
    pub bytes: u64,
}

/// The columns an evaluation used.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    pub label: String,
    pub prediction: Option<String>,
    pub score: Option<String>,
    pub threshold: Option<f64>,
    pub sensitive: Vec<String>,
    pub weight: Option<String>,
    pub ece_bins: usize,
}

/// Metrics of one group (`metrics` is keyed by metric name, as specs spell them).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    pub group: Vec<String>,
    pub rows: u64,
    pub weight: f64,
    pub metrics: BTreeMap<&'static str, f64>,
}

/// Fairness of one grouping: a sensitive feature alone or the intersection of all.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fairness {
    pub features: Vec<String>,
    pub groups: Vec<GroupRow>,
    pub between_groups: Disparities,
    pub to_overall: Disparities,
}

/// Everything `tollgate gate eval` reports.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalReport {
    pub dataset: DatasetInfo,
    pub inputs: Inputs,
    /// Every available quality metric on all rows (NaN is written `null` in JSON).
    pub overall: BTreeMap<&'static str, f64>,
    pub fairness: Vec<Fairness>,
    /// The baseline model's metrics on the same rows, when its predictions were given.
    pub baseline: Option<BaselineReport>,
    /// What could not be computed, and why.
    pub notes: Vec<String>,
}

/// A baseline model's metrics, computed in the same pass as the candidate's.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineReport {
    pub prediction: Option<String>,
    pub score: Option<String>,
    pub threshold: Option<f64>,
    pub overall: BTreeMap<&'static str, f64>,
    pub fairness: Vec<Fairness>,
}

fn metrics_of(report: &BinaryReport, g: &crate::metrics::GroupMetrics) -> BTreeMap<&'static str, f64> {
    BinaryMetric::ALL.into_iter().filter(|m| report.available(*m)).map(|m| (m.name(), g.get(m))).collect()
}

/// Columns (batch indices) that give one model's predictions.
#[derive(Clone, Debug)]
struct ModelColumns {
    prediction: Option<usize>,
    score: Option<usize>,
    threshold: Option<f64>,
    /// For a model: its scorer and the batch indices of its inputs.
    model: Option<(usize, Vec<usize>)>,
}

/// Adds a model's columns to `roles` and says where they are.
fn model_columns(
    roles: &mut Vec<(&'static str, String, ColumnType)>,
    predictions: &Predictions,
    baseline: bool,
) -> Result<ModelColumns, EvalError> {
    let (p_role, s_role) = if baseline { ("baseline prediction", "baseline score") } else { ("prediction", "score") };
    let mut cols = ModelColumns { prediction: None, score: None, threshold: None, model: None };
    match predictions {
        Predictions::Column { prediction, score } => {
            cols.prediction = Some(roles.len());
            roles.push((p_role, prediction.clone(), ColumnType::String));
            if let Some(s) = score {
                cols.score = Some(roles.len());
                roles.push((s_role, s.clone(), ColumnType::Float));
            }
        }
        Predictions::Threshold { score, threshold } => {
            if !threshold.is_finite() {
                return Err(EvalError::BadThreshold { threshold: *threshold });
            }
            cols.score = Some(roles.len());
            cols.threshold = Some(*threshold);
            roles.push((s_role, score.clone(), ColumnType::Float));
        }
        Predictions::Model { threshold, .. } => {
            if !threshold.is_finite() {
                return Err(EvalError::BadThreshold { threshold: *threshold });
            }
            // The score comes from the scorer; its input columns are added after the others.
            cols.threshold = Some(*threshold);
        }
    }
    Ok(cols)
}

fn predictions_inputs(p: &Predictions) -> (Option<String>, Option<String>, Option<f64>) {
    match p {
        Predictions::Column { prediction, score } => (Some(prediction.clone()), score.clone(), None),
        Predictions::Threshold { score, threshold } => (None, Some(score.clone()), Some(*threshold)),
        Predictions::Model { name, threshold, .. } => (None, Some(format!("model {name}")), Some(*threshold)),
    }
}

/// One model's metrics, from its accumulator.
struct ModelOutcome {
    overall: BTreeMap<&'static str, f64>,
    fairness: Vec<Fairness>,
    not_probability_row: Option<u64>,
}

fn outcome(reports: &[BinaryReport], k: usize) -> ModelOutcome {
    let main = &reports[0];
    let overall = metrics_of(main, &main.overall);
    // Singles first, then the intersection, so a reader meets the simple view first.
    let mut fairness = Vec::new();
    if k > 0 {
        let order: Vec<usize> = if k > 1 { (1..reports.len()).chain([0]).collect() } else { vec![0] };
        for i in order {
            let r = &reports[i];
            let groups = r
                .by_group
                .iter()
                .enumerate()
                .map(|(g, m)| GroupRow {
                    group: r.groups.label(g).into_iter().map(str::to_owned).collect(),
                    rows: m.rows,
                    weight: m.weight,
                    metrics: metrics_of(r, m),
                })
                .collect();
            fairness.push(Fairness {
                features: r.groups.features.clone(),
                groups,
                between_groups: r.disparities(Method::BetweenGroups),
                to_overall: r.disparities(Method::ToOverall),
            });
        }
    }
    ModelOutcome { overall, fairness, not_probability_row: main.not_probability_row }
}

/// Reads the file once and computes every quality and fairness metric, for the candidate's
/// predictions and, when given, the baseline's, in the same pass.
///
/// # Errors
/// The file cannot be read, a column is missing or holds a wrong or missing value, or there
/// are no rows.
pub fn evaluate(request: &EvalRequest) -> Result<EvalReport, EvalError> {
    evaluate_with(request, &mut [], &mut |_| {})
}

/// [`evaluate`], with models that score the rows as they are read: `scorers` serve the
/// [`Predictions::Model`] entries of the request (candidate and baseline run in the same
/// pass), and `progress` is told the rows of each batch once it is done.
///
/// # Errors
/// As [`evaluate`], and a model cannot score a batch.
pub fn evaluate_with(
    request: &EvalRequest,
    scorers: &mut [&mut dyn Scorer],
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport, EvalError> {
    let path = &request.data;
    let format = match request.format {
        Some(f) => f,
        None => Format::from_path(path).ok_or_else(|| DatasetError::UnknownFormat { path: path.clone() })?,
    };
    // Column roles, in batch order: label, weight?, the models' columns, sensitive features.
    let mut roles: Vec<(&'static str, String, ColumnType)> = vec![("label", request.label.clone(), ColumnType::String)];
    let weight_index = request.weight.as_ref().map(|w| {
        roles.push(("weight", w.clone(), ColumnType::Float));
        1
    });
    let mut models = vec![model_columns(&mut roles, &request.predictions, false)?];
    if let Some(b) = &request.baseline {
        models.push(model_columns(&mut roles, b, true)?);
    }
    let first_sensitive = roles.len();
    for s in &request.sensitive {
        roles.push(("sensitive feature", s.clone(), ColumnType::String));
    }
    for (i, (role, name, _)) in roles.iter().enumerate() {
        if let Some((other, _, _)) = roles[..i].iter().find(|(_, n, _)| n == name) {
            // A baseline may share the candidate's score column only by mistake; say so.
            return Err(EvalError::SameColumn { column: name.clone(), first: other, second: role });
        }
    }
    // Model inputs may share columns with the roles above (a model may take a sensitive
    // feature); each input column is read once.
    let predictions = std::iter::once(&request.predictions).chain(request.baseline.as_ref());
    for (model, p) in models.iter_mut().zip(predictions) {
        if let Predictions::Model { name, inputs, scorer, .. } = p {
            if *scorer >= scorers.len() {
                return Err(EvalError::NoScorer { name: name.clone(), index: *scorer });
            }
            let mut indices = Vec::with_capacity(inputs.len());
            for (input, ty) in inputs {
                let index = match roles.iter().position(|(_, n, _)| n == input) {
                    Some(i) => i,
                    None => {
                        roles.push(("model input", input.clone(), *ty));
                        roles.len() - 1
                    }
                };
                indices.push(index);
            }
            model.model = Some((*scorer, indices));
            model.score = Some(usize::MAX);
        }
    }
    let specs: Vec<ColumnSpec> = roles.iter().map(|(_, name, ty)| ColumnSpec::new(name.clone(), *ty)).collect();

    let metric_error = |source| EvalError::Metric { path: path.clone(), source };
    let mut encoder = GroupEncoder::new(request.sensitive.clone()).map_err(metric_error)?;
    let mut accs: Vec<BinaryAccumulator> = models.iter().map(|m| BinaryAccumulator::new(m.score.is_some(), request.ece_bins)).collect();
    let k = request.sensitive.len();
    let mut model_scores: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    let options = ReadOptions { columns: &specs, expected_sha256: request.expected_sha256.as_ref(), batch_rows: request.batch_rows };
    let mut values: Vec<String> = Vec::with_capacity(request.sensitive.len());
    let summary = dataset::read(path, format, &options, |batch: &Batch| -> Result<(), EvalError> {
        let value_error = |row: usize, c: usize, expected: &'static str, hint: &'static str| EvalError::Value {
            path: path.clone(),
            line: batch.line(row),
            column: specs[c].name.clone(),
            expected,
            value: batch.columns[c].text(row).map(|t| t.into_owned()).unwrap_or_default(),
            hint,
        };
        for acc in &mut accs {
            acc.reserve(batch.rows);
        }
        for (model, scores) in models.iter().zip(model_scores.iter_mut()) {
            if let Some((scorer, columns)) = &model.model {
                *scores = scorers[*scorer].score(batch, columns)?;
                if scores.len() != batch.rows {
                    return Err(EvalError::Model(RunnerError::OutputShape {
                        path: path.clone(),
                        shape: vec![scores.len() as i64],
                        rows: batch.rows,
                    }));
                }
            }
        }
        for row in 0..batch.rows {
            let label = match batch.columns[0].binary(row) {
                Some(Some(b)) => b,
                _ => return Err(value_error(row, 0, "0 or 1", "labels are 0/1 (or true/false); the positive class is 1")),
            };
            let weight = match weight_index {
                Some(c) => match batch.columns[c].number(row) {
                    Some(w) if w.is_finite() && w >= 0.0 => w,
                    _ => return Err(value_error(row, c, "a non-negative weight", "sample weights are finite numbers >= 0")),
                },
                None => 1.0,
            };
            values.clear();
            for c in first_sensitive..first_sensitive + k {
                match batch.columns[c].text(row) {
                    Some(v) => values.push(v.into_owned()),
                    None => {
                        return Err(value_error(
                            row,
                            c,
                            "a value",
                            "sensitive features may not be null (as in Fairlearn); fill them with an explicit category such as `unknown`",
                        ));
                    }
                }
            }
            let group = encoder.encode(&values);
            for ((model, acc), scores) in models.iter().zip(accs.iter_mut()).zip(&model_scores) {
                let score = match model.score {
                    Some(_) if model.model.is_some() => scores[row],
                    Some(c) => match batch.columns[c].number(row) {
                        Some(s) if s.is_finite() => s,
                        _ => return Err(value_error(row, c, "a finite score", "drop or fill rows without a score")),
                    },
                    None => 0.0,
                };
                let prediction = match (model.prediction, model.threshold) {
                    (Some(c), _) => match batch.columns[c].binary(row) {
                        Some(Some(b)) => b,
                        _ => {
                            return Err(value_error(
                                row,
                                c,
                                "0 or 1",
                                "predictions are 0/1 (or true/false); pass --score and --threshold for scores",
                            ));
                        }
                    },
                    (None, threshold) => score >= threshold.unwrap_or(0.5),
                };
                acc.push(group, label, prediction, score, weight);
            }
        }
        progress(batch.rows);
        Ok(())
    })
    .map_err(|e| match e {
        // Unwrap our own errors raised inside the callback so they print once, with their hint.
        DatasetError::Consumer { source, path } => match source.downcast::<EvalError>() {
            Ok(inner) => *inner,
            Err(source) => EvalError::Dataset(DatasetError::Consumer { path, source }),
        },
        other => EvalError::Dataset(other),
    })?;

    let mut layouts = vec![encoder.layout_all().map_err(metric_error)?];
    if k > 1 {
        for f in 0..k {
            layouts.push(encoder.layout(&[f]).map_err(metric_error)?);
        }
    }
    let mut outcomes = Vec::new();
    for acc in accs {
        outcomes.push(outcome(&acc.finish(&layouts).map_err(metric_error)?, k));
    }
    let baseline_outcome = if outcomes.len() > 1 { outcomes.pop() } else { None };
    let candidate = outcomes
        .pop()
        .ok_or(EvalError::Metric { path: path.clone(), source: MetricError::Empty { metric: "binary classification metrics" } })?;
    let (prediction_col, score_col, threshold) = predictions_inputs(&request.predictions);
    let mut notes = Vec::new();
    if score_col.is_none() {
        notes.push("no score column: ROC AUC, average precision, log loss, Brier score and ECE need --score".to_owned());
    } else if let Some(row) = candidate.not_probability_row {
        notes.push(format!(
            "scores are not probabilities (row {} is outside [0, 1]): log loss, Brier score and ECE are not computed",
            row + 1
        ));
    }
    if k == 0 {
        notes.push("no sensitive features: fairness metrics need --sensitive".to_owned());
    }
    let baseline = match (&request.baseline, baseline_outcome) {
        (Some(p), Some(o)) => {
            let (prediction, score, threshold) = predictions_inputs(p);
            Some(BaselineReport { prediction, score, threshold, overall: o.overall, fairness: o.fairness })
        }
        _ => {
            notes.push("NO BASELINE: nothing to compare with; maxRegression thresholds cannot be checked".to_owned());
            None
        }
    };
    Ok(EvalReport {
        dataset: DatasetInfo { path: path.clone(), format, sha256: summary.sha256, rows: summary.rows, bytes: summary.bytes },
        inputs: Inputs {
            label: request.label.clone(),
            prediction: prediction_col,
            score: score_col,
            threshold,
            sensitive: request.sensitive.clone(),
            weight: request.weight.clone(),
            ece_bins: request.ece_bins,
        },
        overall: candidate.overall,
        fairness: candidate.fairness,
        baseline,
        notes,
    })
}

#[cfg(test)]
mod tests;
