//! Gate specs (the `gates` of a Release) and their outcomes.
//!
//! A threshold names a metric and bounds it with `min`, `max` and/or `maxRegression` (how much
//! worse than the baseline model it may be, in the metric's own units). A missing or NaN metric
//! fails its threshold with a reason; it never passes silently. With no baseline, a
//! `maxRegression` bound cannot be checked: it is reported as not evaluated and the report says
//! so at its top, but it does not block (a first release has no production model to compare to).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::Sha256Digest;
use crate::metrics::Method;

/// The model a candidate is compared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Baseline {
    /// `production`: the version promoted to the release's environment, if any.
    Named(BaselineName),
    /// `model@version`.
    Version(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineName {
    Production,
}

/// Bounds on one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Threshold {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_regression: Option<f64>,
    /// For fairness thresholds: the sensitive features whose grouping is meant (all of them,
    /// intersected, when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_features: Vec<String>,
    /// For disparities: how groups are compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// For data-quality and drift thresholds on one column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

/// The gates of a release.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateSpec {
    /// The Dataset the model is evaluated on.
    #[serde(default)]
    pub evaluation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Decision threshold of a binary classifier's output (0.5 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The Dataset drift is measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default)]
    pub quality: Vec<Threshold>,
    #[serde(default)]
    pub fairness: Vec<Threshold>,
    #[serde(default)]
    pub data_quality: Vec<Threshold>,
    #[serde(default)]
    pub drift: Vec<Threshold>,
}

impl GateSpec {
    /// SHA-256 of the spec's JSON form (fields in declaration order, no whitespace): one part
    /// of the result cache key.
    pub fn digest(&self) -> Sha256Digest {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        Sha256Digest(Sha256::digest(&bytes).into())
    }
}

/// What gate results are cached by: the same model, data and spec give the same results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheKey {
    pub model: Sha256Digest,
    pub dataset: Sha256Digest,
    pub gate_spec: Sha256Digest,
}

impl CacheKey {
    /// A file-name-safe string form.
    pub fn to_key(&self) -> String {
        format!("{}-{}-{}", self.model, self.dataset, self.gate_spec)
    }
}

/// Whether a bigger value of a metric is better, for regressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// The outcome of one threshold. Results written before statuses were camelCase
/// (`not_evaluated`) still read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    Pass,
    Fail {
        reasons: Vec<String>,
    },
    /// A bound that could not be checked (no baseline); the others passed.
    #[serde(alias = "not_evaluated")]
    NotEvaluated {
        reasons: Vec<String>,
    },
}

/// A threshold with the values it was checked against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdResult {
    pub threshold: Threshold,
    pub value: Option<f64>,
    /// Read from `baseline_value` too: results written before keys were camelCase.
    #[serde(alias = "baseline_value")]
    pub baseline_value: Option<f64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn fmt(x: f64) -> String {
    format!("{x:.6}")
}

/// Checks `value` (and, with a baseline, `baseline`) against `threshold`.
///
/// `baseline` is `None` when there is no baseline model, `Some(None)` when the baseline has no
/// value for the metric.
pub fn check(threshold: &Threshold, value: Option<f64>, baseline: Option<Option<f64>>, direction: Direction) -> ThresholdResult {
    let mut fails = Vec::new();
    let mut not_evaluated = Vec::new();
    let name = &threshold.metric;
    match value {
        None => fails.push(format!("metric `{name}` was not computed")),
        Some(v) if v.is_nan() => fails.push(format!("metric `{name}` is undefined (NaN) on this data")),
        Some(v) => {
            if let Some(min) = threshold.min
                && v < min
            {
                fails.push(format!("`{name}` is {} < min {}", fmt(v), fmt(min)));
            }
            if let Some(max) = threshold.max
                && v > max
            {
                fails.push(format!("`{name}` is {} > max {}", fmt(v), fmt(max)));
            }
            if let Some(allowed) = threshold.max_regression {
                match baseline {
                    None => not_evaluated.push(format!("NO BASELINE: maxRegression {} on `{name}` was not checked", fmt(allowed))),
                    Some(None) => fails.push(format!("baseline has no value for `{name}`")),
                    Some(Some(b)) if b.is_nan() => fails.push(format!("baseline `{name}` is undefined (NaN)")),
                    Some(Some(b)) => {
                        let regression = match direction {
                            Direction::HigherIsBetter => b - v,
                            Direction::LowerIsBetter => v - b,
                        };
                        if regression > allowed {
                            fails.push(format!(
                                "`{name}` regressed by {} (baseline {}, candidate {}) > maxRegression {}",
                                fmt(regression),
                                fmt(b),
                                fmt(v),
                                fmt(allowed)
                            ));
                        }
                    }
                }
            }
        }
    }
    let outcome = if !fails.is_empty() {
        fails.extend(not_evaluated);
        Outcome::Fail { reasons: fails }
    } else if !not_evaluated.is_empty() {
        Outcome::NotEvaluated { reasons: not_evaluated }
    } else {
        Outcome::Pass
    };
    ThresholdResult { threshold: threshold.clone(), value, baseline_value: baseline.flatten(), outcome }
}

#[cfg(test)]
mod tests;

/// The thresholds of a spec checked against an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReport {
    /// False when any threshold failed.
    pub passed: bool,
    /// Whether a baseline was compared with; when false, every `maxRegression` is reported as
    /// not evaluated and `warnings` says so first.
    pub baseline: bool,
    pub warnings: Vec<String>,
    pub results: Vec<ThresholdResult>,
}

