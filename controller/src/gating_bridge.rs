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

/// The environment's windows at `now`, for a decision. A spec that does not parse is reported
/// by `check` (stage `windows`); here it keeps the environment closed, never open by accident.
pub(crate) fn window(env: &Document, now: jiff::Timestamp) -> WindowInput {
    window_of(env.spec(), now)
}

/// As [`window`], from an Environment's `spec`.
pub(crate) fn window_of(spec: &serde_json::Value, now: jiff::Timestamp) -> WindowInput {
    let parsed = match crate::windows::Windows::from_spec(spec) {
        Ok(w) => w,
        Err(errors) => {
            let why = errors.first().map(|e| e.message()).unwrap_or_default();
            return WindowInput { open: false, reason: format!("the windows do not parse: {why}"), until: None, next_open: None };
        }
    };
    let state = crate::windows::evaluate(&parsed, now);
    let (tz, zone) = crate::windows::home_zone(&parsed);
    WindowInput {
        open: state.open,
        reason: crate::windows::describe(&parsed, &state),
        until: state.until.map(|t| crate::windows::when(t, tz, zone)),
        next_open: state.next_open.map(|t| crate::windows::when(t, tz, zone)),
    }
}
