//! One pass over the rows of a binary classifier's evaluation, grouped by the intersections
//! of its sensitive features; every quality and fairness metric is derived from the result.

use std::collections::HashMap;

use serde::Serialize;

use super::MetricError;
use super::binary::Confusion;
use super::fairness::{Disparities, GroupedMetric, Method};
use super::probability::ProbabilityAccumulator;
use super::ranking::Curve;

/// At most this many sensitive features form intersections (their codes share one key).
pub const MAX_FEATURES: usize = 4;
/// At most this many cells in the Cartesian product of the sensitive features' levels.
pub const MAX_GROUPS: usize = 1_000_000;

/// Assigns each row's sensitive-feature values to an observed intersectional group id.
#[derive(Debug)]
pub struct GroupEncoder {
    features: Vec<String>,
    levels: Vec<Vec<String>>,
    dicts: Vec<HashMap<String, u32>>,
    ids: HashMap<u128, u32>,
    last: Option<(u128, u32)>,
}

impl GroupEncoder {
    /// An encoder for `features` (at most [`MAX_FEATURES`]; none gives one group, "all rows").
    ///
    /// # Errors
    /// More than [`MAX_FEATURES`] features.
    pub fn new(features: Vec<String>) -> Result<GroupEncoder, MetricError> {
        if features.len() > MAX_FEATURES {
            return Err(MetricError::TooManyFeatures { features: features.len(), limit: MAX_FEATURES });
        }
        let n = features.len();
        Ok(GroupEncoder { features, levels: vec![Vec::new(); n], dicts: vec![HashMap::new(); n], ids: HashMap::new(), last: None })
    }

    /// An encoder whose callers pass level indices (see [`GroupEncoder::encode_codes`]) into
    /// known `levels`, one list per feature.
    ///
    /// # Errors
    /// More than [`MAX_FEATURES`] features.
    pub fn with_levels(features: Vec<String>, levels: Vec<Vec<String>>) -> Result<GroupEncoder, MetricError> {
        let mut enc = GroupEncoder::new(features)?;
        for (f, lv) in levels.into_iter().enumerate().take(enc.features.len()) {
            for (i, l) in lv.iter().enumerate() {
                enc.dicts[f].insert(l.clone(), i as u32);
            }
            enc.levels[f] = lv;
        }
        Ok(enc)
    }

    /// The group id of a row whose feature values are `values` (one per feature).
    pub fn encode<S: AsRef<str>>(&mut self, values: &[S]) -> u32 {
        let mut key: u128 = 0;
        for (f, v) in values.iter().enumerate().take(self.features.len()) {
            let v = v.as_ref();
            let code = match self.dicts[f].get(v) {
                Some(&c) => c,
                None => {
                    let c = self.levels[f].len() as u32;
                    self.levels[f].push(v.to_owned());
                    self.dicts[f].insert(v.to_owned(), c);
                    c
                }
            };
            key |= u128::from(code) << (32 * f);
        }
        self.id(key)
    }

    /// The group id of a row given level indices into the levels passed to
    /// [`GroupEncoder::with_levels`].
    #[inline]
    pub fn encode_codes(&mut self, codes: &[u32]) -> u32 {
        let mut key: u128 = 0;
        for (f, &c) in codes.iter().enumerate().take(self.features.len()) {
            key |= u128::from(c) << (32 * f);
        }
        self.id(key)
    }

    #[inline]
    fn id(&mut self, key: u128) -> u32 {
        if let Some((k, id)) = self.last
            && k == key
        {
            return id;
        }
        let next = self.ids.len() as u32;
        let id = *self.ids.entry(key).or_insert(next);
        self.last = Some((key, id));
        id
    }

    /// Groups observed so far.
    pub fn observed(&self) -> usize {
        self.ids.len().max(1)
    }

    /// The sensitive features' names.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// Lays out the groups of all features together (their full intersection).
    ///
    /// # Errors
    /// See [`GroupEncoder::layout`].
    pub fn layout_all(&self) -> Result<Layout, MetricError> {
        let all: Vec<usize> = (0..self.features.len()).collect();
        self.layout(&all)
    }

