//! Metric definitions. Every function here is pure: it takes columns already read and
//! validated, and returns numbers whose definitions and edge cases follow the references named
//! in `docs/gates.md` (scikit-learn for quality, Fairlearn for fairness, SciPy for drift).
//!
//! Binary classification metrics are derived from weighted confusion counts ([`Confusion`]),
//! which are accumulated once per group in a single pass ([`BinaryAccumulator`]); ranking
//! metrics (ROC AUC, average precision) come from one sort of the scores shared by all groups.

mod binary;
mod drift;
mod fairness;
mod grouped;
mod multiclass;
mod probability;
mod ranking;
mod regression;

pub use binary::Confusion;
pub use drift::{
    CategoricalDrift, ColumnDrift, DriftBinning, NumericDrift, categorical_drift, jensen_shannon_distance, ks_pvalue, ks_pvalue_asymptotic,
    ks_pvalue_exact, ks_statistic, kstwo_sf, numeric_drift, population_stability_index, wasserstein_distance,
};
pub use fairness::{Disparities, GroupedMetric, Method, python_max, python_min};
pub use grouped::{BinaryAccumulator, BinaryMetric, BinaryReport, GroupEncoder, GroupMetrics, Groups, Layout, MAX_FEATURES, MAX_GROUPS};
pub use multiclass::{Average, MulticlassConfusion};
pub use probability::{DEFAULT_ECE_BINS, ProbabilityAccumulator, ece_bin};
pub use ranking::{Curve, average_precision, roc_auc};
pub use regression::{RegressionMetrics, regression_metrics};

/// Why a metric could not be computed from its inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    /// Two columns that must be aligned row by row have different lengths.
    #[error("column `{name}` has {actual} rows, expected {expected}")]
    LengthMismatch { name: &'static str, expected: usize, actual: usize },
    /// A value that must be finite is NaN or infinite.
    #[error("column `{name}` holds a non-finite value at row {row}")]
    NonFinite { name: &'static str, row: usize },
    /// A sample weight is negative.
    #[error("sample weight at row {row} is negative")]
    NegativeWeight { row: usize },
    /// A metric needs at least one row.
    #[error("no rows to compute `{metric}` on")]
    Empty { metric: &'static str },
    /// A class index is not below the number of classes.
    #[error("class index {class} is out of range for {classes} classes")]
    ClassOutOfRange { class: usize, classes: usize },
    /// More sensitive features than intersections support.
    #[error("{features} sensitive features given, at most {limit} are supported")]
    TooManyFeatures { features: usize, limit: usize },
    /// Group ids were pushed that the layout does not know (a different encoder made it).
    #[error("{observed} groups were observed but the layout knows {laid_out}")]
    LayoutMismatch { observed: usize, laid_out: usize },
    /// Too many sensitive feature combinations to enumerate.
    #[error("sensitive features form {combinations} intersectional groups, more than the limit of {limit}")]
    TooManyGroups { combinations: u128, limit: usize },
}

/// Checks that a weight column, if any, is as long as the data, finite and non-negative.
pub(crate) fn check_weights(weights: Option<&[f64]>, rows: usize) -> Result<(), MetricError> {
    let Some(weights) = weights else {
        return Ok(());
    };
    if weights.len() != rows {
        return Err(MetricError::LengthMismatch { name: "sample_weight", expected: rows, actual: weights.len() });
    }
    for (row, w) in weights.iter().enumerate() {
        if !w.is_finite() {
            return Err(MetricError::NonFinite { name: "sample_weight", row });
        }
        if *w < 0.0 {
            return Err(MetricError::NegativeWeight { row });
        }
    }
    Ok(())
}

/// The weight of row `i`, 1 when the data is unweighted.
#[inline]
pub(crate) fn weight_at(weights: Option<&[f64]>, i: usize) -> f64 {
    weights.map_or(1.0, |w| w[i])
}
