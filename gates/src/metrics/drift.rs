//! Drift between a reference and a current sample of one column.
//!
//! Binning (the same for PSI and Jensen–Shannon, as Evidently does it): NaN and infinities
//! are dropped first; a numeric column with more than 20 distinct reference values gets
//! `numpy.histogram_bin_edges(reference ∪ current, bins="sturges")`, any other column one bin
//! per distinct value of `reference ∪ current`. The Kolmogorov–Smirnov statistic and the
//! Wasserstein distance use the raw values, as SciPy's `ks_2samp` and `wasserstein_distance`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::MetricError;

/// Proportions below this are raised to it before the PSI's logarithm (Evidently's choice).
pub const PSI_FLOOR: f64 = 1e-4;
/// A numeric column with more distinct reference values than this is binned by Sturges' rule.
pub const DISTINCT_FOR_HISTOGRAM: usize = 20;

/// How a column was binned.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftBinning {
    /// Equal-width bins over `[min, max]` of both samples; `edges.len()` is bins + 1.
    Sturges { edges: Vec<f64> },
    /// One bin per distinct value.
    Values { values: usize },
}

/// Drift measures of a numeric column. The keys of the measures are the metric names drift
/// thresholds use (`ks_pvalue`); the others are camelCase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumericDrift {
    pub reference_rows: usize,
    pub current_rows: usize,
    #[serde(rename = "population_stability_index")]
    pub population_stability_index: f64,
    #[serde(rename = "jensen_shannon_distance")]
    pub jensen_shannon_distance: f64,
    #[serde(rename = "ks_statistic")]
    pub ks_statistic: f64,
    /// Two-sided p-value of the KS statistic as `scipy.stats.ks_2samp(method="auto")` computes
    /// it ([`ks_pvalue`]): exact when neither sample has more than 10,000 values, else
    /// `kstwo.sf(d, round(n1·n2/(n1+n2)))`. `None` only when it cannot be computed.
    #[serde(rename = "ks_pvalue")]
    pub ks_pvalue: Option<f64>,
    #[serde(rename = "wasserstein_distance")]
    pub wasserstein_distance: f64,
    /// Wasserstein distance divided by `max(std(reference), 0.001)` (population std).
    #[serde(rename = "wasserstein_normed")]
    pub wasserstein_normed: f64,
    pub binning: DriftBinning,
}

/// Drift measures of a categorical column (keys as [`NumericDrift`]'s).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoricalDrift {
    pub reference_rows: usize,
    pub current_rows: usize,
    #[serde(rename = "population_stability_index")]
    pub population_stability_index: f64,
    #[serde(rename = "jensen_shannon_distance")]
    pub jensen_shannon_distance: f64,
    pub categories: usize,
}

fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// `numpy.histogram_bin_edges(values, bins="sturges")` for sorted, finite, non-empty values.
fn sturges_edges(sorted: &[f64]) -> Vec<f64> {
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    let (first, last) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
    let width = (hi - lo) / ((sorted.len() as f64).log2() + 1.0);
    // Sturges gives about log2(n) + 1 bins; the clamp only matters for ranges so wide that
    // their width overflows to infinity, where the bins are meaningless but must not panic.
    let bins = if width != 0.0 { (((last - first) / width).ceil() as usize).clamp(1, 1024) } else { 1 };
    // numpy.linspace: start + i * step, the last edge set to stop exactly.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    edges[bins] = last;
    edges
}

/// `numpy.histogram` counts: bins `[e_i, e_{i+1})`, the last one closed.
fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let mut counts = vec![0.0; bins];
    for &x in sorted {
        if x < edges[0] || x > edges[bins] {
            continue;
        }
        let b = (edges.partition_point(|e| *e <= x).saturating_sub(1)).min(bins - 1);
        counts[b] += 1.0;
    }
    counts
}

fn value_counts(sorted: &[f64], keys: &[f64]) -> Vec<f64> {
    let mut counts = vec![0.0; keys.len()];
    let mut k = 0;
    for &x in sorted {
        while keys[k] != x {
            k += 1;
        }
        counts[k] += 1.0;
    }
    counts
}