    /// Lays out the groups of the features at `subset` (indices into the features): each
    /// feature's levels are sorted (numerically when every level is a number, else by code
    /// point, as pandas sorts) and the groups are the full Cartesian product, as Fairlearn's
    /// `MetricFrame` has them. Combinations absent from the data are kept, with no rows.
    ///
    /// # Errors
    /// The product has more than [`MAX_GROUPS`] cells.
    pub fn layout(&self, subset: &[usize]) -> Result<Layout, MetricError> {
        let mut levels = Vec::new();
        let mut ranks = Vec::new();
        for &f in subset {
            let lv = &self.levels[f];
            let mut idx: Vec<usize> = (0..lv.len()).collect();
            let numeric: Option<Vec<f64>> = lv.iter().map(|s| s.trim().parse::<f64>().ok()).collect();
            match numeric {
                Some(nums) => idx.sort_by(|&a, &b| nums[a].total_cmp(&nums[b])),
                None => idx.sort_by(|&a, &b| lv[a].cmp(&lv[b])),
            }
            let mut rank = vec![0u32; lv.len()];
            for (pos, &code) in idx.iter().enumerate() {
                rank[code] = pos as u32;
            }
            levels.push(idx.iter().map(|&i| lv[i].clone()).collect::<Vec<_>>());
            ranks.push(rank);
        }
        let cells: u128 = levels.iter().map(|l| l.len() as u128).product();
        if cells > MAX_GROUPS as u128 {
            return Err(MetricError::TooManyGroups { combinations: cells, limit: MAX_GROUPS });
        }
        let mut ids: Vec<(u128, u32)> = self.ids.iter().map(|(&k, &v)| (k, v)).collect();
        ids.sort_unstable_by_key(|&(_, v)| v);
        let cell_of = ids
            .iter()
            .map(|&(key, _)| {
                let mut cell: u32 = 0;
                for (i, &f) in subset.iter().enumerate() {
                    let code = ((key >> (32 * f)) & u128::from(u32::MAX)) as usize;
                    cell = cell * levels[i].len() as u32 + ranks[i][code];
                }
                cell
            })
            .collect();
        let features = subset.iter().map(|&f| self.features[f].clone()).collect();
        Ok(Layout { groups: Groups { features, levels }, cell_of })
    }
}

/// Groups of some sensitive features, and the cell of each observed group id in them.
#[derive(Clone, Debug)]
pub struct Layout {
    pub groups: Groups,
    cell_of: Vec<u32>,
}

/// The intersectional groups of some sensitive features: the Cartesian product of their
/// sorted levels, the first feature varying slowest (pandas' `MultiIndex` order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Groups {
    pub features: Vec<String>,
    pub levels: Vec<Vec<String>>,
}

impl Groups {
    /// Number of cells in the product (1 with no features).
    pub fn len(&self) -> usize {
        self.levels.iter().map(Vec::len).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Level indices of cell `i`, one per feature.
    pub fn cell(&self, mut i: usize) -> Vec<usize> {
        let mut out = vec![0; self.levels.len()];
        for f in (0..self.levels.len()).rev() {
            let n = self.levels[f].len().max(1);
            out[f] = i % n;
            i /= n;
        }
        out
    }

    /// Level names of cell `i`, one per feature.
    pub fn label(&self, i: usize) -> Vec<&str> {
        self.cell(i).into_iter().enumerate().map(|(f, l)| self.levels[f].get(l).map_or("", String::as_str)).collect()
    }
}

/// Every metric of a binary classifier that can be computed per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryMetric {
    Accuracy,
    BalancedAccuracy,
    Precision,
    Recall,
    F1,
    SelectionRate,
    TruePositiveRate,
    FalsePositiveRate,
    FalseNegativeRate,
    TrueNegativeRate,
    RocAuc,
    AveragePrecision,
    LogLoss,
    BrierScore,
    ExpectedCalibrationError,
}

