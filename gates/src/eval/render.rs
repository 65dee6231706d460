//! The text form of an [`EvalReport`]: readable at a glance, one table per grouping.

use std::fmt::Write as _;

use super::{EvalReport, Fairness};
use crate::metrics::{BinaryMetric, Disparities};

fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{x:.4}")
    }
}

/// Pads `cells` into aligned columns: the first left-aligned, the others right-aligned.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
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
    let mut rows = vec![vec![
        "disparity".to_owned(),
        "between groups".to_owned(),
        "to overall".to_owned(),
    ]];
    if let Some(map) = b.as_object() {
        for (name, v) in map {
            let value = |x: &serde_json::Value| num(x.as_f64().unwrap_or(f64::NAN));
            rows.push(vec![name.replace('_', " "), value(v), value(&o[name])]);
        }
    }
    rows
}

fn fairness(out: &mut String, f: &Fairness, weighted: bool) {
    let _ = writeln!(out, "\nFairness by {}", f.features.join(" × "));
    let present: Vec<(&str, &str)> = GROUP_COLUMNS
        .iter()
        .copied()
        .filter(|(k, _)| f.groups.first().is_some_and(|g| g.metrics.contains_key(k)))
        .collect();
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
        r.extend(
            present
                .iter()
                .map(|(k, _)| num(g.metrics.get(k).copied().unwrap_or(f64::NAN))),
        );
        rows.push(r);
    }
    table(out, &rows);
    out.push('\n');
    table(out, &disparity_rows(&f.between_groups, &f.to_overall));
}

/// Renders the report as text for a terminal.
pub fn render_text(report: &EvalReport) -> String {
    let mut out = String::new();
    let d = &report.dataset;
    let _ = writeln!(
        out,
        "Dataset  {} ({}, {} rows, sha256 {})",
        d.path.display(),
        serde_json::to_value(d.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        d.rows,
        d.sha256
    );
    let i = &report.inputs;
    let mut cols = vec![format!("label `{}`", i.label)];
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
        cols.push(format!(
            "sensitive {}",
            i.sensitive
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let _ = writeln!(out, "Columns  {}", cols.join(", "));
    let _ = writeln!(out, "\nQuality (all rows)");
    let rows: Vec<Vec<String>> = BinaryMetric::ALL
        .iter()
        .filter_map(|m| {
            report
                .overall
                .get(m.name())
                .map(|v| vec![m.name().replace('_', " "), num(*v)])
        })
        .collect();
    if !rows.is_empty() {
        table(&mut out, &rows);
    }
    for f in &report.fairness {
        fairness(&mut out, f, i.weight.is_some());
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nNotes");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}
