//! Adapters from the reconciler to the gate runner and the window evaluator.
// TEMPORARY: replaced when the gating and windows modules land.

use crate::decision::WindowInput;
use crate::reconcile::{GateOutcome, GateSettings};
use crate::spec::{ConfigRepo, Document};

pub(crate) fn run(_repo: &ConfigRepo, _release: &str, _settings: &GateSettings) -> GateOutcome {
    GateOutcome {
        digest: None,
        categories: Default::default(),
        failures: vec![],
        error: Some("gate runner not wired yet".into()),
        results: serde_json::Value::Null,
    }
}

pub(crate) fn window(env: &Document, _now: jiff::Timestamp) -> WindowInput {
    let has = env.spec().get("windows").is_some() || env.spec().get("freezes").is_some();
    WindowInput {
        open: !has,
        reason: if has { "windows not evaluated yet".into() } else { "no windows".into() },
        until: None,
        next_open: None,
    }
}