impl BinaryMetric {
    pub const ALL: [BinaryMetric; 15] = [
        BinaryMetric::Accuracy,
        BinaryMetric::BalancedAccuracy,
        BinaryMetric::Precision,
        BinaryMetric::Recall,
        BinaryMetric::F1,
        BinaryMetric::SelectionRate,
        BinaryMetric::TruePositiveRate,
        BinaryMetric::FalsePositiveRate,
        BinaryMetric::FalseNegativeRate,
        BinaryMetric::TrueNegativeRate,
        BinaryMetric::RocAuc,
        BinaryMetric::AveragePrecision,
        BinaryMetric::LogLoss,
        BinaryMetric::BrierScore,
        BinaryMetric::ExpectedCalibrationError,
    ];

    /// The snake_case name used in gate specs, reports and golden files.
    pub fn name(self) -> &'static str {
        match self {
            BinaryMetric::Accuracy => "accuracy",
            BinaryMetric::BalancedAccuracy => "balanced_accuracy",
            BinaryMetric::Precision => "precision",
            BinaryMetric::Recall => "recall",
            BinaryMetric::F1 => "f1",
            BinaryMetric::SelectionRate => "selection_rate",
            BinaryMetric::TruePositiveRate => "true_positive_rate",
            BinaryMetric::FalsePositiveRate => "false_positive_rate",
            BinaryMetric::FalseNegativeRate => "false_negative_rate",
            BinaryMetric::TrueNegativeRate => "true_negative_rate",
            BinaryMetric::RocAuc => "roc_auc",
            BinaryMetric::AveragePrecision => "average_precision",
            BinaryMetric::LogLoss => "log_loss",
            BinaryMetric::BrierScore => "brier_score",
            BinaryMetric::ExpectedCalibrationError => "expected_calibration_error",
        }
    }

    /// Parses a name given by [`BinaryMetric::name`].
    pub fn from_name(name: &str) -> Option<BinaryMetric> {
        BinaryMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the metric needs scores (ranking) or probabilities.
    pub fn needs_scores(self) -> bool {
        matches!(self, BinaryMetric::RocAuc | BinaryMetric::AveragePrecision) || self.needs_probabilities()
    }

    /// Whether the metric needs scores that are probabilities in `[0, 1]`.
    pub fn needs_probabilities(self) -> bool {
        matches!(self, BinaryMetric::LogLoss | BinaryMetric::BrierScore | BinaryMetric::ExpectedCalibrationError)
    }

    /// Whether a larger value is better (for reporting regressions).
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            BinaryMetric::FalsePositiveRate
                | BinaryMetric::FalseNegativeRate
                | BinaryMetric::LogLoss
                | BinaryMetric::BrierScore
                | BinaryMetric::ExpectedCalibrationError
        )
    }
}

/// All metrics of one group (or of all rows).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupMetrics {
    /// Rows in the group, whatever their weight; 0 for a combination absent from the data.
    pub rows: u64,
    /// Total weight of the group's rows.
    pub weight: f64,
    values: [f64; 15],
}

impl GroupMetrics {
    pub fn get(&self, metric: BinaryMetric) -> f64 {
        self.values[metric as usize]
    }

    fn empty() -> GroupMetrics {
        GroupMetrics { rows: 0, weight: 0.0, values: [f64::NAN; 15] }
    }

    fn from_parts(c: &Confusion, curve: Option<&Curve>, prob: Option<&ProbabilityAccumulator>) -> GroupMetrics {
        if c.rows() == 0 || c.weight() == 0.0 {
            // scikit-learn refuses weights that are all zero; a group that weighs nothing
            // has no defined metric, like a group with no rows.
            return GroupMetrics { rows: c.rows(), ..GroupMetrics::empty() };
        }
        let mut v = [f64::NAN; 15];
        v[BinaryMetric::Accuracy as usize] = c.accuracy();
        v[BinaryMetric::BalancedAccuracy as usize] = c.balanced_accuracy();
        v[BinaryMetric::Precision as usize] = c.precision();
        v[BinaryMetric::Recall as usize] = c.recall();
        v[BinaryMetric::F1 as usize] = c.f1();
        v[BinaryMetric::SelectionRate as usize] = c.selection_rate();
        v[BinaryMetric::TruePositiveRate as usize] = c.true_positive_rate();
        v[BinaryMetric::FalsePositiveRate as usize] = c.false_positive_rate();
        v[BinaryMetric::FalseNegativeRate as usize] = c.false_negative_rate();
        v[BinaryMetric::TrueNegativeRate as usize] = c.true_negative_rate();
        if let Some(curve) = curve {
            v[BinaryMetric::RocAuc as usize] = curve.roc_auc();
            v[BinaryMetric::AveragePrecision as usize] = curve.average_precision();
        }
        if let Some(p) = prob {
            v[BinaryMetric::LogLoss as usize] = p.log_loss();
            v[BinaryMetric::BrierScore as usize] = p.brier_score();
            v[BinaryMetric::ExpectedCalibrationError as usize] = p.expected_calibration_error();
        }
        GroupMetrics { rows: c.rows(), weight: c.weight(), values: v }
    }
}

