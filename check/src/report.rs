//! Rendering a check [`Report`] as text, JSON, JUnit XML, SARIF 2.1.0 or GitHub workflow
//! commands.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quick_xml::escape::escape;
use serde_json::{Value, json};

use crate::Report;
use tollgate_spec::diag::{Finding, Severity, printable};

#[cfg(test)]
mod tests;

/// Output formats of `tollgate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
    Sarif,
    Github,
}

/// Renders `report` in `format`. `color` applies to text only.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(report, color),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Junit => junit(report),
        Format::Sarif => serde_json::to_string_pretty(&sarif(report)).unwrap_or_default() + "\n",
        Format::Github => github(report),
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
    fn severity(&self, s: Severity) -> String {
        let label = format!("{:<7}", s.as_str());
        match s {
            Severity::Fatal => self.wrap("1;35", &label),
            Severity::Error => self.wrap("1;31", &label),
            Severity::Warning => self.wrap("1;33", &label),
        }
    }
}

fn group_by_file(findings: &[Finding]) -> BTreeMap<&str, Vec<&Finding>> {
    let mut files: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        files.entry(f.file.as_str()).or_default().push(f);
    }
    files
}

fn text(report: &Report, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    for (file, findings) in group_by_file(&report.findings) {
        // Names and messages come from the repo: escaped, so that none can forge a line.
        let _ = writeln!(out, "{}", paint.wrap("1;4", &printable(file)));
        let width = findings.iter().map(|f| position(f).len()).max().unwrap_or(0);
        let rule_width = findings.iter().map(|f| f.rule.len()).max().unwrap_or(0).min(32);
        for f in findings {
            let _ = writeln!(
                out,
                "  {:<width$}  {} {:<rule_width$}  {}",
                position(f),
                paint.severity(f.severity),
                printable(&f.rule),
                printable(&f.message),
                width = width,
                rule_width = rule_width
            );
            if let Some(hint) = &f.hint {
                let _ = writeln!(out, "  {:<width$}  {}", "", paint.wrap("2", &format!("hint: {}", printable(hint))), width = width);
            }
        }
        out.push('\n');
    }
    let s = &report.summary;
    let files = group_by_file(&report.findings).len();
    let scope = match &report.base {
        Some(base) => format!("{} of {} documents checked, changes since `{base}`", report.documents_checked, report.documents),
        None => format!("{} documents checked", report.documents),
    };
    let line = if s.fatal + s.errors + s.warnings == 0 {
        paint.wrap("1;32", &format!("✓ no problems ({scope})"))
    } else {
        let mut parts = Vec::new();
        if s.fatal > 0 {
            parts.push(plural(s.fatal, "unreadable input", "unreadable inputs"));
        }
        if s.errors > 0 {
            parts.push(plural(s.errors, "error", "errors"));
        }
        if s.warnings > 0 {
            parts.push(plural(s.warnings, "warning", "warnings"));
        }
        let mark = if s.fatal + s.errors > 0 { paint.wrap("1;31", "✗") } else { paint.wrap("1;33", "!") };
        format!("{mark} {} in {} ({scope})", parts.join(", "), plural(files, "file", "files"))
    };
    let _ = writeln!(out, "{line}");
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn position(f: &Finding) -> String {
    match (f.line, f.column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => format!("{l}"),
        _ => "-".to_owned(),
    }
}

fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = report.summary.errors;
    let errors = report.summary.fatal;
    // One test case per document (and one per file for problems outside documents).
    let mut suites: BTreeMap<String, BTreeMap<String, Vec<&Finding>>> = BTreeMap::new();
    for f in &report.findings {
        let case = f.document.clone().unwrap_or_else(|| "(file)".to_owned());
        suites.entry(f.file.clone()).or_default().entry(case).or_default().push(f);
    }
    // Passing documents are summarised in one suite so that viewers show the count.
    let failing_docs: usize = suites.values().map(|cases| cases.keys().filter(|k| k.as_str() != "(file)").count()).sum();
    let passing = report.documents_checked.saturating_sub(failing_docs);
    let total_cases: usize = suites.values().map(BTreeMap::len).sum::<usize>() + usize::from(passing > 0);
    let _ = writeln!(out, "<testsuites name=\"tollgate check\" tests=\"{total_cases}\" failures=\"{failures}\" errors=\"{errors}\">");
    for (file, cases) in &suites {
        let suite_failures: usize = cases.values().flatten().filter(|f| f.severity == Severity::Error).count();
        let suite_errors: usize = cases.values().flatten().filter(|f| f.severity == Severity::Fatal).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" errors=\"{suite_errors}\" skipped=\"0\">",
            xml(file),
            cases.len()
        );
        for (case, findings) in cases {
            let _ = write!(out, "    <testcase name=\"{}\" classname=\"{}\"", xml(case), xml(file));
            let blocking: Vec<&&Finding> = findings.iter().filter(|f| f.severity != Severity::Warning).collect();
            let warnings: Vec<&&Finding> = findings.iter().filter(|f| f.severity == Severity::Warning).collect();
            if blocking.is_empty() && warnings.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            for f in &blocking {
                let tag = if f.severity == Severity::Fatal { "error" } else { "failure" };
                let _ = writeln!(
                    out,
                    "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
                    xml(&f.message),
                    xml(&f.rule),
                    escape(detail(f).as_str())
                );
            }
            if !warnings.is_empty() {
                let text: Vec<String> = warnings.iter().map(|f| detail(f)).collect();
                let _ = writeln!(out, "      <system-out>{}</system-out>", escape(text.join("\n").as_str()));
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    if passing > 0 {
        let _ = writeln!(out, "  <testsuite name=\"passing documents\" tests=\"{passing}\" failures=\"0\" errors=\"0\" skipped=\"0\">");
        let _ = writeln!(out, "    <testcase name=\"{passing} documents passed every check\" classname=\"tollgate\"/>");
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for XML: control characters are not allowed in XML 1.0 and would forge lines in a
/// viewer, so they are escaped first (`printable`), then XML's own five.
fn xml(s: &str) -> String {
    escape(printable(s).as_ref()).into_owned()
}

fn detail(f: &Finding) -> String {
    let mut s = format!("{}: {} [{}] {}", printable(&f.location()), f.severity.as_str(), printable(&f.rule), printable(&f.message));
    if let Some(p) = &f.pointer {
        let _ = write!(s, " (at {})", printable(p));
    }
    if let Some(h) = &f.hint {
        let _ = write!(s, "\nhint: {}", printable(h));
    }
    s
}

/// SARIF 2.1.0, as GitHub code scanning and other viewers read it.
pub fn sarif(report: &Report) -> Value {
    let mut rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rule_index = |id: &str| rules.iter().position(|r| *r == id).unwrap_or(0);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut region = serde_json::Map::new();
            if let Some(l) = f.line.filter(|l| *l > 0) {
                region.insert("startLine".into(), json!(l));
                if let Some(c) = f.column.filter(|c| *c > 0) {
                    region.insert("startColumn".into(), json!(c));
                }
            }
            let mut physical = json!({"artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"}});
            if !region.is_empty() {
                physical["region"] = Value::Object(region);
            }
            let mut text = f.message.clone();
            if let Some(h) = &f.hint {
                text.push_str("\nhint: ");
                text.push_str(h);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index(&f.rule),
                "level": match f.severity { Severity::Warning => "warning", _ => "error" },
                "message": {"text": text},
                "locations": [{"physicalLocation": physical}],
                "properties": {"stage": f.stage.as_str(), "severity": f.severity.as_str()},
            });
            if let Some(doc) = &f.document {
                result["locations"][0]["logicalLocations"] = json!([{"fullyQualifiedName": doc, "kind": "object"}]);
            }
            if let Some(p) = &f.pointer {
                result["properties"]["pointer"] = json!(p);
            }
            result
        })
        .collect();
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|r| {
            let stage = report.findings.iter().find(|f| f.rule == *r).map_or("policy", |f| f.stage.as_str());
            json!({"id": r, "name": r, "shortDescription": {"text": format!("tollgate {stage} check `{r}`")}})
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tollgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://tollgate.dev",
                "rules": rules_json,
            }},
            "originalUriBaseIds": {"SRCROOT": {"description": {"text": "The config repo root."}}},
            "results": results,
            "properties": {
                "documents": report.documents,
                "documentsChecked": report.documents_checked,
                "policyDigest": report.policy_digest,
            },
        }],
    })
}

/// GitHub Actions workflow commands: annotations on the pull request's files.
fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = match f.severity {
            Severity::Warning => "warning",
            _ => "error",
        };
        let mut props = format!("file={}", escape_property(&f.file));
        if let Some(l) = f.line {
            let _ = write!(props, ",line={l}");
        }
        if let Some(c) = f.column {
            let _ = write!(props, ",col={c}");
        }
        let _ = write!(props, ",title={}", escape_property(&format!("tollgate: {}", f.rule)));
        let mut message = f.message.clone();
        if let Some(h) = &f.hint {
            message.push_str("\nhint: ");
            message.push_str(h);
        }
        let _ = writeln!(out, "::{level} {props}::{}", escape_data(&message));
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "tollgate: {} unreadable, {} errors, {} warnings ({} documents checked)",
        s.fatal, s.errors, s.warnings, report.documents_checked
    );
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