fn fairness_value(fairness: &[crate::eval::Fairness], threshold: &Threshold, all: &[String]) -> Option<f64> {
    let wanted: &[String] = if threshold.sensitive_features.is_empty() { all } else { &threshold.sensitive_features };
    let grouping = fairness.iter().find(|f| f.features == wanted)?;
    let disparities = match threshold.method.unwrap_or_default() {
        Method::BetweenGroups => &grouping.between_groups,
        Method::ToOverall => &grouping.to_overall,
    };
    serde_json::to_value(disparities).ok()?.get(&threshold.metric).map(|v| v.as_f64().unwrap_or(f64::NAN))
}

fn direction_of(metric: &str) -> Direction {
    match crate::metrics::BinaryMetric::from_name(metric) {
        Some(m) if !m.higher_is_better() => Direction::LowerIsBetter,
        Some(_) => Direction::HigherIsBetter,
        // Disparities: a difference should be small, a ratio close to 1.
        None if metric.ends_with("_difference") => Direction::LowerIsBetter,
        None => Direction::HigherIsBetter,
    }
}

/// Checks the quality and fairness thresholds of `spec` against an evaluation (and its
/// baseline, when it has one).
pub fn check_eval(spec: &GateSpec, report: &crate::eval::EvalReport) -> GateReport {
    let mut results = Vec::new();
    let baseline = report.baseline.as_ref();
    for t in &spec.quality {
        let value = report.overall.get(t.metric.as_str()).copied();
        let base = baseline.map(|b| b.overall.get(t.metric.as_str()).copied());
        results.push(check(t, value, base, direction_of(&t.metric)));
    }
    let all = &report.inputs.sensitive;
    for t in &spec.fairness {
        let value = fairness_value(&report.fairness, t, all);
        let base = baseline.map(|b| fairness_value(&b.fairness, t, all));
        results.push(check(t, value, base, direction_of(&t.metric)));
    }
    let mut warnings = Vec::new();
    let regressions = results.iter().filter(|r| r.threshold.max_regression.is_some()).count();
    if baseline.is_none() && regressions > 0 {
        warnings.push(format!(
            "NO BASELINE: {regressions} maxRegression threshold(s) were NOT checked; give the baseline's predictions to check them"
        ));
    }
    for t in spec.data_quality.iter().chain(&spec.drift) {
        warnings.push(format!(
            "threshold on `{}` needs the dataset's schema or a reference dataset (`tollgate gate run`), not checked here",
            t.metric
        ));
    }
    GateReport {
        passed: results.iter().all(|r| !matches!(r.outcome, Outcome::Fail { .. })),
        baseline: baseline.is_some(),
        warnings,
        results,
    }
}

/// The value of a data-quality metric: dataset-wide (`rows`, `duplicate_rows`,
/// `duplicate_rate`, `schema_match` as 1 or 0) or, with `column`, per column (`nulls`,
/// `null_rate`, `null_violations`, `below_min`, `above_max`, `out_of_range`, `not_allowed`).
pub fn data_quality_value(report: &crate::data_quality::DataQualityReport, threshold: &Threshold) -> Option<f64> {
    match &threshold.column {
        None => match threshold.metric.as_str() {
            "rows" => Some(report.rows as f64),
            "duplicate_rows" => Some(report.duplicate_rows as f64),
            "duplicate_rate" => Some(report.duplicate_rate),
            "schema_match" => Some(if report.schema_match { 1.0 } else { 0.0 }),
            _ => None,
        },
        Some(column) => {
            let c = report.columns.iter().find(|c| &c.name == column)?;
            match threshold.metric.as_str() {
                "nulls" => Some(c.nulls as f64),
                "null_rate" => Some(c.null_rate),
                "null_violations" => Some(c.null_violations as f64),
                "below_min" => Some(c.below_min as f64),
                "above_max" => Some(c.above_max as f64),
                "out_of_range" => Some((c.below_min + c.above_max) as f64),
                "not_allowed" => Some(c.not_allowed as f64),
                _ => None,
            }
        }
    }
}

/// The value of a drift metric of `threshold.column` (every drift threshold names a column).
pub fn drift_value(report: &crate::drift_files::DriftReport, threshold: &Threshold) -> Option<f64> {
    use crate::metrics::ColumnDrift;
    let column = threshold.column.as_ref()?;
    let (_, drift) = report.columns.iter().find(|(name, _)| name == column)?;
    let value = match drift {
        ColumnDrift::Numeric(d) => serde_json::to_value(d).ok()?,
        ColumnDrift::Categorical(d) => serde_json::to_value(d).ok()?,
    };
    // A null (an undefined value, or a p-value not computed) is NaN: it fails, never passes.
    value.get(&threshold.metric).map(|v| v.as_f64().unwrap_or(f64::NAN))
}

/// Checks data-quality and drift thresholds. They compare a dataset with its schema or with a
/// reference, not two models, so a `maxRegression` on them is never evaluated.
pub fn check_data(
    spec: &GateSpec,
    quality: Option<&crate::data_quality::DataQualityReport>,
    drift: Option<&crate::drift_files::DriftReport>,
) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in &spec.data_quality {
        let value = quality.and_then(|q| data_quality_value(q, t));
        out.push(check(t, value, None, Direction::LowerIsBetter));
    }
    for t in &spec.drift {
        let value = drift.and_then(|d| drift_value(d, t));
        let direction = if t.metric == "ks_pvalue" { Direction::HigherIsBetter } else { Direction::LowerIsBetter };
        out.push(check(t, value, None, direction));
    }
    out
}