#[derive(Clone, Copy, Debug)]
struct ScoredRow {
    score: f64,
    weight: f64,
    group: u32,
    label: bool,
}

/// Accumulates rows of a binary classification, grouped, in one pass.
///
/// Count-based metrics take memory proportional to the number of groups; ranking metrics
/// (ROC AUC, average precision) keep 24 bytes per scored row until [`BinaryAccumulator::finish`]
/// sorts them once for all groups.
#[derive(Debug)]
pub struct BinaryAccumulator {
    confusion: Vec<Confusion>,
    probability: Vec<ProbabilityAccumulator>,
    scored: Vec<ScoredRow>,
    with_scores: bool,
    ece_bins: usize,
    /// First row (0-based) whose score lies outside `[0, 1]`.
    not_probability: Option<u64>,
    /// First row whose score is NaN or infinite.
    non_finite: Option<u64>,
    rows: u64,
}

impl BinaryAccumulator {
    /// An accumulator; `with_scores` keeps scores for ranking and probability metrics.
    pub fn new(with_scores: bool, ece_bins: usize) -> BinaryAccumulator {
        BinaryAccumulator {
            confusion: Vec::new(),
            probability: Vec::new(),
            scored: Vec::new(),
            with_scores,
            ece_bins: ece_bins.max(1),
            not_probability: None,
            non_finite: None,
            rows: 0,
        }
    }

    /// Adds one row of group `group` (from [`GroupEncoder`]); `score` is ignored unless the
    /// accumulator keeps scores.
    #[inline]
    pub fn push(&mut self, group: u32, label: bool, prediction: bool, score: f64, weight: f64) {
        let g = group as usize;
        if g >= self.confusion.len() {
            self.confusion.resize(g + 1, Confusion::default());
            if self.with_scores {
                self.probability.resize(g + 1, ProbabilityAccumulator::new(self.ece_bins));
            }
        }
        self.confusion[g].add(label, prediction, weight);
        if self.with_scores {
            if !score.is_finite() {
                self.non_finite.get_or_insert(self.rows);
            } else {
                if (0.0..=1.0).contains(&score) {
                    self.probability[g].add(label, score, weight);
                } else {
                    self.not_probability.get_or_insert(self.rows);
                }
                self.scored.push(ScoredRow { score, weight, group, label });
            }
        }
        self.rows += 1;
    }

    /// Reserves room for `rows` more scored rows.
    pub fn reserve(&mut self, rows: usize) {
        if self.with_scores {
            self.scored.reserve(rows);
        }
    }

    /// Derives every metric for all rows and for each group of each layout.
    ///
    /// # Errors
    /// No rows were pushed, or a score was NaN or infinite.
    pub fn finish(mut self, layouts: &[Layout]) -> Result<Vec<BinaryReport>, MetricError> {
        if self.rows == 0 {
            return Err(MetricError::Empty { metric: "binary classification metrics" });
        }
        if let Some(row) = self.non_finite {
            return Err(MetricError::NonFinite { name: "score", row: row as usize });
        }
        if self.with_scores {
            self.scored.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
        }
        let probabilities = self.with_scores && self.not_probability.is_none();
        let all_rows = vec![0u32; self.confusion.len()];
        let overall = self.aggregate(&all_rows, 1, probabilities);
        let overall = overall.into_iter().next().unwrap_or_else(GroupMetrics::empty);
        let mut reports = Vec::with_capacity(layouts.len());
        for layout in layouts {
            // Group ids must come from the encoder the layout was made by.
            if layout.cell_of.len() < self.confusion.len() || layout.cell_of.iter().any(|&c| c as usize >= layout.groups.len()) {
                return Err(MetricError::LayoutMismatch { observed: self.confusion.len(), laid_out: layout.cell_of.len() });
            }
            let by_group = self.aggregate(&layout.cell_of, layout.groups.len(), probabilities);
            reports.push(BinaryReport {
                groups: layout.groups.clone(),
                overall: overall.clone(),
                by_group,
                has_scores: self.with_scores,
                not_probability_row: if self.with_scores { self.not_probability } else { None },
            });
        }
        Ok(reports)
    }

