//! `technical-file.html`: the auditor's technical file, organised by the headings of the EU AI
//! Act's Annex IV (technical documentation, Art. 11) and the record-keeping of Art. 12, 18 and
//! 19. Every item names the records and events it came from (`model_cards.jsonl:3, event 42`);
//! items the config repo does not provide are listed in a checklist.
//!
//! The file is gathered while the export streams (memory grows with the number of models and
//! releases in the period, not with the number of events) and rendered by the template
//! `audit/templates/technical-file.html`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::html::{engine, render_err};
use super::{BundleError, HashingFile, records_file};
use crate::rows::{RecordKind, StoredCheckpoint, StoredRecord};
use crate::verify::BodyFields;

/// The file's name in a bundle.
pub const HTML: &str = "technical-file.html";
/// The PDF rendering's name, when a converter made one.
pub const PDF: &str = "technical-file.pdf";

/// At most this many approvals per release and promotions per model are listed; the JSONL
/// files hold all of them.
const LIST_LIMIT: usize = 200;

/// Turns the technical file's HTML into PDF (headless Chromium, in the CLI).
pub trait ToPdf {
    /// Writes `pdf` from `html`.
    ///
    /// # Errors
    ///
    /// When the converter cannot be run or fails.
    fn convert(&self, html: &Path, pdf: &Path) -> std::io::Result<()>;
}

/// Where an item came from: a line of a records file and the event that recorded it.
#[derive(Debug, Clone, Serialize)]
struct Source {
    file: &'static str,
    line: u64,
    seq: u64,
}

#[derive(Debug, Default)]
struct Release {
    model: Option<String>,
    decisions: BTreeMap<String, u64>,
    last_decision: Option<Source>,
    approvals: Vec<(Value, Source)>,
    approvals_total: usize,
    gates: Option<(Value, Source)>,
}

#[derive(Debug, Default)]
struct Model {
    card: Option<(Value, Source)>,
    cards: usize,
    promotions: Vec<(Value, Source)>,
    promotions_total: usize,
}

/// The technical file being gathered.
#[derive(Debug, Default)]
pub struct TechnicalFile {
    events: u64,
    first: Option<(u64, String)>,
    last: Option<(u64, String)>,
    actions: BTreeMap<String, u64>,
    lines: BTreeMap<&'static str, u64>,
    releases: BTreeMap<String, Release>,
    models: BTreeMap<String, Model>,
}

fn text<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

impl TechnicalFile {
    /// Notes an exported event.
    pub fn event(&mut self, e: &BodyFields) {
        self.events += 1;
        if self.first.is_none() {
            self.first = Some((e.seq, e.time.clone()));
        }
        self.last = Some((e.seq, e.time.clone()));
        *self.actions.entry(e.action.clone()).or_default() += 1;
    }

    /// Notes an exported record (records arrive kind by kind, each in `audit_seq` order).
    pub fn record(&mut self, kind: RecordKind, rec: &StoredRecord) {
        let file = records_file(kind);
        let line = self.lines.entry(file).or_default();
        *line += 1;
        let source = Source { file, line: *line, seq: rec.audit_seq };
        let doc = &rec.doc;
        let release_name = text(doc, "/release").map(str::to_owned);
        match kind {
            RecordKind::Release => {
                if let Some(r) = release_name {
                    self.releases.entry(r).or_default().model = text(doc, "/spec/model/name").map(str::to_owned);
                }
            }
            RecordKind::Decision => {
                if let Some(r) = release_name {
                    let release = self.releases.entry(r).or_default();
                    *release.decisions.entry(text(doc, "/state").unwrap_or("unknown").to_owned()).or_default() += 1;
                    release.last_decision = Some(source);
                }
            }
            RecordKind::Approval => {
                if let Some(r) = release_name {
                    let release = self.releases.entry(r).or_default();
                    release.approvals_total += 1;
                    if release.approvals.len() < LIST_LIMIT {
                        release.approvals.push((doc.clone(), source));
                    }
                }
            }
            RecordKind::GateResult => {
                if let Some(r) = release_name {
                    let summary =
                        json!({"digest": doc.get("digest"), "categories": doc.get("categories"), "failures": doc.get("failures")});
                    self.releases.entry(r).or_default().gates = Some((summary, source));
                }
            }
            RecordKind::Promotion => {
                let Some(model) = text(doc, "/model/name").map(str::to_owned) else { return };
                if let Some(r) = &release_name {
                    self.releases.entry(r.clone()).or_default().model.get_or_insert_with(|| model.clone());
                }
                let m = self.models.entry(model).or_default();
                m.promotions_total += 1;
                if m.promotions.len() < LIST_LIMIT {
                    m.promotions.push((doc.clone(), source));
                }
            }
            RecordKind::ModelCard => {
                let Some(model) = text(doc, "/model/name").map(str::to_owned) else { return };
                if let Some(r) = &release_name {
                    self.releases.entry(r.clone()).or_default().model.get_or_insert_with(|| model.clone());
                }
                let m = self.models.entry(model).or_default();
                m.cards += 1;
                m.card = Some((doc.clone(), source));
            }
        }
    }

