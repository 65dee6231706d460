//! Disaggregated metrics and the disparities Fairlearn derives from them.

use serde::{Deserialize, Serialize};

/// How a disparity compares groups, as Fairlearn's `method=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Largest group value against the smallest.
    #[default]
    BetweenGroups,
    /// Each group against the value on all the data.
    ToOverall,
}

/// One metric on all the data and on every group of [`super::Groups`], in the same order.
/// Groups absent from the data hold NaN, like the empty cells of Fairlearn's `MetricFrame`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupedMetric {
    pub overall: f64,
    pub by_group: Vec<f64>,
}

/// Python's builtin `max(a, b)`: `b` only when `b > a`, so a NaN in first place wins and a
/// NaN in second place loses. Fairlearn's `equalized_odds_difference` uses it on
/// `[tpr_difference, fpr_difference]`, and we keep its order.
pub fn python_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's builtin `min(a, b)`, see [`python_max`].
pub fn python_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// NaN-skipping fold, as pandas' `min()`/`max()`; NaN when every value is NaN.
fn skipna(values: impl Iterator<Item = f64>, pick: fn(f64, f64) -> f64) -> f64 {
    values.filter(|v| !v.is_nan()).reduce(pick).unwrap_or(f64::NAN)
}

impl GroupedMetric {
    /// The smallest group value, NaN groups skipped.
    pub fn group_min(&self) -> f64 {
        skipna(self.by_group.iter().copied(), f64::min)
    }

    /// The largest group value, NaN groups skipped.
    pub fn group_max(&self) -> f64 {
        skipna(self.by_group.iter().copied(), f64::max)
    }

    /// `MetricFrame.difference`: `max − min` between groups, or the largest
    /// `|m_g − m_overall|`.
    pub fn difference(&self, method: Method) -> f64 {
        let base = match method {
            Method::BetweenGroups => self.group_min(),
            Method::ToOverall => self.overall,
        };
        skipna(self.by_group.iter().map(|m| (m - base).abs()), f64::max)
    }

    /// `MetricFrame.ratio`: `min / max` between groups (NaN when both are 0), or the smallest
    /// `m_g / m_overall` with ratios above 1 inverted (a group over an overall of 0 gives
    /// infinity, inverted to 0; 0 over 0 is NaN and skipped).
    pub fn ratio(&self, method: Method) -> f64 {
        match method {
            Method::BetweenGroups => self.group_min() / self.group_max(),
            Method::ToOverall => skipna(
                self.by_group.iter().map(|m| {
                    let r = m / self.overall;
                    if r > 1.0 { 1.0 / r } else { r }
                }),
                f64::min,
            ),
        }
    }
}

/// The fairness disparities of one grouping, each as Fairlearn computes it with one `method`.
/// The keys are the metric names fairness thresholds use (Fairlearn's names).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disparities {
    pub demographic_parity_difference: f64,
    pub demographic_parity_ratio: f64,
    /// `max(ΔTPR, ΔFPR)` with Python's `max` (`agg="worst_case"`).
    pub equalized_odds_difference: f64,
    /// `min(TPR ratio, FPR ratio)` with Python's `min`.
    pub equalized_odds_ratio: f64,
    pub equal_opportunity_difference: f64,
    pub equal_opportunity_ratio: f64,
    /// Selection-rate ratio of the least to the most selected group (the four-fifths rule's
    /// quantity); with `between_groups` it equals the demographic parity ratio.
    pub disparate_impact: f64,
}

impl Disparities {
    pub fn new(selection_rate: &GroupedMetric, tpr: &GroupedMetric, fpr: &GroupedMetric, method: Method) -> Disparities {
        let dp_ratio = selection_rate.ratio(method);
        Disparities {
            demographic_parity_difference: selection_rate.difference(method),
            demographic_parity_ratio: dp_ratio,
            equalized_odds_difference: python_max(tpr.difference(method), fpr.difference(method)),
            equalized_odds_ratio: python_min(tpr.ratio(method), fpr.ratio(method)),
            equal_opportunity_difference: tpr.difference(method),
            equal_opportunity_ratio: tpr.ratio(method),
            disparate_impact: selection_rate.ratio(Method::BetweenGroups),
        }
    }
}

#[cfg(test)]
mod tests;
