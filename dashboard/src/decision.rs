//! One decision's page: what `tollgate explain` prints (the same lines, [`ExplainText`]), what it
//! waits for, the approvals (who, when, bound to which digest, counted or why not), and the gate
//! results with a table and a chart per category and per grouping.

use serde::Serialize;
use serde_json::Value;
use tollgate_controller::service::{ApprovalsReport, ExplainText, Explanation};
use tollgate_decision::State;

use crate::chart::{self, Bound, Chart, Item};
use crate::{enc, state_class};

/// One approval as the page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRow {
    pub user: String,
    pub at: String,
    pub via: String,
    /// The digest it is bound to (first 12 characters; the whole one in `digest_full`).
    pub digest: String,
    pub digest_full: String,
    /// `counted`, or why it is not (`voided: …`, `alice authored the change`).
    pub status: String,
    pub counted: bool,
    /// The audit event that recorded it.
    pub seq: u64,
    pub audit_href: String,
}

/// A gate category: its outcome, a chart and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct GateCategory {
    pub category: String,
    pub passed: bool,
    pub chart: Chart,
}

/// The gate results shown on the page.
#[derive(Debug, Clone, Serialize)]
pub struct Gates {
    /// The digest of the results shown.
    pub digest: String,
    /// Whether they are the results the decision used (older records are marked).
    pub current: bool,
    /// The candidate and baseline, as the results name them.
    pub model: String,
    pub baseline: Option<String>,
    pub evaluation: String,
    pub categories: Vec<GateCategory>,
    /// Per-group metrics of each grouping fairness thresholds name: one chart per metric.
    pub groups: Vec<Chart>,
    pub warnings: Vec<String>,
}

/// The decision page.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionPage {
    pub release: String,
    pub environment: String,
    pub state: &'static str,
    pub class: String,
    /// The lines of `tollgate explain`.
    pub explain: ExplainText,
    /// What the decision waits for, in one sentence (none when it waits for nothing).
    pub waits_for: Option<String>,
    /// When a closed window opens next.
    pub next_window: Option<String>,
    /// The content digest an approval binds to (posted with the approval, so nobody approves
    /// content they did not see).
    pub content_digest: String,
    pub approvals: Vec<ApprovalRow>,
    pub approvals_summary: String,
    /// Whether to offer the approve button (the viewer holds the approver role; the service
    /// still decides).
    pub can_approve: bool,
    pub approve_action: String,
    pub gates: Option<Gates>,
    pub audit_href: String,
}

/// The page for `e`, with its approvals, the newest gate-result record of the release (its
/// `doc`), and whether to offer the approve button.
pub fn build(e: &Explanation, approvals: &ApprovalsReport, gate_record: Option<&Value>, can_approve: bool) -> DecisionPage {
    let d = &e.decision;
    let i = &d.inputs;
    let waits_for = match d.state {
        State::Pending => Some(match &i.previous {
            Some((env, _)) => format!("promotion into {env} first"),
            None => d.reasons.first().map(|r| r.message.clone()).unwrap_or_default(),
        }),
        State::Blocked => Some(format!("a fix: {}", d.reasons.first().map_or("", |r| r.message.as_str()))),
        State::AwaitingApproval => Some(format!("approvals: {} of {} needed", i.approvals.counted.len(), i.approvals.policy.required)),
        State::AwaitingWindow => Some(format!("the deploy window: {}", i.window.reason)),
        State::Promoting => Some("the promotion commit (or its pull request) to land".to_owned()),
        State::Promoted | State::Superseded | State::RolledBack => None,
    };
    let mut rows: Vec<ApprovalRow> = Vec::new();
    for a in &approvals.status.counted {
        rows.push(row(a, "counted".to_owned(), true));
    }
    for (a, why) in &approvals.status.ignored {
        rows.push(row(a, why.to_string(), false));
    }
    for a in &approvals.approvals {
        if !rows.iter().any(|r| r.seq == a.seq) {
            rows.push(row(a, "not counted".to_owned(), false));
        }
    }
    rows.sort_by_key(|r| r.seq);
    let gates = gate_record.and_then(|doc| gates(doc, decision_gates_digest(i)));
    DecisionPage {
        release: d.release.clone(),
        environment: d.environment.clone(),
        state: d.state.as_str(),
        class: state_class(d.state.as_str()),
        explain: e.text(),
        waits_for,
        next_window: i.window.next_open.clone().filter(|_| !i.window.open),
        content_digest: approvals.content_digest.clone(),
        approvals: rows,
        approvals_summary: approvals.status.summary(),
        can_approve,
        approve_action: format!("{}/approve", crate::decision_href(&d.release, &d.environment)),
        gates,
        audit_href: format!("/audit?q={}", enc(&d.release)),
    }
}