    /// Writes `technical-file.html` into `dir`.
    ///
    /// # Errors
    ///
    /// [`BundleError::Io`]; [`BundleError::Template`] for a bug in the built-in template.
    pub fn write(
        self,
        dir: &Path,
        period: (&str, &str),
        checkpoint: Option<&StoredCheckpoint>,
        keys: &[String],
    ) -> Result<(&'static str, Value), BundleError> {
        let ctx = self.context(period, checkpoint, keys);
        let text = engine().render(HTML, &ctx).map_err(render_err)?;
        let mut file = HashingFile::create(dir, HTML)?;
        file.write(text.as_bytes())?;
        file.finish()
    }

    /// The template's data (documented in `docs/technical-file.md`).
    fn context(mut self, period: (&str, &str), checkpoint: Option<&StoredCheckpoint>, keys: &[String]) -> Value {
        // Releases whose model no record names are listed under their own name.
        for (name, r) in &self.releases {
            let model = r.model.clone().unwrap_or_else(|| format!("(release {name})"));
            self.models.entry(model).or_default();
        }
        let mut systems = Vec::new();
        let mut checklist = Vec::new();
        for (name, m) in &self.models {
            let releases: Vec<(&String, &Release)> = self
                .releases
                .iter()
                .filter(|(r, rel)| rel.model.as_deref() == Some(name.as_str()) || format!("(release {r})") == *name)
                .collect();
            let sections = annex_iv(m, &releases);
            for section in &sections {
                for item in section["items"].as_array().into_iter().flatten() {
                    if item["status"] == "missing" {
                        checklist.push(json!({"system": name, "ref": item["ref"], "title": item["title"], "what": item["missing"]}));
                    }
                }
            }
            systems.push(json!({
                "model": name,
                "card": m.card.as_ref().map(|(c, s)| json!({"release": c.get("release"), "environment": c.get("environment"), "version": c.pointer("/model/version"), "source": s})),
                "cards": m.cards,
                "sections": sections,
            }));
        }
        let actions: Vec<Value> = self.actions.iter().map(|(a, n)| json!({"action": a, "count": n})).collect();
        json!({
            "period": {"from": period.0, "to": period.1},
            "events": {
                "count": self.events,
                "first": self.first.as_ref().map(|(s, t)| json!({"seq": s, "time": t})),
                "last": self.last.as_ref().map(|(s, t)| json!({"seq": s, "time": t})),
                "actions": actions,
            },
            "checkpoint": checkpoint.map(|c| json!({"size": c.size, "time": c.time, "keyId": c.key_id})),
            "keys": keys,
            "systems": systems,
            "checklist": checklist,
        })
    }
}

/// One item of the file: `status` is `provided`, `missing` (the config repo could hold it and
/// does not) or `outside` (documentation tollgate does not keep; the provider supplies it).
/// A text body is shown as text, any other as pretty JSON.
fn item(reference: &str, title: &str, status: &str, body: Value, sources: Vec<&Source>, missing: &str) -> Value {
    let (text, data) = match &body {
        Value::Null => (None, None),
        Value::String(s) => (Some(s.clone()), None),
        other => (None, serde_json::to_string_pretty(other).ok()),
    };
    json!({"ref": reference, "title": title, "status": status, "text": text, "data": data, "sources": sources, "missing": missing})
}

/// What a missing item says when the period holds no card of the model.
const NO_CARD: &str = "no model card was recorded for this model in the period (cards are recorded at each promotion)";

fn from_card(card: Option<&(Value, Source)>, pointer: &str, reference: &str, title: &str, missing: &str) -> Value {
    match card.and_then(|(c, s)| text(c, pointer).map(|t| (t, s))) {
        Some((t, s)) => item(reference, title, "provided", json!(t), vec![s], ""),
        None => item(
            reference,
            title,
            "missing",
            Value::Null,
            card.map(|(_, s)| s).into_iter().collect(),
            if card.is_some() { missing } else { NO_CARD },
        ),
    }
}

