//! Inline SVG charts, laid out here and drawn by `chart.html` (so every label goes through the
//! template engine's escaping): horizontal bars, one row per item, a candidate bar and, where
//! there is one, a baseline bar beside it, and the threshold drawn as a line across its row.
//! Each chart has a `<title>`, an `aria-label`, and a table of the same numbers beside it.

use serde::Serialize;

/// Width of the label column and of the plot, in SVG units.
const LABEL_W: f64 = 170.0;
const PLOT_W: f64 = 300.0;
const BAR_H: f64 = 12.0;
const ROW_GAP: f64 = 10.0;

/// One item of a chart: a candidate value, an optional baseline and an optional threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// What the row is (`roc_auc`, `sex=Female`, `psi age`).
    pub label: String,
    /// The candidate's value (`None`: not computed).
    pub value: Option<f64>,
    /// The baseline's value, when there is a baseline.
    pub baseline: Option<f64>,
    /// The bound the value is held to, and whether it is a minimum or a maximum.
    pub threshold: Option<(f64, Bound)>,
    /// Whether the item passed its threshold (`None`: not checked).
    pub passed: Option<bool>,
}

/// The kind of bound a threshold is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Bound {
    /// The value must be at least this.
    Min,
    /// The value must be at most this.
    Max,
}

/// A bar as drawn.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// `candidate`, `candidate fail` or `baseline`.
    pub class: &'static str,
    /// The value as text, for the bar's end and its title.
    pub text: String,
    /// Where the value's text is written.
    pub text_x: f64,
}

/// A threshold line as drawn.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub x: f64,
    pub y1: f64,
    pub y2: f64,
    /// `min 0.8` or `max 0.2`.
    pub text: String,
}

/// One row as drawn.
#[derive(Debug, Clone, Serialize)]
pub struct DrawnRow {
    pub label: String,
    pub label_y: f64,
    pub bars: Vec<Bar>,
    pub line: Option<Line>,
    /// The numbers, for the table beside the chart.
    pub value: String,
    pub baseline: String,
    pub threshold: String,
    pub outcome: &'static str,
}

/// A chart, laid out.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Its title (also the SVG's `<title>` and `aria-label`).
    pub title: String,
    pub width: f64,
    pub height: f64,
    /// The left edge of the plot and the value its right edge stands for.
    pub plot_x: f64,
    pub scale_max: String,
    pub rows: Vec<DrawnRow>,
    /// Whether any row has a baseline (the legend and the table say so).
    pub has_baseline: bool,
}

/// Formats a metric value the way the pages show it.
pub fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s.is_empty() || s == "-" { "0".to_owned() } else { s.to_owned() }
        }
        Some(_) => "NaN".to_owned(),
        None => "—".to_owned(),
    }
}

/// Lays out `items` as a chart titled `title`. The scale runs from 0 to the largest of 1, the
/// values, the baselines and the thresholds; negative values are drawn as empty bars.
pub fn bars(title: &str, items: &[Item]) -> Chart {
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    let max = items
        .iter()
        .flat_map(|i| [finite(i.value), finite(i.baseline), i.threshold.map(|t| t.0).filter(|t| t.is_finite())])
        .flatten()
        .fold(1.0_f64, f64::max);
    let has_baseline = items.iter().any(|i| i.baseline.is_some());
    let per_row = if has_baseline { 2.0 * BAR_H + 2.0 } else { BAR_H };
    let x_of = |v: f64| LABEL_W + (v.max(0.0) / max) * PLOT_W;
    let mut y = 8.0;
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let top = y;
        let mut bars = Vec::new();
        let fail = item.passed == Some(false);
        let mut bar = |v: Option<f64>, class: &'static str, by: f64| {
            let w = finite(v).map_or(0.0, |v| x_of(v) - LABEL_W);
            bars.push(Bar { x: LABEL_W, y: by, w, h: BAR_H, class, text: number(v), text_x: LABEL_W + w + 4.0 });
        };
        bar(item.value, if fail { "candidate fail" } else { "candidate" }, top);
        if has_baseline {
            bar(item.baseline, "baseline", top + BAR_H + 2.0);
        }
        let line = item.threshold.filter(|t| t.0.is_finite()).map(|(t, bound)| Line {
            x: x_of(t),
            y1: top - 3.0,
            y2: top + per_row + 3.0,
            text: format!("{} {}", if bound == Bound::Min { "min" } else { "max" }, number(Some(t))),
        });
        rows.push(DrawnRow {
            label: item.label.clone(),
            label_y: top + BAR_H - 2.0,
            bars,
            line,
            value: number(item.value),
            baseline: if item.baseline.is_some() { number(item.baseline) } else { String::new() },
            threshold: item
                .threshold
                .map_or_else(String::new, |(t, b)| format!("{} {}", if b == Bound::Min { "≥" } else { "≤" }, number(Some(t)))),
            outcome: match item.passed {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "",
            },
        });
        y += per_row + ROW_GAP;
    }
    Chart {
        title: title.to_owned(),
        width: LABEL_W + PLOT_W + 60.0,
        height: y + 4.0,
        plot_x: LABEL_W,
        scale_max: number(Some(max)),
        rows,
        has_baseline,
    }
}
