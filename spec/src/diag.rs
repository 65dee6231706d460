//! Findings: what `tollgate check` reports, with where, what and a hint.

use std::fmt;

use serde::Serialize;

use crate::yaml::Pos;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input could not be read (bad YAML, unknown kind, missing file): exit code 2.
    Fatal,
    /// A violation: schema, reference or `deny`/`violation` policy result: exit code 1.
    Error,
    /// A `warn` policy result: reported, does not fail the check.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Which stage of the check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading files and parsing YAML or JSON.
    Input,
    /// JSON Schema validation of a document.
    Schema,
    /// Cross-references between documents.
    Reference,
    /// Rego policies.
    Policy,
    /// Deploy windows and freezes: cron schedules, durations, time zones, freeze times.
    Windows,
}

impl Stage {
    /// Every stage, in the order a check runs them.
    pub const ALL: [Stage; 5] = [Stage::Input, Stage::Schema, Stage::Reference, Stage::Windows, Stage::Policy];

    /// The stage [`Stage::as_str`] names.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Schema => "schema",
            Stage::Reference => "reference",
            Stage::Policy => "policy",
            Stage::Windows => "windows",
        }
    }
}

/// One problem found in the repo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub stage: Stage,
    /// A stable identifier: `yaml`, `schema`, `ref-model`, or a policy rule id.
    pub rule: String,
    /// Repo-relative file path.
    pub file: String,
    /// Where in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The JSON pointer of the value concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// `Kind/name` of the document concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(severity: Severity, stage: Stage, rule: impl Into<String>, file: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity,
            stage,
            rule: rule.into(),
            file: file.into(),
            line: None,
            column: None,
            pointer: None,
            document: None,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn at(mut self, pos: Option<Pos>) -> Self {
        if let Some(pos) = pos {
            self.line = Some(pos.line);
            self.column = Some(pos.column);
        }
        self
    }

    #[must_use]
    pub fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    #[must_use]
    pub fn document(mut self, document: impl Into<String>) -> Self {
        self.document = Some(document.into());
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column` (or less, when the position is unknown).
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]: {}", self.location(), self.severity.as_str(), self.rule, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Sort order for reports: by file, then position, then severity.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.severity, a.rule.as_str(), a.message.as_str()).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.severity,
            b.rule.as_str(),
            b.message.as_str(),
        ))
    });
}

/// `text` as it may be shown on a terminal or in a CI log: control characters (newlines
/// included) and the Unicode bidirectional controls are written as escapes (`\n`, `\u{1b}`,
/// `\u{202e}`), so that a file name, a policy's message or a value from a config repo can
/// neither start a line of its own (forging `::warning file=...` in a CI log, or a finding)
/// nor reorder or hide what follows it. Every human output passes user text through it; the
/// machine formats have escapes of their own.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn controls_and_bidi_characters_are_escaped() {
        assert!(matches!(printable("releases/income-v2.yaml"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("a\n::warning file=x::forged"), "a\\n::warning file=x::forged");
        assert_eq!(printable("\x1b[31mred\x1b[0m\r\t"), "\\u{1b}[31mred\\u{1b}[0m\\r\\t");
        assert_eq!(printable("evil\u{202e}lmy.yaml"), "evil\\u{202e}lmy.yaml");
        assert_eq!(printable("\u{85}\u{2066}x\u{2069}"), "\\u{85}\\u{2066}x\\u{2069}");
        // Letters, accents and emoji stay as they are.
        assert_eq!(printable("Zürich ✓ 東京"), "Zürich ✓ 東京");
    }
}
