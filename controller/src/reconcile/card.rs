//! A release's model card for one environment, assembled from what the pass knows: the Model's
//! card fields and version, the datasets' lineage, the gate results, the decision, the
//! approvals and the promotion history. Pure: the caller passes the history.

use serde_json::Value;

use super::plan::{EnvPlan, Prepared, ReleasePlan};
use crate::gating::ReleaseGates;
use tollgate_decision::Decision;
use tollgate_gates::spec::{Outcome, Threshold};
use tollgate_model_cards::{
    ApprovalRow, Card, DatasetCard, DecisionSummary, Evaluation, FORMAT, GroupRow, GroupTable, ModelDetails, Oversight, PromotionRow,
    Runtime, ThresholdRow, Uses,
};

/// What the config repo says about a release's model and datasets, kept with its plan for its
/// model card.
#[derive(Debug, Clone, Default)]
pub struct CardDocs {
    /// The Model's `spec`, when the repo holds it.
    pub model: Option<Value>,
    /// `(role, name, the Dataset's spec)`: evaluation, reference and training datasets.
    pub datasets: Vec<(&'static str, String, Option<Value>)>,
}

/// The card of `plan` into `env` as decided by `d`; `promotions` are the promotion records of
/// the model into the environment, oldest first.
pub fn model_card(prepared: &Prepared, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, promotions: &[Value]) -> Card {
    let model = plan.card_docs.model.as_ref();
    let card = model.and_then(|m| m.get("card"));
    let version = model
        .and_then(|m| m.get("versions"))
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(plan.version.as_str())));
    let text = |v: Option<&Value>, p: &str| v.and_then(|v| v.pointer(p)).and_then(Value::as_str).map(str::to_owned);
    let uses = Uses {
        intended_use: text(card, "/intendedUse"),
        out_of_scope_use: text(card, "/outOfScopeUse"),
        limitations: text(card, "/limitations"),
        ethical_considerations: text(card, "/ethicalConsiderations"),
        human_oversight: text(card, "/humanOversight"),
        training_data: text(card, "/trainingData/description").or_else(|| text(card, "/trainingData/dataset")),
        evaluation_data: text(card, "/evaluationData"),
        contact: text(card, "/contact"),
    };
    let inputs = model
        .and_then(|m| m.pointer("/signature/inputs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| {
            let name = i.get("name").and_then(Value::as_str).unwrap_or_default();
            match i.get("type").and_then(Value::as_str) {
                Some(t) => format!("{name} ({t})"),
                None => name.to_owned(),
            }
        })
        .collect();
    let gates: Option<ReleaseGates> = plan.gates.as_ref().and_then(|g| serde_json::from_value(g.results.clone()).ok());
    let missing = Card::missing_fields(&uses);
    Card {
        format: FORMAT.to_owned(),
        release: plan.name.clone(),
        environment: env.name.clone(),
        commit: prepared.commit.clone(),
        generated_at: d.inputs.now.clone(),
        model: ModelDetails {
            name: plan.model.clone(),
            version: plan.version.clone(),
            task: text(model, "/task"),
            owner: text(model, "/owner"),
            description: text(model, "/description"),
            version_description: text(version, "/description"),
            created_at: text(version, "/createdAt"),
            artifact_uri: text(version, "/artifact/uri"),
            artifact_sha256: plan.model_sha256.clone(),
            artifact_format: text(version, "/artifact/format"),
            inputs,
            output: text(model, "/signature/output/kind"),
        },
        uses,
        datasets: plan.card_docs.datasets.iter().map(|(role, name, spec)| dataset(role, name, spec.as_ref())).collect(),
        evaluation: plan.gates.as_ref().map(|outcome| match &gates {
            Some(g) => evaluation(g),
            None => Evaluation {
                error: Some(outcome.error.clone().unwrap_or_else(|| "the gate results could not be read".to_owned())),
                ..Evaluation::default()
            },
        }),
        runtime: Runtime {
            device: gates.as_ref().map(|g| g.run.device.clone()),
            libtorch_version: gates.as_ref().and_then(|g| g.run.libtorch_version.clone()),
            model_sha256: gates.as_ref().map(|g| g.model.sha256.clone()),
            rows: gates.as_ref().map(|g| g.run.rows),
            serving_image: plan.image.clone(),
            policy_digest: prepared.policy_digest.clone(),
        },
        decision: DecisionSummary {
            id: d.id.clone(),
            state: d.state.as_str().to_owned(),
            content_digest: d.content_digest.clone(),
            reasons: d.reasons.iter().map(|r| r.message.clone()).collect(),
        },
        oversight: Oversight {
            required_approvals: env.approvals.required,
            groups: env.approvals.groups.clone(),
            separation_of_duties: env.approvals.separation_of_duties,
        },
        approvals: d
            .inputs
            .approvals
            .counted
            .iter()
            .map(|a| ApprovalRow { user: a.user.clone(), at: a.at.clone(), via: a.via.clone() })
            .collect(),
        promotions: promotions.iter().map(promotion).collect(),
        missing,
    }
}

