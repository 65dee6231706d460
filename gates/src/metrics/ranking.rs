//! Ranking metrics (ROC AUC, average precision) from one sort of the scores.

use super::MetricError;

/// Running state of one ROC / precision-recall curve while scores are visited in decreasing
/// order. Call [`Curve::add`] for each row of a run of equal scores, then
/// [`Curve::close_threshold`] once at the end of the run: ties form one threshold, as in
/// scikit-learn's `_binary_clf_curve`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Curve {
    tps: f64,
    fps: f64,
    prev_tps: f64,
    prev_fps: f64,
    /// Trapezoid area under the unnormalised (fps, tps) curve.
    area: f64,
    /// Sum over thresholds of Δtps · precision.
    ap: f64,
}

impl Curve {
    #[inline]
    pub fn add(&mut self, label: bool, weight: f64) {
        if label {
            self.tps += weight;
        } else {
            self.fps += weight;
        }
    }

    /// Ends a threshold: adds the trapezoid and the precision step since the last one.
    #[inline]
    pub fn close_threshold(&mut self) {
        self.area += (self.fps - self.prev_fps) * (self.tps + self.prev_tps) / 2.0;
        let d_tps = self.tps - self.prev_tps;
        if d_tps != 0.0 {
            self.ap += d_tps * (self.tps / (self.tps + self.fps));
        }
        self.prev_tps = self.tps;
        self.prev_fps = self.fps;
    }

    /// Area under the ROC curve; NaN when only one class has weight, where scikit-learn
    /// warns and returns NaN.
    pub fn roc_auc(&self) -> f64 {
        if self.tps == 0.0 || self.fps == 0.0 {
            return f64::NAN;
        }
        self.area / (self.tps * self.fps)
    }

    /// Average precision, the step integral `Σ (R_k − R_{k−1}) P_k`; 0 when there are no
    /// positives (scikit-learn sets recall to 1 everywhere, which makes the sum 0).
    pub fn average_precision(&self) -> f64 {
        if self.tps == 0.0 {
            return 0.0;
        }
        (self.ap / self.tps).max(0.0)
    }
}

fn curve(labels: &[bool], scores: &[f64], weights: Option<&[f64]>) -> Result<Curve, MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::LengthMismatch { name: "score", expected: labels.len(), actual: scores.len() });
    }
    super::check_weights(weights, labels.len())?;
    if let Some(row) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricError::NonFinite { name: "score", row });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut c = Curve::default();
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            c.add(labels[order[i]], super::weight_at(weights, order[i]));
            i += 1;
        }
        c.close_threshold();
    }
    Ok(c)
}

/// `roc_auc_score` for binary labels: NaN (scikit-learn warns) when one class is missing.
///
/// # Errors
/// Lengths differ, a score is not finite, or a weight is invalid.
pub fn roc_auc(labels: &[bool], scores: &[f64], weights: Option<&[f64]>) -> Result<f64, MetricError> {
    Ok(curve(labels, scores, weights)?.roc_auc())
}

/// `average_precision_score` for binary labels: 0 when there are no positives.
///
/// # Errors
/// Lengths differ, a score is not finite, or a weight is invalid.
pub fn average_precision(labels: &[bool], scores: &[f64], weights: Option<&[f64]>) -> Result<f64, MetricError> {
    Ok(curve(labels, scores, weights)?.average_precision())
}

#[cfg(test)]
mod tests;
