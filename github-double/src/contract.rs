//! GitHub's published contract: the OpenAPI description, its operations and their compiled
//! request and response schemas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use hyper::Method;
use serde_json::{Value, json};

/// The OpenAPI description the double holds to (loaded at compile time: tests never read files
/// outside the project).
const SPEC: &str = include_str!("../fixtures/api-subset.openapi.json");

/// The compiled request and response schemas of the spec's operations.
pub(crate) struct Contract {
    spec: Value,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Contract {
    pub(crate) fn load() -> anyhow::Result<Contract> {
        let spec: Value = serde_json::from_str(SPEC).context("parse the OpenAPI description")?;
        Ok(Contract { spec, cache: Mutex::new(HashMap::new()) })
    }

    /// The operation and its path template for `method` on `path`.
    pub(crate) fn operation(&self, method: &Method, path: &str) -> Option<(String, &Value)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.spec.get("paths")?.as_object()?;
        paths.iter().find_map(|(template, item)| {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            let fits = t.len() == segments.len() && t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
            let op = item.get(method.as_str().to_ascii_lowercase())?;
            fits.then(|| (template.clone(), op))
        })
    }

    fn validator(&self, key: &str, schema: &Value) -> anyhow::Result<Arc<jsonschema::Validator>> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = cache.get(key) {
            return Ok(v.clone());
        }
        let v = Arc::new(jsonschema::validator_for(&openapi_to_json_schema(schema)).map_err(|e| anyhow::anyhow!("{e}"))?);
        cache.insert(key.to_owned(), v.clone());
        Ok(v)
    }

    /// Problems of `body` against the operation's request schema.
    pub(crate) fn check_request(&self, template: &str, method: &Method, op: &Value, body: Option<&Value>) -> Vec<String> {
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else { return Vec::new() };
        let required = op.pointer("/requestBody/required").and_then(Value::as_bool).unwrap_or(false);
        let Some(body) = body else {
            return if required { vec![format!("{method} {template}: the request body is required")] } else { Vec::new() };
        };
        match self.validator(&format!("req {method} {template}"), schema) {
            Ok(v) => v.iter_errors(body).map(|e| format!("{method} {template}: request body at `{}`: {e}", e.instance_path())).collect(),
            Err(e) => vec![format!("{method} {template}: request schema does not compile: {e}")],
        }
    }

    /// The example body of a response, to start answers from: the `default` example, or the
    /// first one where the description names them (check runs, team memberships).
    pub(crate) fn example(&self, op: &Value, status: u16) -> Value {
        let Some(content) = op.pointer(&format!("/responses/{status}/content/application~1json")) else { return json!({}) };
        let named = content.get("examples").and_then(Value::as_object);
        let chosen = named.and_then(|e| e.get("default").or_else(|| e.values().next())).and_then(|e| e.get("value"));
        chosen.or_else(|| content.get("example")).cloned().unwrap_or_else(|| json!({}))
    }

    /// Problems of `body` against the response schema of `status`.
    pub(crate) fn check_response(&self, template: &str, method: &Method, op: &Value, status: u16, body: &Value) -> Vec<String> {
        let Some(schema) = op.pointer(&format!("/responses/{status}/content/application~1json/schema")) else {
            return Vec::new();
        };
        match self.validator(&format!("res {status} {method} {template}"), schema) {
            Ok(v) => v
                .iter_errors(body)
                .map(|e| format!("{method} {template} {status}: response body at `{}`: {e}", e.instance_path()))
                .collect(),
            Err(e) => vec![format!("{method} {template}: response schema does not compile: {e}")],
        }
    }
}

/// OpenAPI 3.0 schemas are JSON Schema but for `nullable: true`, which JSON Schema writes as a
/// union with `null`.
fn openapi_to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            let mut nullable = false;
            for (k, val) in map {
                match k.as_str() {
                    "nullable" => nullable = val.as_bool().unwrap_or(false),
                    // Properties are names, not schemas: keep their keys, convert their values.
                    "properties" => {
                        let props = val.as_object().map(|p| p.iter().map(|(n, s)| (n.clone(), openapi_to_json_schema(s))).collect());
                        out.insert(k.clone(), props.map_or(Value::Null, Value::Object));
                    }
                    "example" | "examples" => {}
                    _ => {
                        out.insert(k.clone(), openapi_to_json_schema(val));
                    }
                }
            }
            let schema = Value::Object(out);
            if nullable { json!({"anyOf": [schema, {"type": "null"}]}) } else { schema }
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}