    /// Metrics of `cells` groups, observed group `g` falling in cell `cell_of[g]`.
    fn aggregate(&self, cell_of: &[u32], cells: usize, probabilities: bool) -> Vec<GroupMetrics> {
        let mut confusion = vec![Confusion::default(); cells];
        let mut prob = if probabilities { vec![ProbabilityAccumulator::new(self.ece_bins); cells] } else { Vec::new() };
        for (g, c) in self.confusion.iter().enumerate() {
            let cell = cell_of[g] as usize;
            confusion[cell].merge(c);
            if probabilities {
                prob[cell].merge(&self.probability[g]);
            }
        }
        let curves = self.with_scores.then(|| curves(&self.scored, cell_of, cells));
        (0..cells)
            .map(|cell| {
                GroupMetrics::from_parts(
                    &confusion[cell],
                    curves.as_ref().map(|c| &c[cell]),
                    if probabilities { prob.get(cell) } else { None },
                )
            })
            .collect()
    }
}

/// Walks rows sorted by decreasing score, closing a threshold at the end of each run of equal
/// scores for every cell the run touched.
fn curves(rows: &[ScoredRow], cell_of: &[u32], cells: usize) -> Vec<Curve> {
    let mut curves = vec![Curve::default(); cells];
    let mut touched: Vec<u32> = Vec::new();
    let mut is_touched = vec![false; cells];
    let mut i = 0;
    while i < rows.len() {
        let s = rows[i].score;
        while i < rows.len() && rows[i].score == s {
            let r = rows[i];
            let cell = cell_of[r.group as usize];
            curves[cell as usize].add(r.label, r.weight);
            if !is_touched[cell as usize] {
                is_touched[cell as usize] = true;
                touched.push(cell);
            }
            i += 1;
        }
        for cell in touched.drain(..) {
            curves[cell as usize].close_threshold();
            is_touched[cell as usize] = false;
        }
    }
    curves
}

/// Every binary metric on all rows and per group.
#[derive(Clone, Debug)]
pub struct BinaryReport {
    pub groups: Groups,
    pub overall: GroupMetrics,
    /// One entry per cell of `groups`, in product order.
    pub by_group: Vec<GroupMetrics>,
    /// Whether scores were given (ranking metrics computed).
    pub has_scores: bool,
    /// First row whose score was outside `[0, 1]`, which rules out the probability metrics.
    pub not_probability_row: Option<u64>,
}

impl BinaryReport {
    /// Whether `metric` could be computed from the inputs given.
    pub fn available(&self, metric: BinaryMetric) -> bool {
        if metric.needs_probabilities() {
            self.has_scores && self.not_probability_row.is_none()
        } else {
            !metric.needs_scores() || self.has_scores
        }
    }

    /// One metric overall and by group.
    pub fn metric(&self, metric: BinaryMetric) -> GroupedMetric {
        GroupedMetric { overall: self.overall.get(metric), by_group: self.by_group.iter().map(|g| g.get(metric)).collect() }
    }

    /// Fairlearn's disparities of this grouping under `method`.
    pub fn disparities(&self, method: Method) -> Disparities {
        Disparities::new(
            &self.metric(BinaryMetric::SelectionRate),
            &self.metric(BinaryMetric::TruePositiveRate),
            &self.metric(BinaryMetric::FalsePositiveRate),
            method,
        )
    }
}

#[cfg(test)]
mod tests;
