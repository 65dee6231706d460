//! Regression metrics: MAE, RMSE and R², as scikit-learn defines them.

use serde::Serialize;

use super::MetricError;

/// Mean absolute error, root mean squared error and coefficient of determination.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub mae: f64,
    pub rmse: f64,
    pub r2: f64,
}

/// Computes MAE, RMSE and R² with optional sample weights.
///
/// R² follows `r2_score(force_finite=True)`: NaN with fewer than two rows, 1 when the target is
/// constant and predicted exactly, 0 when it is constant and not predicted exactly.
///
/// # Errors
/// Lengths differ, the input is empty, a value is not finite, or a weight is invalid.
pub fn regression_metrics(targets: &[f64], predictions: &[f64], weights: Option<&[f64]>) -> Result<RegressionMetrics, MetricError> {
    let n = targets.len();
    if predictions.len() != n {
        return Err(MetricError::LengthMismatch { name: "prediction", expected: n, actual: predictions.len() });
    }
    if n == 0 {
        return Err(MetricError::Empty { metric: "regression metrics" });
    }
    super::check_weights(weights, n)?;
    if let Some(row) = targets.iter().position(|v| !v.is_finite()) {
        return Err(MetricError::NonFinite { name: "label", row });
    }
    if let Some(row) = predictions.iter().position(|v| !v.is_finite()) {
        return Err(MetricError::NonFinite { name: "prediction", row });
    }
    let (mut w_sum, mut abs_sum, mut sq_sum, mut wy_sum) = (0.0, 0.0, 0.0, 0.0);
    for (i, (&y, &p)) in targets.iter().zip(predictions).enumerate() {
        let w = super::weight_at(weights, i);
        let e = y - p;
        w_sum += w;
        abs_sum += w * e.abs();
        sq_sum += w * e * e;
        wy_sum += w * y;
    }
    let mean = wy_sum / w_sum;
    // A second pass keeps the total sum of squares free of cancellation.
    let mut ss_tot = 0.0;
    for (i, &y) in targets.iter().enumerate() {
        let d = y - mean;
        ss_tot += super::weight_at(weights, i) * d * d;
    }
    let r2 = if n < 2 {
        f64::NAN
    } else if ss_tot == 0.0 {
        if sq_sum == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - sq_sum / ss_tot
    };
    Ok(RegressionMetrics { mae: abs_sum / w_sum, rmse: (sq_sum / w_sum).sqrt(), r2 })
}

#[cfg(test)]
mod tests;
