//! Adapters from the reconciler to the gate runner and the window evaluator.

use super::{GateOutcome, GateSettings};
use tollgate_decision::WindowInput;
use tollgate_spec::{ConfigRepo, Document};

/// A release's gates, for a decision: run (or read from the cache) by [`crate::gating`], and
/// summarised. A gate that cannot be computed (a missing file, a model that needs the `torch`
/// feature) is an outcome with an error, which blocks environments that require gates.
pub(crate) fn run(repo: &ConfigRepo, release: &str, settings: &GateSettings, root: Option<&std::path::Path>) -> GateOutcome {
    let opts = crate::gating::GateRunOptions {
        device: settings.device,
        cache_dir: settings.cache_dir.clone(),
        progress: false,
        root: root.map(ToOwned::to_owned),
    };
    match crate::gating::run_release_gates(repo, release, &opts) {
        Ok(g) => GateOutcome {
            digest: Some(g.digest.clone()),
            categories: g.categories.iter().map(|c| (c.category.clone(), c.passed)).collect(),
            failures: g.failures(),
            error: None,
            results: serde_json::to_value(&g).unwrap_or(serde_json::Value::Null),
        },
        Err(e) => GateOutcome {
            digest: None,
            categories: Default::default(),
            failures: vec![],
            error: Some(tollgate_error::chain(&e)),
            results: serde_json::Value::Null,
        },
    }
}

/// The environment's windows at `now`, for a decision. A spec that does not parse is reported
/// by `check` (stage `windows`); here it keeps the environment closed, never open by accident.
pub(crate) fn window(env: &Document, now: jiff::Timestamp) -> WindowInput {
    window_of(env.spec(), now)
}

/// As [`window`], from an Environment's `spec`.
pub(crate) fn window_of(spec: &serde_json::Value, now: jiff::Timestamp) -> WindowInput {
    let parsed = match tollgate_spec::windows::Windows::from_spec(spec) {
        Ok(w) => w,
        Err(errors) => {
            let why = errors.first().map(|e| e.message()).unwrap_or_default();
            return WindowInput { open: false, reason: format!("the windows do not parse: {why}"), until: None, next_open: None };
        }
    };
    let state = tollgate_spec::windows::evaluate(&parsed, now);
    let (tz, zone) = tollgate_spec::windows::home_zone(&parsed);
    WindowInput {
        open: state.open,
        reason: tollgate_spec::windows::describe(&parsed, &state),
        until: state.until.map(|t| tollgate_spec::windows::when(t, tz, zone)),
        next_open: state.next_open.map(|t| tollgate_spec::windows::when(t, tz, zone)),
    }
}
