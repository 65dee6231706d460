//! `report.html`: a readable, self-contained report (no external assets) written while the
//! export streams, with client-side filters.

use super::{BundleError, HashingFile, REPORT_ROW_LIMIT};
use crate::rows::{RecordKind, StoredCheckpoint, StoredRecord};
use crate::verify::BodyFields;
use serde_json::Value;
use std::path::Path;

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tollgate audit report</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
.meta{color:#57606a}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}tr:nth-child(even) td{background:#fafbfc}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-height:8em;overflow:auto}
.filters{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0}.filters input{padding:.3rem;border:1px solid #d0d7de;border-radius:4px;min-width:12rem}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.note{color:#57606a;font-style:italic}
</style></head><body>
"#;

const SCRIPT: &str = r#"<script>
// Client-side filters: every input with data-table filters that table's rows by column text.
document.querySelectorAll('input[data-table]').forEach(function (input) {
  input.addEventListener('input', function () {
    var table = document.getElementById(input.dataset.table);
    var inputs = document.querySelectorAll('input[data-table="' + input.dataset.table + '"]');
    table.querySelectorAll('tbody tr').forEach(function (row) {
      var show = true;
      inputs.forEach(function (f) {
        var q = f.value.trim().toLowerCase();
        if (q && row.cells[+f.dataset.col].textContent.toLowerCase().indexOf(q) < 0) show = false;
      });
      row.style.display = show ? '' : 'none';
    });
  });
});
</script>
"#;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn filters(table: &str, cols: &[(usize, &str)]) -> String {
    let mut out = String::from("<div class=\"filters\">");
    for (col, label) in cols {
        out.push_str(&format!(
            "<input type=\"search\" placeholder=\"filter {label}\" data-table=\"{table}\" data-col=\"{col}\" aria-label=\"filter {label}\">"
        ));
    }
    out.push_str("</div>\n");
    out
}

/// The report being written.
pub struct Report {
    file: HashingFile,
    events: usize,
    sections: Vec<(RecordKind, usize, String)>,
}

impl Report {
    pub fn create(dir: &Path, from: &str, to: &str) -> Result<Self, BundleError> {
        let mut file = HashingFile::create(dir, "report.html")?;
        file.write(HEAD.as_bytes())?;
        file.write(
            format!(
                "<h1>tollgate audit report</h1>\n<p class=\"meta\">Period <code>{}</code> to <code>{}</code>. \
                 Verify this bundle with <code>tollgate audit verify-bundle DIR</code> or \
                 <code>python3 verify_bundle.py DIR</code>; this page is a reading aid, the JSONL files are the record.</p>\n\
                 <h2>Timeline</h2>\n{}<table id=\"events\"><thead><tr><th>seq</th><th>time (UTC)</th><th>actor</th><th>action</th><th>subject</th><th>payload</th></tr></thead><tbody>\n",
                esc(from),
                esc(to),
                filters("events", &[(1, "time"), (2, "actor"), (3, "action"), (4, "subject"), (5, "payload")])
            )
            .as_bytes(),
        )?;
        Ok(Self { file, events: 0, sections: Vec::new() })
    }

    pub fn event(&mut self, e: &BodyFields, payload: &str) -> Result<(), BundleError> {
        self.events += 1;
        if self.events > REPORT_ROW_LIMIT {
            return Ok(());
        }
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>\n",
            e.seq,
            esc(&e.time),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.subject),
            esc(payload)
        );
        self.file.write(row.as_bytes())
    }

    pub fn end_events(&mut self) -> Result<(), BundleError> {
        let mut tail = String::from("</tbody></table>\n");
        if self.events > REPORT_ROW_LIMIT {
            tail.push_str(&format!(
                "<p class=\"note\">Showing the first {REPORT_ROW_LIMIT} of {} events; events.jsonl and events.csv hold all of them.</p>\n",
                self.events
            ));
        } else if self.events == 0 {
            tail.push_str("<p class=\"note\">No events in this period.</p>\n");
        }
        self.file.write(tail.as_bytes())
    }

    pub fn record(&mut self, kind: RecordKind, rec: &StoredRecord) -> Result<(), BundleError> {
        if self.sections.last().is_none_or(|(k, _, _)| *k != kind) {
            self.close_section()?;
            let (title, cols) = section_title(kind);
            let id = kind.table();
            let mut head = format!(
                "<h2>{title}</h2>\n{}<table id=\"{id}\"><thead><tr><th>event</th><th>time (UTC)</th><th>subject</th>",
                filters(id, &[(2, "subject"), (3, cols[0]), (4, cols[1])])
            );
            for c in cols {
                head.push_str(&format!("<th>{c}</th>"));
            }
            head.push_str("<th>record</th></tr></thead><tbody>\n");
            self.file.write(head.as_bytes())?;
            self.sections.push((kind, 0, String::new()));
        }
        let Some(section) = self.sections.last_mut() else {
            return Ok(());
        };
        section.1 += 1;
        if section.1 > REPORT_ROW_LIMIT {
            return Ok(());
        }
        let [a, b] = section_values(kind, &rec.doc);
        let doc = serde_json::to_string_pretty(&rec.doc).unwrap_or_default();
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>\n",
            rec.audit_seq,
            esc(&rec.recorded_at),
            esc(&rec.subject),
            a,
            b,
            esc(&doc)
        );
        self.file.write(row.as_bytes())
    }

    fn close_section(&mut self) -> Result<(), BundleError> {
        if let Some((_, n, _)) = self.sections.last() {
            let mut tail = String::from("</tbody></table>\n");
            if *n > REPORT_ROW_LIMIT {
                tail.push_str(&format!("<p class=\"note\">Showing the first {REPORT_ROW_LIMIT} of {n}.</p>\n"));
            }
            self.file.write(tail.as_bytes())?;
        }
        Ok(())
    }

    pub fn finish(&mut self, checkpoint: Option<&StoredCheckpoint>, keys: &[String]) -> Result<(), BundleError> {
        self.close_section()?;
        for kind in RecordKind::ALL {
            if !self.sections.iter().any(|(k, _, _)| *k == kind) {
                let (title, _) = section_title(kind);
                self.file.write(format!("<h2>{title}</h2>\n<p class=\"note\">None in this period.</p>\n").as_bytes())?;
            }
        }
        let mut out = String::from("<h2>Checkpoint</h2>\n");
        match checkpoint {
            Some(cp) => out.push_str(&format!(
                "<p>Covered by the signed checkpoint of size <code>{}</code>:</p><pre>{}</pre>\n",
                cp.size,
                esc(&cp.note)
            )),
            None => out.push_str("<p class=\"note\">No checkpoint: the period holds no events.</p>\n"),
        }
        if !keys.is_empty() {
            out.push_str("<p>Signing keys named in the manifest (check them against keys you obtained independently):</p><pre>");
            for k in keys {
                out.push_str(&esc(k));
                out.push('\n');
            }
            out.push_str("</pre>\n");
        }
        out.push_str(SCRIPT);
        out.push_str("</body></html>\n");
        self.file.write(out.as_bytes())
    }

    pub fn into_file(self) -> HashingFile {
        self.file
    }
}

