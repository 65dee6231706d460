//! Multiclass classification metrics with macro, micro and weighted averaging.

use serde::{Deserialize, Serialize};

use super::MetricError;
use super::binary::zero_division;

/// How per-class precision, recall and F1 are combined, as scikit-learn's `average=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// Unweighted mean over the labels present in labels or predictions.
    Macro,
    /// From global counts (equal to accuracy for single-label data).
    Micro,
    /// Mean weighted by each label's (weighted) support.
    Weighted,
}

/// A weighted `k × k` confusion matrix, rows the true class and columns the predicted one.
#[derive(Clone, Debug)]
pub struct MulticlassConfusion {
    k: usize,
    cells: Vec<f64>,
    /// Whether class `c` occurs (unweighted) as a label or a prediction: scikit-learn's
    /// `unique_labels(y_true, y_pred)`.
    present: Vec<bool>,
}

impl MulticlassConfusion {
    /// Counts classes `0..k` given as indices (callers map their labels to sorted indices).
    ///
    /// # Errors
    /// Lengths differ, a class index is `>= k`, or a weight is invalid.
    pub fn from_columns(
        k: usize,
        labels: &[u32],
        predictions: &[u32],
        weights: Option<&[f64]>,
    ) -> Result<MulticlassConfusion, MetricError> {
        let n = labels.len();
        if predictions.len() != n {
            return Err(MetricError::LengthMismatch { name: "prediction", expected: n, actual: predictions.len() });
        }
        super::check_weights(weights, n)?;
        let mut m = MulticlassConfusion { k, cells: vec![0.0; k * k], present: vec![false; k] };
        for i in 0..n {
            let (t, p) = (labels[i] as usize, predictions[i] as usize);
            if t >= k {
                return Err(MetricError::ClassOutOfRange { class: t, classes: k });
            }
            if p >= k {
                return Err(MetricError::ClassOutOfRange { class: p, classes: k });
            }
            m.cells[t * k + p] += super::weight_at(weights, i);
            m.present[t] = true;
            m.present[p] = true;
        }
        Ok(m)
    }

    fn row_sum(&self, c: usize) -> f64 {
        self.cells[c * self.k..(c + 1) * self.k].iter().sum()
    }
    fn col_sum(&self, c: usize) -> f64 {
        (0..self.k).map(|r| self.cells[r * self.k + c]).sum()
    }
    fn diag(&self, c: usize) -> f64 {
        self.cells[c * self.k + c]
    }
    fn total(&self) -> f64 {
        self.cells.iter().sum()
    }

    pub fn accuracy(&self) -> f64 {
        (0..self.k).map(|c| self.diag(c)).sum::<f64>() / self.total()
    }

    /// Mean recall over present classes with non-zero true weight (NaN recalls dropped).
    pub fn balanced_accuracy(&self) -> f64 {
        let (mut sum, mut n) = (0.0, 0.0);
        for c in (0..self.k).filter(|&c| self.present[c]) {
            let t = self.row_sum(c);
            if t != 0.0 {
                sum += self.diag(c) / t;
                n += 1.0;
            }
        }
        sum / n
    }

    /// Precision, recall and F1 under `average`; classes with a zero denominator count 0.
    pub fn precision_recall_f1(&self, average: Average) -> (f64, f64, f64) {
        let classes: Vec<usize> = (0..self.k).filter(|&c| self.present[c]).collect();
        match average {
            Average::Micro => {
                let tp: f64 = classes.iter().map(|&c| self.diag(c)).sum();
                let pred: f64 = classes.iter().map(|&c| self.col_sum(c)).sum();
                let truth: f64 = classes.iter().map(|&c| self.row_sum(c)).sum();
                let p = zero_division(tp, pred);
                let r = zero_division(tp, truth);
                (p, r, zero_division(2.0 * tp, truth + pred))
            }
            Average::Macro | Average::Weighted => {
                let (mut ps, mut rs, mut fs, mut ws) = (0.0, 0.0, 0.0, 0.0);
                for &c in &classes {
                    let (tp, pred, truth) = (self.diag(c), self.col_sum(c), self.row_sum(c));
                    let w = if average == Average::Macro { 1.0 } else { truth };
                    ps += w * zero_division(tp, pred);
                    rs += w * zero_division(tp, truth);
                    fs += w * zero_division(2.0 * tp, truth + pred);
                    ws += w;
                }
                if ws == 0.0 {
                    return (0.0, 0.0, 0.0);
                }
                (ps / ws, rs / ws, fs / ws)
            }
        }
    }
}

#[cfg(test)]
mod tests;
