//! Weighted confusion counts of a binary classifier and every metric derived from them.

use serde::Serialize;

/// Weighted confusion counts of a binary classifier whose positive label is `1`.
///
/// Cells are indexed by `2 * label + prediction`: true negatives, false positives, false
/// negatives, true positives. `rows` counts rows regardless of weight, so that an empty group
/// (no rows, all metrics NaN) is told apart from a group whose weights are all zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Confusion {
    cells: [f64; 4],
    rows: u64,
    /// Rows (unweighted) with label 0 and label 1, for the class-presence rules of
    /// balanced accuracy.
    label_rows: [u64; 2],
}

impl Confusion {
    /// Adds one row.
    #[inline]
    pub fn add(&mut self, label: bool, prediction: bool, weight: f64) {
        self.cells[2 * usize::from(label) + usize::from(prediction)] += weight;
        self.rows += 1;
        self.label_rows[usize::from(label)] += 1;
    }

    /// Adds all rows counted by `other`.
    pub fn merge(&mut self, other: &Confusion) {
        for (a, b) in self.cells.iter_mut().zip(other.cells) {
            *a += b;
        }
        self.rows += other.rows;
        self.label_rows[0] += other.label_rows[0];
        self.label_rows[1] += other.label_rows[1];
    }

    /// Builds counts from whole columns.
    ///
    /// # Errors
    /// Lengths differ, or a weight is negative or not finite.
    pub fn from_columns(labels: &[bool], predictions: &[bool], weights: Option<&[f64]>) -> Result<Confusion, super::MetricError> {
        if predictions.len() != labels.len() {
            return Err(super::MetricError::LengthMismatch { name: "prediction", expected: labels.len(), actual: predictions.len() });
        }
        super::check_weights(weights, labels.len())?;
        let mut c = Confusion::default();
        for (i, (&y, &p)) in labels.iter().zip(predictions).enumerate() {
            c.add(y, p, super::weight_at(weights, i));
        }
        Ok(c)
    }

    pub fn true_negatives(&self) -> f64 {
        self.cells[0]
    }
    pub fn false_positives(&self) -> f64 {
        self.cells[1]
    }
    pub fn false_negatives(&self) -> f64 {
        self.cells[2]
    }
    pub fn true_positives(&self) -> f64 {
        self.cells[3]
    }
    /// Rows counted, whatever their weight.
    pub fn rows(&self) -> u64 {
        self.rows
    }
    /// Total weight.
    pub fn weight(&self) -> f64 {
        self.cells.iter().sum()
    }
    /// Weight of rows whose label is 1.
    pub fn positives(&self) -> f64 {
        self.cells[2] + self.cells[3]
    }
    /// Weight of rows whose label is 0.
    pub fn negatives(&self) -> f64 {
        self.cells[0] + self.cells[1]
    }

    /// Weighted fraction of correct predictions (`accuracy_score`); NaN without weight.
    pub fn accuracy(&self) -> f64 {
        (self.cells[0] + self.cells[3]) / self.weight()
    }

    /// Mean recall over the classes present (`balanced_accuracy_score`): a class whose
    /// weighted count of true rows is zero has an undefined recall and is left out, as
    /// scikit-learn does; NaN when no class is left.
    pub fn balanced_accuracy(&self) -> f64 {
        let mut sum = 0.0;
        let mut n = 0.0;
        for (correct, total) in [(self.cells[0], self.negatives()), (self.cells[3], self.positives())] {
            if total != 0.0 {
                sum += correct / total;
                n += 1.0;
            }
        }
        sum / n
    }

    /// `tp / (tp + fp)`, 0 when nothing is predicted positive (scikit-learn's
    /// `zero_division="warn"` result).
    pub fn precision(&self) -> f64 {
        zero_division(self.cells[3], self.cells[3] + self.cells[1])
    }

    /// `tp / (tp + fn)`, 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        zero_division(self.cells[3], self.positives())
    }

    /// `2 tp / (2 tp + fp + fn)`, 0 when the denominator is 0.
    pub fn f1(&self) -> f64 {
        let tp2 = 2.0 * self.cells[3];
        zero_division(tp2, tp2 + self.cells[1] + self.cells[2])
    }

    /// Weighted fraction predicted positive (Fairlearn's `selection_rate`); NaN without weight.
    pub fn selection_rate(&self) -> f64 {
        (self.cells[1] + self.cells[3]) / self.weight()
    }

    /// Fairlearn's `true_positive_rate`: from the row-normalised confusion matrix, so 0 (not
    /// NaN) when the group has no positives.
    pub fn true_positive_rate(&self) -> f64 {
        zero_division(self.cells[3], self.positives())
    }

    /// Fairlearn's `false_positive_rate`; 0 when the group has no negatives.
    pub fn false_positive_rate(&self) -> f64 {
        zero_division(self.cells[1], self.negatives())
    }

    /// Fairlearn's `false_negative_rate`; 0 (not 1) when the group has no positives.
    pub fn false_negative_rate(&self) -> f64 {
        zero_division(self.cells[2], self.positives())
    }

    /// Fairlearn's `true_negative_rate`; 0 when the group has no negatives.
    pub fn true_negative_rate(&self) -> f64 {
        zero_division(self.cells[0], self.negatives())
    }
}

/// `num / den`, or 0 when `den` is 0: scikit-learn's `zero_division` default and the
/// `nan_to_num` of its normalised confusion matrix.
#[inline]
pub(crate) fn zero_division(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

#[cfg(test)]
mod tests;