fn row(a: &tollgate_decision::approvals::Approval, status: String, counted: bool) -> ApprovalRow {
    ApprovalRow {
        user: a.user.clone(),
        at: a.at.clone(),
        via: a.via.clone(),
        digest: a.content_digest.chars().take(12).collect(),
        digest_full: a.content_digest.clone(),
        status,
        counted,
        seq: a.seq,
        audit_href: format!("/audit?seq={}", a.seq),
    }
}

fn decision_gates_digest(i: &tollgate_decision::DecisionInputs) -> Option<&str> {
    match &i.gates {
        tollgate_decision::GateInput::Results { digest, .. } => Some(digest.as_str()),
        _ => None,
    }
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn model_name(v: &Value) -> Option<String> {
    let name = v.get("name")?.as_str()?;
    Some(format!("{name}@{}", v.get("version").and_then(Value::as_str).unwrap_or("?")))
}

/// The gate results of a `GateResult` record's document (`{digest, results: ReleaseGates}`);
/// `None` when it holds none.
pub fn gates(doc: &Value, used: Option<&str>) -> Option<Gates> {
    let results = doc.get("results")?;
    let digest = doc.get("digest").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut categories = Vec::new();
    for c in results.get("categories").and_then(Value::as_array).into_iter().flatten() {
        let category = c.get("category").and_then(Value::as_str).unwrap_or_default().to_owned();
        let items: Vec<Item> = c
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| {
                let t = &r["threshold"];
                let metric = t.get("metric").and_then(Value::as_str).unwrap_or("?");
                let mut label = metric.to_owned();
                if let Some(col) = t.get("column").and_then(Value::as_str) {
                    label = format!("{metric} ({col})");
                }
                if let Some(fs) = t.get("sensitiveFeatures").and_then(Value::as_array) {
                    let fs: Vec<&str> = fs.iter().filter_map(Value::as_str).collect();
                    label = format!("{metric} by {}", fs.join("×"));
                }
                let threshold = f(&t["min"]).map(|m| (m, Bound::Min)).or_else(|| f(&t["max"]).map(|m| (m, Bound::Max)));
                Item {
                    label,
                    value: f(&r["value"]),
                    baseline: f(&r["baselineValue"]),
                    threshold,
                    passed: match r.get("status").and_then(Value::as_str) {
                        Some("pass") => Some(true),
                        Some("fail") => Some(false),
                        _ => None,
                    },
                }
            })
            .collect();
        let title = format!(
            "{category}: candidate{} against thresholds",
            if items.iter().any(|i| i.baseline.is_some()) { " and baseline" } else { "" }
        );
        categories.push(GateCategory {
            passed: c.get("passed").and_then(Value::as_bool).unwrap_or(false),
            chart: chart::bars(&title, &items),
            category,
        });
    }
    let mut groups = Vec::new();
    for b in results.get("breakdown").and_then(Value::as_array).into_iter().flatten() {
        let features: Vec<&str> = b.get("features").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let list = b.get("groups").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut metrics: Vec<String> = Vec::new();
        for g in &list {
            for k in g.get("metrics").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                if !metrics.contains(k) {
                    metrics.push(k.clone());
                }
            }
        }
        for metric in metrics {
            // The release's quality threshold on the same metric, drawn across every group.
            let threshold = quality_min(results, &metric);
            let items: Vec<Item> = list
                .iter()
                .map(|g| {
                    let name: Vec<&str> =
                        g.get("group").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                    let value = f(&g["metrics"][&metric]);
                    Item {
                        label: format!("{} ({} rows)", name.join(" × "), g.get("rows").and_then(Value::as_u64).unwrap_or(0)),
                        value,
                        baseline: None,
                        threshold: threshold.map(|t| (t, Bound::Min)),
                        passed: threshold.zip(value).map(|(t, v)| v >= t),
                    }
                })
                .collect();
            groups.push(chart::bars(&format!("{metric} per group of {}", features.join(" × ")), &items));
        }
    }
    Some(Gates {
        current: used == Some(digest.as_str()),
        digest,
        model: results.get("model").and_then(model_name).unwrap_or_default(),
        baseline: results.get("baseline").and_then(model_name),
        evaluation: results.get("evaluation").and_then(Value::as_str).unwrap_or_default().to_owned(),
        categories,
        groups,
        warnings: results
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    })
}

/// The `min` of the release's quality threshold on `metric`, if it has one.
fn quality_min(results: &Value, metric: &str) -> Option<f64> {
    results
        .get("categories")?
        .as_array()?
        .iter()
        .filter(|c| c.get("category").and_then(Value::as_str) == Some("quality"))
        .flat_map(|c| c.get("results").and_then(Value::as_array).into_iter().flatten())
        .find(|r| r["threshold"].get("metric").and_then(Value::as_str) == Some(metric))
        .and_then(|r| f(&r["threshold"]["min"]))
}
