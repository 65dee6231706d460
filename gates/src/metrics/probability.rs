//! Metrics of predicted probabilities: log loss, Brier score and expected calibration error.

/// Bins of the expected calibration error unless a gate asks for another number.
pub const DEFAULT_ECE_BINS: usize = 10;

/// The calibration bin of probability `p` among `bins` equal-width bins of `[0, 1]`, as
/// scikit-learn's `calibration_curve(strategy="uniform")` assigns it:
/// `searchsorted(linspace(0, 1, bins + 1)[1:-1], p)`, so bins are `(lo, hi]` except the first,
/// which also holds 0.
#[inline]
pub fn ece_bin(p: f64, bins: usize) -> usize {
    // linspace computes the inner edges as `i * (1 / bins)`; the same products here keep
    // values that sit exactly on an edge in the same bin as NumPy.
    let step = 1.0 / bins as f64;
    let guess = ((p * bins as f64) as usize).min(bins - 1);
    // Count inner edges strictly below p, starting from the guess and correcting by one
    // either way, which is all rounding can move it.
    let mut b = guess;
    while b > 0 && (b as f64) * step >= p {
        b -= 1;
    }
    while b + 1 < bins && ((b + 1) as f64) * step < p {
        b += 1;
    }
    b
}

/// Running sums for log loss, Brier score and ECE over rows whose score is a probability of
/// the positive class.
#[derive(Clone, Debug)]
pub struct ProbabilityAccumulator {
    weight: f64,
    log_loss: f64,
    brier: f64,
    /// Per calibration bin: total weight, weighted labels, weighted probabilities.
    bins: Vec<[f64; 3]>,
}

impl ProbabilityAccumulator {
    /// An empty accumulator with `ece_bins` calibration bins (at least one).
    pub fn new(ece_bins: usize) -> ProbabilityAccumulator {
        ProbabilityAccumulator { weight: 0.0, log_loss: 0.0, brier: 0.0, bins: vec![[0.0; 3]; ece_bins.max(1)] }
    }

    /// Adds one row; `p` must lie in `[0, 1]` (the caller checks).
    #[inline]
    pub fn add(&mut self, label: bool, p: f64, weight: f64) {
        // scikit-learn clips both columns of [1 - p, p] to [eps, 1 - eps] with eps the
        // machine epsilon of float64, then takes the log of the true class's column.
        let eps = f64::EPSILON;
        let q = if label { p } else { 1.0 - p };
        self.log_loss -= weight * q.clamp(eps, 1.0 - eps).ln();
        let y = if label { 1.0 } else { 0.0 };
        self.brier += weight * (y - p) * (y - p);
        self.weight += weight;
        let b = ece_bin(p, self.bins.len());
        let bin = &mut self.bins[b];
        bin[0] += weight;
        bin[1] += weight * y;
        bin[2] += weight * p;
    }

    pub fn merge(&mut self, other: &ProbabilityAccumulator) {
        self.weight += other.weight;
        self.log_loss += other.log_loss;
        self.brier += other.brier;
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            for k in 0..3 {
                a[k] += b[k];
            }
        }
    }

    /// Weighted mean of `-ln p(true class)` (`log_loss` with `labels=[0, 1]`).
    pub fn log_loss(&self) -> f64 {
        self.log_loss / self.weight
    }

    /// Weighted mean of `(y - p)²` (`brier_score_loss`).
    pub fn brier_score(&self) -> f64 {
        self.brier / self.weight
    }

    /// `Σ_b (W_b / W) · |mean label_b − mean p_b|` over non-empty bins.
    pub fn expected_calibration_error(&self) -> f64 {
        let mut ece = 0.0;
        for [w, wy, wp] in &self.bins {
            if *w > 0.0 {
                ece += w * (wy / w - wp / w).abs();
            }
        }
        ece / self.weight
    }
}

#[cfg(test)]
mod tests;