/// Population stability index `Σ (r − c) · ln(r / c)` over proportions, each zero raised to
/// [`PSI_FLOOR`].
pub fn population_stability_index(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = if r == 0.0 { PSI_FLOOR } else { r };
            let c = if c == 0.0 { PSI_FLOOR } else { c };
            (r - c) * (r / c).ln()
        })
        .sum()
}

fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `scipy.spatial.distance.jensenshannon(p, q)` with the natural logarithm: both vectors are
/// normalised to sum 1 first.
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        js += rel_entr(a, m) + rel_entr(b, m);
    }
    (js / 2.0).sqrt()
}

/// Two-sample Kolmogorov–Smirnov statistic `max |F_ref(x) − F_cur(x)|` of sorted samples.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d
}

/// `scipy.stats.wasserstein_distance` of two sorted samples: the integral of
/// `|F_a − F_b|` over the merged support.
pub fn wasserstein_distance(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    // Walk the merged support in order; between consecutive values both CDFs are constant.
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        if let Some(p) = prev {
            total += (i as f64 / n1 - j as f64 / n2).abs() * (x - p);
        }
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        prev = Some(x);
    }
    total
}

mod kstwo;
pub use kstwo::sf as kstwo_sf;

/// Largest sample size for which the exact KS p-value is computed (SciPy's `MAX_AUTO_N`).
pub const KS_EXACT_MAX_N: usize = 10_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Two-sided exact p-value `P(D ≥ d)` of the two-sample KS statistic under the null, for
/// samples of `n1` and `n2` values, as `scipy.stats.ks_2samp(method="auto")` computes it when
/// both are at most [`KS_EXACT_MAX_N`]: the share of monotone lattice paths from `(0, 0)` to
/// `(n1, n2)` that leave the band `|x/n1 − y/n2| < h / lcm`, with `h = round(d · lcm)`
/// (Hodges 1958, with Viehmann's 2021 recursion for `1 − p`); equal sizes use the alternating
/// series in Horner form. `None` for larger samples.
pub fn ks_pvalue_exact(n1: usize, n2: usize, d: f64) -> Option<f64> {
    if n1 == 0 || n2 == 0 || n1.max(n2) > KS_EXACT_MAX_N {
        return None;
    }
    let (n1, n2) = (n1 as u64, n2 as u64);
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as i64;
    if h <= 0 {
        return Some(1.0);
    }
    let p = if n1 == n2 { prob_outside_square(n1 as i64, h) } else { prob_outside_band(n1 as i64, n2 as i64, g as i64, h) };
    (0.0..=1.0).contains(&p).then_some(p)
}

/// Two-sided p-value of the two-sample KS statistic `d` of samples of `n1` and `n2` values, as
/// `scipy.stats.ks_2samp(method="auto")`: [`ks_pvalue_exact`] when both are at most
/// [`KS_EXACT_MAX_N`] (and the exact computation succeeds), else [`ks_pvalue_asymptotic`].
/// `None` for an empty sample.
pub fn ks_pvalue(n1: usize, n2: usize, d: f64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    ks_pvalue_exact(n1, n2, d).or_else(|| Some(ks_pvalue_asymptotic(n1, n2, d)))
}

/// SciPy's asymptotic two-sided p-value (`ks_2samp(method="asymp")`): the survival function of
/// the one-sample two-sided Kolmogorov distribution `kstwo(n)` at `d`, with `n` the effective
/// size `n1·n2/(n1+n2)` rounded half to even, as `numpy.round`.
pub fn ks_pvalue_asymptotic(n1: usize, n2: usize, d: f64) -> f64 {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    kstwo::sf(en.round_ties_even() as u64, d)
}

