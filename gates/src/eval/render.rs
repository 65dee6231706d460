//! The text form of an [`EvalReport`]: readable at a glance, one table per grouping.

use std::fmt::Write as _;

use super::{EvalReport, Fairness};
use crate::metrics::{BinaryMetric, Disparities};

fn num(x: f64) -> String {
    if x.is_nan() { "NaN".to_owned() } else { format!("{x:.4}") }
}

/// Pads `cells` into aligned columns: the first left-aligned, the others right-aligned.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

const GROUP_COLUMNS: [(&str, &str); 11] = [
    ("selection_rate", "selected"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("false_negative_rate", "FNR"),
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "bal.acc"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("roc_auc", "ROC AUC"),
    ("log_loss", "log loss"),
];

fn disparity_rows(between: &Disparities, overall: &Disparities) -> Vec<Vec<String>> {
    let b = serde_json::to_value(between).unwrap_or_default();
    let o = serde_json::to_value(overall).unwrap_or_default();
    let mut rows = vec![vec!["disparity".to_owned(), "between groups".to_owned(), "to overall".to_owned()]];
    if let Some(map) = b.as_object() {
        for (name, v) in map {
            let value = |x: &serde_json::Value| num(x.as_f64().unwrap_or(f64::NAN));
            rows.push(vec![name.replace('_', " "), value(v), value(&o[name])]);
        }
    }
    rows
}

fn fairness(out: &mut String, f: &Fairness, baseline: Option<&Fairness>, weighted: bool) {
    let _ = writeln!(out, "\nFairness by {}", f.features.join(" × "));
    let present: Vec<(&str, &str)> =
        GROUP_COLUMNS.iter().copied().filter(|(k, _)| f.groups.first().is_some_and(|g| g.metrics.contains_key(k))).collect();
    let mut header = vec!["group".to_owned(), "rows".to_owned()];
    if weighted {
        header.push("weight".to_owned());
    }
    header.extend(present.iter().map(|(_, h)| (*h).to_owned()));
    let mut rows = vec![header];
    for g in &f.groups {
        let mut r = vec![g.group.join(", "), g.rows.to_string()];
        if weighted {
            r.push(format!("{:.1}", g.weight));
        }
        r.extend(present.iter().map(|(k, _)| num(g.metrics.get(k).copied().unwrap_or(f64::NAN))));
        rows.push(r);
    }
    table(out, &rows);
    out.push('\n');
    let mut rows = disparity_rows(&f.between_groups, &f.to_overall);
    if let Some(b) = baseline {
        let base = disparity_rows(&b.between_groups, &b.to_overall);
        for (r, br) in rows.iter_mut().zip(base) {
            let cell = if r[0] == "disparity" { "baseline (between)".to_owned() } else { br[1].clone() };
            r.push(cell);
        }
    }
    table(out, &rows);
}

/// Renders the report as text for a terminal.
pub fn render_text(report: &EvalReport) -> String {
    let mut out = String::new();
    let d = &report.dataset;
    let _ = writeln!(
        out,
        "Dataset  {} ({}, {} rows, sha256 {})",
        d.path.display(),
        serde_json::to_value(d.format).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        d.rows,
        d.sha256
    );
    let i = &report.inputs;
    let mut cols = vec![format!("label `{}`", i.label)];
    if let Some(b) = &report.baseline {
        let what = b.prediction.as_ref().or(b.score.as_ref()).map(|c| format!("baseline `{c}`"));
        cols.extend(what);
    }
    if let Some(p) = &i.prediction {
        cols.push(format!("prediction `{p}`"));
    }
    if let Some(s) = &i.score {
        cols.push(format!("score `{s}`"));
    }
    if let Some(t) = i.threshold {
        cols.push(format!("predicted positive when score >= {t}"));
    }
    if let Some(w) = &i.weight {
        cols.push(format!("weight `{w}`"));
    }
    if !i.sensitive.is_empty() {
        cols.push(format!("sensitive {}", i.sensitive.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")));
    }
    let _ = writeln!(out, "Columns  {}", cols.join(", "));
    let _ = writeln!(out, "\nQuality (all rows)");
    let mut rows: Vec<Vec<String>> = Vec::new();
    if let Some(b) = &report.baseline {
        rows.push(vec!["metric".into(), "candidate".into(), "baseline".into(), "change".into()]);
        for m in BinaryMetric::ALL {
            if let Some(v) = report.overall.get(m.name()) {
                let bv = b.overall.get(m.name()).copied().unwrap_or(f64::NAN);
                let change = v - bv;
                let sign = if change > 0.0 { "+" } else { "" };
                let change = if change.is_nan() { "NaN".to_owned() } else { format!("{sign}{change:.4}") };
                rows.push(vec![m.name().replace('_', " "), num(*v), num(bv), change]);
            }
        }
    } else {
        for m in BinaryMetric::ALL {
            if let Some(v) = report.overall.get(m.name()) {
                rows.push(vec![m.name().replace('_', " "), num(*v)]);
            }
        }
    }
    if !rows.is_empty() {
        table(&mut out, &rows);
    }
    let baseline_fairness = report.baseline.as_ref().map(|b| &b.fairness);
    for (n, f) in report.fairness.iter().enumerate() {
        fairness(&mut out, f, baseline_fairness.and_then(|b| b.get(n)), i.weight.is_some());
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nNotes");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

/// Renders threshold results: warnings first (a missing baseline above all), then one line per
/// threshold, then the verdict.
pub fn render_gates(report: &crate::spec::GateReport) -> String {
    use crate::spec::Outcome;
    let mut out = String::from("\nGates\n");
    for w in &report.warnings {
        let _ = writeln!(out, "  !! {w}");
    }
    for r in &report.results {
        let t = &r.threshold;
        let mut bounds = Vec::new();
        if let Some(m) = t.min {
            bounds.push(format!("min {m}"));
        }
        if let Some(m) = t.max {
            bounds.push(format!("max {m}"));
        }
        if let Some(m) = t.max_regression {
            bounds.push(format!("maxRegression {m}"));
        }
        let value = r.value.map_or_else(|| "missing".to_owned(), num);
        let (status, reasons): (&str, &[String]) = match &r.outcome {
            Outcome::Pass => ("pass", &[]),
            Outcome::Fail { reasons } => ("FAIL", reasons),
            Outcome::NotEvaluated { reasons } => ("not evaluated", reasons),
        };
        let _ = writeln!(out, "  {status:<13} {} = {value} ({})", t.metric, bounds.join(", "));
        for reason in reasons {
            let _ = writeln!(out, "                  {reason}");
        }
    }
    let _ = writeln!(out, "\n{}", if report.passed { "All gates pass." } else { "Blocked: a gate failed." });
    out
}

/// Renders a data-quality report: dataset-wide findings, then one row per declared column.
pub fn render_data_quality(report: &crate::data_quality::DataQualityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Data quality  {} rows", report.rows);
    let schema = if report.schema_match { "matches".to_owned() } else { "DOES NOT MATCH".to_owned() };
    let _ = writeln!(out, "  schema               {schema}");
    if !report.missing_columns.is_empty() {
        let _ = writeln!(out, "  missing columns      {}", report.missing_columns.join(", "));
    }
    if !report.unexpected_columns.is_empty() {
        let _ = writeln!(out, "  unexpected columns   {}", report.unexpected_columns.join(", "));
    }
    let _ = writeln!(out, "  duplicate rows       {} ({})", report.duplicate_rows, num(report.duplicate_rate));
    out.push('\n');
    let mut rows = vec![
        ["column", "type", "nulls", "null rate", "non-nullable nulls", "below min", "above max", "not allowed", "min", "max"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in &report.columns {
        let ty = serde_json::to_value(c.ty).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let opt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
        rows.push(vec![
            c.name.clone(),
            ty,
            c.nulls.to_string(),
            num(c.null_rate),
            c.null_violations.to_string(),
            c.below_min.to_string(),
            c.above_max.to_string(),
            c.not_allowed.to_string(),
            opt(c.min),
            opt(c.max),
        ]);
    }
    table(&mut out, &rows);
    out
}

/// Renders drift measures, one row per column.
pub fn render_drift(report: &crate::drift_files::DriftReport) -> String {
    use crate::metrics::ColumnDrift;
    let mut out = String::from("Drift (reference → current)\n");
    let mut rows = vec![
        ["column", "kind", "ref rows", "cur rows", "PSI", "JS distance", "KS", "KS p-value", "Wasserstein", "W / std"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (name, d) in &report.columns {
        match d {
            ColumnDrift::Numeric(d) => rows.push(vec![
                name.clone(),
                "numeric".into(),
                d.reference_rows.to_string(),
                d.current_rows.to_string(),
                num(d.population_stability_index),
                num(d.jensen_shannon_distance),
                num(d.ks_statistic),
                d.ks_pvalue.map_or_else(|| "n > 10000".to_owned(), |p| format!("{p:.4e}")),
                num(d.wasserstein_distance),
                num(d.wasserstein_normed),
            ]),
            ColumnDrift::Categorical(d) => rows.push(vec![
                name.clone(),
                format!("{} categories", d.categories),
                d.reference_rows.to_string(),
                d.current_rows.to_string(),
                num(d.population_stability_index),
                num(d.jensen_shannon_distance),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        }
    }
    table(&mut out, &rows);
    out
}
