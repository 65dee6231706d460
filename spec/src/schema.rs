//! The JSON Schemas of tollgate's document kinds, compiled once and enforced with `jsonschema`.
//!
//! The schema files in `spec/schemas/` are the source of truth: they are embedded in the
//! binary, served to editors, and turned into `docs/reference/` by `cargo xtask codegen`.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::diag::{Finding, Severity, Stage};
use crate::yaml::Limits;
use crate::{Document, Kind};

/// Every schema, as `(kind, file name, source)`.
pub const SCHEMAS: [(Kind, &str, &str); 6] = [
    (Kind::Config, "config.schema.json", include_str!("../schemas/config.schema.json")),
    (Kind::Environment, "environment.schema.json", include_str!("../schemas/environment.schema.json")),
    (Kind::Model, "model.schema.json", include_str!("../schemas/model.schema.json")),
    (Kind::Dataset, "dataset.schema.json", include_str!("../schemas/dataset.schema.json")),
    (Kind::Release, "release.schema.json", include_str!("../schemas/release.schema.json")),
    (Kind::Promotion, "promotion.schema.json", include_str!("../schemas/promotion.schema.json")),
];

struct Compiled {
    kind: Kind,
    schema: Value,
    validator: jsonschema::Validator,
}

fn compiled() -> &'static [Compiled] {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        SCHEMAS
            .iter()
            .filter_map(|(kind, name, source)| {
                // The schemas are part of the binary and tested; a broken one is a build bug.
                let schema: Value = serde_json::from_str(source).map_err(|e| tracing::error!(schema = name, "bad schema: {e}")).ok()?;
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .map_err(|e| tracing::error!(schema = name, "bad schema: {e}"))
                    .ok()?;
                Some(Compiled { kind: *kind, schema, validator })
            })
            .collect()
    })
}

/// The parsed schema of a kind.
pub fn schema_of(kind: Kind) -> Option<&'static Value> {
    compiled().iter().find(|c| c.kind == kind).map(|c| &c.schema)
}

/// Validates one document against its kind's schema. Plans and manifests have no schema here:
/// their checks are policies.
pub fn validate(doc: &Document, limits: &Limits) -> Vec<Finding> {
    let Some(compiled) = compiled().iter().find(|c| c.kind == doc.kind) else {
        return Vec::new();
    };
    if compiled.validator.is_valid(&doc.value) {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for error in compiled.validator.iter_errors(&doc.value) {
        let mut pointer = error.instance_path().as_str().to_owned();
        let (message, hint) = describe(&error, &compiled.schema, &mut pointer);
        let pos = doc.locate(&pointer, limits);
        findings.push(
            Finding::new(Severity::Error, Stage::Schema, "schema", doc.file.path.as_str(), message)
                .at(pos)
                .pointer(display_pointer(&pointer))
                .document(doc.id())
                .hint(hint),
        );
    }
    findings
}

fn display_pointer(pointer: &str) -> String {
    if pointer.is_empty() { "/".to_owned() } else { pointer.to_owned() }
}

/// Turns a validation error into our message and hint; may move `pointer` to the offending key.
fn describe(error: &jsonschema::ValidationError<'_>, schema: &Value, pointer: &mut String) -> (String, String) {
    let field = if pointer.is_empty() { "the document".to_owned() } else { format!("`{}`", dotted(pointer)) };
    let schema_path = error.schema_path().as_str();
    let parent_schema = schema_path.rfind('/').map_or("", |i| &schema_path[..i]);
    let description = schema.pointer(parent_schema).and_then(|s| s.get("description")).and_then(Value::as_str);
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_owned();
            let prop_description = schema
                .pointer(&format!("{parent_schema}/properties/{name}/description"))
                .and_then(Value::as_str)
                .map_or_else(String::new, |d| format!(": {d}"));
            (format!("{field} is missing required field `{name}`"), format!("add `{name}`{prop_description}"))
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            if let [one] = unexpected.as_slice() {
                pointer.push('/');
                pointer.push_str(&one.replace('~', "~0").replace('/', "~1"));
            }
            let names = unexpected.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ");
            let known = schema
                .pointer(&format!("{parent_schema}/properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            (format!("{field} has unknown field {names}"), format!("check the spelling; known fields are {known}"))
        }
        ValidationErrorKind::Enum { options } => {
            let options =
                options.as_array().map(|a| a.iter().map(|o| format!("`{}`", plain(o))).collect::<Vec<_>>().join(", ")).unwrap_or_default();
            (format!("{field} is {}, not one of the allowed values", value_snippet(error.instance())), format!("use one of {options}"))
        }
        ValidationErrorKind::Constant { expected_value } => {
            (format!("{field} is {}", value_snippet(error.instance())), format!("expected `{}`", plain(expected_value)))
        }
        ValidationErrorKind::Type { .. } => (
            format!("{field} is {}, which has the wrong type", value_snippet(error.instance())),
            description.map_or_else(|| lowercase_first(&error.to_string()), |d| format!("expected {}", lowercase_first(d))),
        ),
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::Format { .. } => (
            format!("{field} is {}, which is not in the expected format", value_snippet(error.instance())),
            description.map_or_else(|| lowercase_first(&error.to_string()), |d| format!("expected {}", lowercase_first(d))),
        ),
        ValidationErrorKind::AnyOf { .. } if schema_path.ends_with("/anyOf") => (
            format!("{field} does not match any allowed form"),
            description.map_or_else(|| lowercase_first(&error.to_string()), |d| format!("expected {}", lowercase_first(d))),
        ),
        _ => (
            format!("{field}: {}", lowercase_first(&error.to_string())),
            description.map_or_else(|| "see docs/reference for this kind".to_owned(), |d| format!("expected {}", lowercase_first(d))),
        ),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_snippet(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("`{cut}...`")
    } else {
        format!("`{text}`")
    }
}

/// `/spec/versions/0/sha256` as `spec.versions[0].sha256`.
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect::<String>().trim_end_matches('.').to_owned(),
        None => String::new(),
    }
}