/// `P(D_{n,n} ≥ h/n)` = `2 Σ_k (−1)^{k+1} C(2n, n − kh) / C(2n, n)`, evaluated from the
/// innermost term outwards so that no large binomial is formed.
fn prob_outside_square(n: i64, h: i64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut term = 1.0;
        for j in 0..h {
            term = (n - k * h - j) as f64 * term / (n + k * h + j + 1) as f64;
        }
        p = term * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The share of lattice paths from `(0, 0)` to `(m, n)` that touch or cross the lines
/// `|x·n/g − y·m/g| = h`, computed column by column over a sliding window of the band, each
/// entry holding the probability (not the count) so that nothing overflows.
fn prob_outside_band(m: i64, n: i64, g: i64, h: i64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = (m / g, n / g);
    let ceil_div = |a: i64, b: i64| (a as f64 / b as f64).ceil() as i64;
    let floor_div = |a: i64, b: i64| (a as f64 / b as f64).floor() as i64;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len.max(1)];
    for v in a.iter_mut().take(maxj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        if a.len() < (maxj - minj) as usize {
            a.resize((maxj - minj) as usize, 1.0);
        }
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let prev = a.get((jj + minj - lastminj) as usize).copied().unwrap_or(1.0);
            val = (prev * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for v in &mut a[start..end] {
                *v = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1).max(0) as usize).copied().unwrap_or(1.0)
}

fn population_std(sorted: &[f64]) -> f64 {
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    (sorted.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// Every drift measure of a numeric column.
///
/// # Errors
/// A sample has no finite value.
pub fn numeric_drift(reference: &[f64], current: &[f64]) -> Result<NumericDrift, MetricError> {
    let r = finite_sorted(reference);
    let c = finite_sorted(current);
    if r.is_empty() {
        return Err(MetricError::Empty { metric: "drift (reference)" });
    }
    if c.is_empty() {
        return Err(MetricError::Empty { metric: "drift (current)" });
    }
    let mut distinct_ref = r.clone();
    distinct_ref.dedup();
    let (rc, cc, binning) = if distinct_ref.len() > DISTINCT_FOR_HISTOGRAM {
        let mut all = [r.as_slice(), c.as_slice()].concat();
        all.sort_unstable_by(f64::total_cmp);
        let edges = sturges_edges(&all);
        (histogram(&r, &edges), histogram(&c, &edges), DriftBinning::Sturges { edges })
    } else {
        let mut keys = [r.as_slice(), c.as_slice()].concat();
        keys.sort_unstable_by(f64::total_cmp);
        keys.dedup();
        let n = keys.len();
        (value_counts(&r, &keys), value_counts(&c, &keys), DriftBinning::Values { values: n })
    };
    let rp: Vec<f64> = rc.iter().map(|x| x / r.len() as f64).collect();
    let cp: Vec<f64> = cc.iter().map(|x| x / c.len() as f64).collect();
    let w = wasserstein_distance(&r, &c);
    let ks = ks_statistic(&r, &c);
    Ok(NumericDrift {
        reference_rows: r.len(),
        current_rows: c.len(),
        population_stability_index: population_stability_index(&rp, &cp),
        jensen_shannon_distance: jensen_shannon_distance(&rp, &cp),
        ks_statistic: ks,
        ks_pvalue: ks_pvalue(r.len(), c.len(), ks),
        wasserstein_distance: w,
        wasserstein_normed: w / population_std(&r).max(0.001),
        binning,
    })
}

/// PSI and Jensen–Shannon distance of a categorical column, one bin per category of
/// `reference ∪ current`; `None` values are dropped.
///
/// # Errors
/// A sample has no value.
pub fn categorical_drift<S: AsRef<str>>(reference: &[Option<S>], current: &[Option<S>]) -> Result<CategoricalDrift, MetricError> {
    let mut counts: BTreeMap<&str, [f64; 2]> = BTreeMap::new();
    let mut n = [0.0f64; 2];
    for (side, values) in [reference, current].into_iter().enumerate() {
        for v in values.iter().flatten() {
            counts.entry(v.as_ref()).or_default()[side] += 1.0;
            n[side] += 1.0;
        }
    }
    if n[0] == 0.0 {
        return Err(MetricError::Empty { metric: "drift (reference)" });
    }
    if n[1] == 0.0 {
        return Err(MetricError::Empty { metric: "drift (current)" });
    }
    let rp: Vec<f64> = counts.values().map(|c| c[0] / n[0]).collect();
    let cp: Vec<f64> = counts.values().map(|c| c[1] / n[1]).collect();
    Ok(CategoricalDrift {
        reference_rows: n[0] as usize,
        current_rows: n[1] as usize,
        population_stability_index: population_stability_index(&rp, &cp),
        jensen_shannon_distance: jensen_shannon_distance(&rp, &cp),
        categories: counts.len(),
    })
}

#[cfg(test)]
mod tests;

/// Drift of one column between two datasets.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnDrift {
    Numeric(NumericDrift),
    Categorical(CategoricalDrift),
}