fn dataset(role: &str, name: &str, spec: Option<&Value>) -> DatasetCard {
    let Some(spec) = spec else {
        return DatasetCard { role: role.to_owned(), name: name.to_owned(), ..DatasetCard::default() };
    };
    let text = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let list = |p: &str| -> Vec<String> {
        match spec.pointer(p) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let pii = spec
        .pointer("/schema/columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("pii").and_then(Value::as_bool) == Some(true))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    DatasetCard {
        role: role.to_owned(),
        name: name.to_owned(),
        declared: true,
        description: text("/description"),
        uri: text("/uri"),
        sha256: text("/sha256"),
        format: text("/format"),
        rows: spec.get("rows").and_then(Value::as_u64),
        label: text("/label"),
        sensitive_features: list("/sensitiveFeatures"),
        pii_columns: pii,
        source: text("/lineage/source"),
        collected_at: spec.pointer("/lineage/collectedAt").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
        derived_from: list("/lineage/derivedFrom"),
        transformations: list("/lineage/transformations"),
    }
}

/// What a threshold holds its metric to, in words.
fn bound(t: &Threshold) -> String {
    let mut parts = Vec::new();
    if let Some(min) = t.min {
        parts.push(format!("≥ {min}"));
    }
    if let Some(max) = t.max {
        parts.push(format!("≤ {max}"));
    }
    if let Some(r) = t.max_regression {
        parts.push(format!("regression ≤ {r}"));
    }
    let mut s = parts.join(", ");
    if !t.sensitive_features.is_empty() {
        s.push_str(&format!(" by {}", t.sensitive_features.join(" × ")));
    }
    if let Some(c) = &t.column {
        s.push_str(&format!(" on {c}"));
    }
    s
}

fn evaluation(g: &ReleaseGates) -> Evaluation {
    let thresholds = g
        .categories
        .iter()
        .flat_map(|c| {
            c.results.iter().map(|r| {
                let (verdict, reasons) = match &r.outcome {
                    Outcome::Pass => ("pass", Vec::new()),
                    Outcome::Fail { reasons } => ("fail", reasons.clone()),
                    Outcome::NotEvaluated { reasons } => ("notEvaluated", reasons.clone()),
                };
                ThresholdRow {
                    category: c.category.clone(),
                    metric: r.threshold.metric.clone(),
                    bound: bound(&r.threshold),
                    value: r.value,
                    baseline_value: r.baseline_value,
                    verdict: verdict.to_owned(),
                    reasons,
                }
            })
        })
        .collect();
    let groups = g
        .breakdown
        .iter()
        .map(|b| {
            let metrics: Vec<String> = b.groups.first().map(|gm| gm.metrics.keys().cloned().collect()).unwrap_or_default();
            let rows = b
                .groups
                .iter()
                .map(|gm| GroupRow {
                    group: gm.group.join(" × "),
                    rows: gm.rows,
                    values: metrics.iter().map(|m| gm.metrics.get(m).copied().flatten()).collect(),
                })
                .collect();
            GroupTable { features: b.features.clone(), metrics, rows }
        })
        .collect();
    Evaluation {
        passed: g.passed,
        error: None,
        digest: Some(g.digest.clone()),
        dataset: Some(g.evaluation.clone()),
        dataset_sha256: Some(g.dataset_sha256.clone()),
        baseline: g.baseline.as_ref().map(|b| format!("{}@{}", b.name, b.version)),
        scored_by: Some(g.model.scored_by.clone()),
        thresholds,
        groups,
        warnings: g.warnings.clone(),
    }
}

fn promotion(doc: &Value) -> PromotionRow {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    PromotionRow {
        release: text("release").unwrap_or_default(),
        commit: text("commit").unwrap_or_default(),
        decision: text("decision"),
        content_digest: text("contentDigest"),
        healed: doc.get("healed").and_then(Value::as_bool).unwrap_or(false),
    }
}