/// The Annex IV sections of one model (an AI system), from its latest card in the period and
/// its releases' records.
fn annex_iv(m: &Model, releases: &[(&String, &Release)]) -> Vec<Value> {
    let card = m.card.as_ref();
    let card_src: Vec<&Source> = card.map(|(_, s)| s).into_iter().collect();
    let no_card = NO_CARD;
    let c = |p: &str| card.and_then(|(c, _)| c.pointer(p));
    let provider = card.and_then(|(c, _)| text(c, "/model/owner")).map(str::to_owned);
    let general = vec![
        from_card(card, "/uses/intendedUse", "1(a)", "Intended purpose", "add `spec.card.intendedUse` to the Model"),
        match (&provider, card) {
            (Some(p), Some((c, s))) => item(
                "1(a)",
                "Provider and version",
                "provided",
                json!(format!("{p}; model {} version {}", text(c, "/model/name").unwrap_or(""), text(c, "/model/version").unwrap_or(""))),
                vec![s],
                "",
            ),
            _ => item("1(a)", "Provider and version", "missing", Value::Null, card_src.clone(), "add `spec.owner` to the Model"),
        },
        match card {
            Some((c, s)) => item(
                "1(c)",
                "Software versions",
                "provided",
                json!({"libtorch": c.pointer("/runtime/libtorchVersion"), "servingImage": c.pointer("/runtime/servingImage"), "policyBundle": c.pointer("/runtime/policyDigest"), "artifactSha256": c.pointer("/model/artifactSha256")}),
                vec![s],
                "",
            ),
            None => item("1(c)", "Software versions", "missing", Value::Null, vec![], no_card),
        },
        match c("/runtime/device").and_then(Value::as_str) {
            Some(d) => item("1(e)", "Hardware the gates ran on", "provided", json!(d), card_src.clone(), ""),
            None => item(
                "1(e)",
                "Hardware the gates ran on",
                "missing",
                Value::Null,
                card_src.clone(),
                "the release defines no gates that ran the model",
            ),
        },
        item(
            "1(h)",
            "Instructions for use",
            "outside",
            Value::Null,
            vec![],
            "supply the deployer's instructions for use (Art. 13) with this file",
        ),
    ];
    let datasets: Vec<Value> = c("/datasets").and_then(Value::as_array).cloned().unwrap_or_default();
    let evaluation = c("/evaluation").filter(|e| !e.is_null()).cloned();
    let gate_records: Vec<(&String, &(Value, Source))> = releases.iter().filter_map(|(n, r)| r.gates.as_ref().map(|g| (*n, g))).collect();
    let approvals: Vec<(&String, &(Value, Source))> = releases.iter().flat_map(|(n, r)| r.approvals.iter().map(move |a| (*n, a))).collect();
    let development = vec![
        match card {
            Some((c, s)) => item(
                "2(a)",
                "Methods and steps of development",
                "provided",
                json!({"version": c.pointer("/model/versionDescription"), "created": c.pointer("/model/createdAt"), "artifact": c.pointer("/model/artifactUri")}),
                vec![s],
                "",
            ),
            None => item("2(a)", "Methods and steps of development", "missing", Value::Null, vec![], no_card),
        },
        if datasets.iter().any(|d| d["declared"] == true) {
            item("2(d)", "Data: provenance, scope, characteristics", "provided", json!(datasets), card_src.clone(), "")
        } else {
            item(
                "2(d)",
                "Data: provenance, scope, characteristics",
                "missing",
                Value::Null,
                card_src.clone(),
                "declare the training and evaluation Datasets with `lineage`",
            )
        },
        from_card(
            card,
            "/uses/humanOversight",
            "2(e)",
            "Human oversight measures (Art. 14)",
            "add `spec.card.humanOversight` to the Model",
        ),
        item(
            "2(e)",
            "Human approval of each promotion",
            if approvals.is_empty() { "missing" } else { "provided" },
            json!({"policy": c("/oversight"), "approvals": approvals.iter().map(|(r, (a, _))| json!({"release": r, "environment": a.get("environment"), "user": a.get("user"), "at": a.get("at"), "via": a.get("via")})).collect::<Vec<_>>()}),
            approvals.iter().map(|(_, (_, s))| s).chain(card_src.iter().copied()).collect(),
            "no approval was recorded in the period; require approvals in the Environment (`spec.approvals`)",
        ),
        match (&evaluation, gate_records.is_empty()) {
            (Some(e), _) => item(
                "2(g)",
                "Validation and testing: metrics, results, discriminatory impacts",
                "provided",
                e.clone(),
                card_src.iter().copied().chain(gate_records.iter().map(|(_, (_, s))| s)).collect(),
                "",
            ),
            (None, false) => item(
                "2(g)",
                "Validation and testing: metrics, results, discriminatory impacts",
                "provided",
                json!(gate_records.iter().map(|(r, (g, _))| json!({"release": r, "gates": g})).collect::<Vec<_>>()),
                gate_records.iter().map(|(_, (_, s))| s).collect(),
                "",
            ),
            (None, true) => item(
                "2(g)",
                "Validation and testing: metrics, results, discriminatory impacts",
                "missing",
                Value::Null,
                card_src.clone(),
                "define quality and fairness gates in the Release (`spec.gates`)",
            ),
        },
        item(
            "2(h)",
            "Cybersecurity measures",
            "outside",
            json!({"servingImage": c("/runtime/servingImage"), "artifactSha256": c("/model/artifactSha256")}),
            card_src.clone(),
            "describe cybersecurity measures beyond digest pinning",
        ),
    ];
    let monitoring = vec![
        from_card(
            card,
            "/uses/limitations",
            "3",
            "Capabilities and limitations in performance",
            "add `spec.card.limitations` to the Model",
        ),
        from_card(
            card,
            "/uses/ethicalConsiderations",
            "3",
            "Foreseeable unintended outcomes and risks",
            "add `spec.card.ethicalConsiderations` to the Model",
        ),
        from_card(card, "/uses/outOfScopeUse", "3", "Uses the system is not fit for", "add `spec.card.outOfScopeUse` to the Model"),
        match c("/model/inputs").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            Some(inputs) => item("3", "Input data specifications", "provided", json!(inputs), card_src.clone(), ""),
            None => {
                item("3", "Input data specifications", "missing", Value::Null, card_src.clone(), "add `spec.signature.inputs` to the Model")
            }
        },
    ];
    let promotions: Vec<Value> = m
        .promotions
        .iter()
        .map(|(p, s)| json!({"release": p.get("release"), "environment": p.get("environment"), "commit": p.get("commit"), "decision": p.get("decision"), "source": s}))
        .collect();
    let decisions: Vec<Value> = releases
        .iter()
        .map(|(n, r)| json!({"release": n, "states": r.decisions, "last": r.last_decision}))
        .filter(|d| d["last"] != Value::Null)
        .collect();
    let lifecycle = vec![
        item(
            "4",
            "Appropriateness of the performance metrics",
            "outside",
            Value::Null,
            vec![],
            "state why the gates' metrics and thresholds fit this system",
        ),
        item(
            "5",
            "Risk management system (Art. 9)",
            "outside",
            json!({"decisions": decisions}),
            releases.iter().filter_map(|(_, r)| r.last_decision.as_ref()).collect(),
            "describe the risk management system; tollgate's blocked decisions are one of its controls",
        ),
        item(
            "6",
            "Changes through the lifecycle",
            if promotions.is_empty() { "missing" } else { "provided" },
            json!({"promotions": promotions, "total": m.promotions_total}),
            m.promotions.iter().map(|(_, s)| s).collect(),
            "no promotion was recorded in the period",
        ),
        item(
            "7",
            "Harmonised standards applied",
            "outside",
            Value::Null,
            vec![],
            "list the harmonised standards or common specifications applied",
        ),
        item("8", "EU declaration of conformity (Art. 47)", "outside", Value::Null, vec![], "attach the declaration of conformity"),
        if evaluation.as_ref().is_some_and(|e| e["thresholds"].as_array().is_some_and(|t| t.iter().any(|t| t["category"] == "drift"))) {
            item(
                "9",
                "Post-market monitoring (Art. 72)",
                "provided",
                json!("drift gates compare each release's data with a reference"),
                card_src.clone(),
                "",
            )
        } else {
            item(
                "9",
                "Post-market monitoring (Art. 72)",
                "missing",
                Value::Null,
                card_src.clone(),
                "add drift gates (`spec.gates.drift`) and describe the post-market monitoring plan",
            )
        },
    ];
    vec![
        json!({"heading": "1. General description of the AI system", "items": general}),
        json!({"heading": "2. Elements of the AI system and its development", "items": development}),
        json!({"heading": "3. Monitoring, functioning and control", "items": monitoring}),
        json!({"heading": "4–9. Metrics, risk management, changes, standards, conformity, post-market monitoring", "items": lifecycle}),
    ]
}