fn section_title(kind: RecordKind) -> (&'static str, [&'static str; 2]) {
    match kind {
        RecordKind::Release => ("Releases", ["model", "environment"]),
        RecordKind::Decision => ("Decisions and their inputs", ["state", "environment"]),
        RecordKind::Approval => ("Approvals: who approved what", ["approver", "content digest"]),
        RecordKind::GateResult => ("Gate outcomes", ["gate", "outcome"]),
        RecordKind::Promotion => ("Promotions", ["environment", "commit"]),
        RecordKind::ModelCard => ("Model cards", ["model", "version"]),
    }
}

fn field(doc: &Value, names: &[&str]) -> String {
    for name in names {
        match doc.get(*name) {
            Some(Value::String(s)) => return esc(s),
            Some(Value::Null) | None => continue,
            Some(Value::Object(o)) if o.contains_key("name") => return esc(&o["name"].to_string()),
            Some(v) => return esc(&v.to_string()),
        }
    }
    String::new()
}

fn section_values(kind: RecordKind, doc: &Value) -> [String; 2] {
    match kind {
        RecordKind::Release => [field(doc, &["model"]), field(doc, &["environment"])],
        RecordKind::Decision => [field(doc, &["state"]), field(doc, &["environment"])],
        RecordKind::Approval => [field(doc, &["approver", "by"]), field(doc, &["content_digest", "contentDigest", "digest"])],
        RecordKind::GateResult => {
            let outcome = field(doc, &["outcome", "status", "passed"]);
            let class = match outcome.as_str() {
                "pass" | "passed" | "true" => "pass",
                "fail" | "failed" | "false" => "fail",
                _ => "",
            };
            [field(doc, &["gate", "name"]), format!("<span class=\"{class}\">{outcome}</span>")]
        }
        RecordKind::Promotion => [field(doc, &["environment"]), field(doc, &["commit"])],
        RecordKind::ModelCard => [field(doc, &["model", "name"]), field(doc, &["version"])],
    }
}
