//! `report.html`: a readable, self-contained report (no external assets) written while the
//! export streams, with client-side filters. Rendered part by part by the template
//! `audit/templates/report.html` with `tollgate-render`, which escapes every value.

use super::{BundleError, HashingFile, REPORT_ROW_LIMIT};
use crate::rows::{RecordKind, StoredCheckpoint, StoredRecord};
use crate::verify::BodyFields;
use serde_json::{Value, json};
use std::path::Path;
use tollgate_render::{Engine, RenderError};

/// The templates of the export's documents.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("report.html", include_str!("../../templates/report.html")),
    ("technical-file.html", include_str!("../../templates/technical-file.html")),
];

/// The engine every export document is rendered with.
pub fn engine() -> Engine {
    Engine::new(TEMPLATES, None)
}

/// A template failure while exporting is a bug in a built-in template: reported as such.
pub(super) fn render_err(e: RenderError) -> BundleError {
    BundleError::Template(Box::new(e))
}

/// The report being written.
pub struct Report {
    file: HashingFile,
    engine: Engine,
    events: usize,
    sections: Vec<(RecordKind, usize)>,
}

impl Report {
    pub fn create(dir: &Path, from: &str, to: &str) -> Result<Self, BundleError> {
        let mut report = Self { file: HashingFile::create(dir, "report.html")?, engine: engine(), events: 0, sections: Vec::new() };
        report.part(json!({"part": "head", "from": from, "to": to}))?;
        Ok(report)
    }

    fn part(&mut self, ctx: Value) -> Result<(), BundleError> {
        let text = self.engine.render("report.html", &ctx).map_err(render_err)?;
        self.file.write(text.as_bytes())
    }

    pub fn event(&mut self, e: &BodyFields, payload: &str) -> Result<(), BundleError> {
        self.events += 1;
        if self.events > REPORT_ROW_LIMIT {
            return Ok(());
        }
        self.part(json!({
            "part": "event", "seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action, "subject": e.subject,
            "payload": payload,
        }))
    }

    pub fn end_events(&mut self) -> Result<(), BundleError> {
        self.part(json!({"part": "events_end", "count": self.events, "limit": REPORT_ROW_LIMIT}))
    }

    pub fn record(&mut self, kind: RecordKind, rec: &StoredRecord) -> Result<(), BundleError> {
        if self.sections.last().is_none_or(|(k, _)| *k != kind) {
            self.close_section()?;
            let (title, cols) = section_title(kind);
            self.part(json!({"part": "section_head", "title": title, "id": kind.table(), "cols": cols}))?;
            self.sections.push((kind, 0));
        }
        let Some(section) = self.sections.last_mut() else {
            return Ok(());
        };
        section.1 += 1;
        if section.1 > REPORT_ROW_LIMIT {
            return Ok(());
        }
        let [a, b] = section_values(kind, &rec.doc);
        let outcome = (kind == RecordKind::GateResult).then_some(match b.as_str() {
            "pass" | "passed" | "true" => "pass",
            "fail" | "failed" | "false" => "fail",
            _ => "",
        });
        let doc = serde_json::to_string_pretty(&rec.doc).unwrap_or_default();
        self.part(json!({
            "part": "record", "seq": rec.audit_seq, "time": rec.recorded_at, "subject": rec.subject, "a": a, "b": b,
            "outcome": outcome, "doc": doc,
        }))
    }

    fn close_section(&mut self) -> Result<(), BundleError> {
        if let Some((_, n)) = self.sections.last() {
            let n = *n;
            self.part(json!({"part": "section_end", "count": n, "limit": REPORT_ROW_LIMIT}))?;
        }
        Ok(())
    }

    pub fn finish(&mut self, checkpoint: Option<&StoredCheckpoint>, keys: &[String]) -> Result<(), BundleError> {
        self.close_section()?;
        for kind in RecordKind::ALL {
            if !self.sections.iter().any(|(k, _)| *k == kind) {
                let (title, _) = section_title(kind);
                self.part(json!({"part": "section_empty", "title": title}))?;
            }
        }
        let checkpoint = checkpoint.map(|cp| json!({"size": cp.size, "note": cp.note}));
        self.part(json!({"part": "tail", "checkpoint": checkpoint, "keys": keys}))
    }

    pub fn into_file(self) -> HashingFile {
        self.file
    }
}

/// A section's title and its two summary columns.
pub fn section_title(kind: RecordKind) -> (&'static str, [&'static str; 2]) {
    match kind {
        RecordKind::Release => ("Releases", ["model", "environment"]),
        RecordKind::Decision => ("Decisions and their inputs", ["state", "environment"]),
        RecordKind::Approval => ("Approvals: who approved what", ["approver", "content digest"]),
        RecordKind::GateResult => ("Gate outcomes", ["gate", "outcome"]),
        RecordKind::Promotion => ("Promotions", ["environment", "commit"]),
        RecordKind::ModelCard => ("Model cards", ["model", "version"]),
    }
}

/// The first of `names` that `doc` has, as text (unescaped: templates escape).
fn field(doc: &Value, names: &[&str]) -> String {
    for name in names {
        match doc.get(*name) {
            Some(Value::String(s)) => return s.clone(),
            Some(Value::Null) | None => continue,
            Some(Value::Object(o)) if o.contains_key("name") => {
                return o["name"].as_str().map_or_else(|| o["name"].to_string(), str::to_owned);
            }
            Some(v) => return v.to_string(),
        }
    }
    String::new()
}

fn section_values(kind: RecordKind, doc: &Value) -> [String; 2] {
    match kind {
        RecordKind::Release => [field(doc, &["model", "release"]), field(doc, &["environment"])],
        RecordKind::Decision => [field(doc, &["state"]), field(doc, &["environment"])],
        RecordKind::Approval => [field(doc, &["approver", "user", "by"]), field(doc, &["content_digest", "contentDigest", "digest"])],
        RecordKind::GateResult => [field(doc, &["gate", "name", "release"]), field(doc, &["outcome", "status", "passed"])],
        RecordKind::Promotion => [field(doc, &["environment"]), field(doc, &["commit"])],
        RecordKind::ModelCard => {
            let model = doc.get("model");
            let at = |k: &str| model.and_then(|m| m.get(k)).and_then(Value::as_str).map(str::to_owned);
            [at("name").unwrap_or_else(|| field(doc, &["model"])), at("version").unwrap_or_else(|| field(doc, &["version"]))]
        }
    }
}
