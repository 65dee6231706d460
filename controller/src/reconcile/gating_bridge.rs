//! Adapters from the reconciler to the gate runner and the window evaluator.

use super::{GateOutcome, GateSettings};
use tollgate_decision::WindowInput;
use tollgate_spec::{ConfigRepo, Document};

/// Where a release's gates read the repo from, for a gates Job: the repository and commit the
/// pass prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) repo: &'a std::path::Path,
    pub(crate) commit: &'a str,
}

/// A release's gates, for a decision: run (or read from the cache) by [`crate::gating`], in
/// process or, when the Config document says `gates.runner: kubernetes`, as a Kubernetes Job
/// whose signed result is verified before it is used. A gate that cannot be computed (a
/// missing file, a model that needs the `torch` feature, a failed Job, a result that does not
/// verify) is an outcome with an error, which blocks environments that require gates; an error
/// that may pass ([`crate::gating::GatingError::is_transient`]) is marked so, and tried again.
pub(crate) fn run(repo: &ConfigRepo, release: &str, settings: &GateSettings, root: Option<&std::path::Path>, at: At<'_>) -> GateOutcome {
    let opts = crate::gating::GateRunOptions {
        device: settings.device,
        cache_dir: settings.cache_dir.clone(),
        progress: false,
        root: root.map(ToOwned::to_owned),
    };
    let ran = match runner_of(repo) {
        Runner::InProcess => crate::gating::run_release_gates(repo, release, &opts),
        Runner::Kubernetes(pod) => match (&settings.kubernetes, *pod) {
            (None, _) => {
                return failed(
                    "`gates.runner` is `kubernetes` but this controller has no cluster to run gates on (`--gates-cluster`)".into(),
                );
            }
            (_, Err(e)) => return failed(tollgate_error::chain(&e)),
            (Some(job), Ok(pod)) => {
                let inputs = crate::gating::job::JobInputs { repo: at.repo, commit: at.commit };
                crate::gating::job::run_release_gates_as_job(repo, release, &opts, job, pod, inputs)
            }
        },
    };
    match ran {
        Ok(g) => GateOutcome {
            digest: Some(g.digest.clone()),
            categories: g.categories.iter().map(|c| (c.category.clone(), c.passed)).collect(),
            failures: g.failures(),
            error: None,
            transient: false,
            results: serde_json::to_value(&g).unwrap_or(serde_json::Value::Null),
        },
        Err(e) if e.is_transient() => failed_for_now(&tollgate_error::chain(&e)),
        Err(e) => failed(tollgate_error::chain(&e)),
    }
}

/// Gates that could not be computed for a reason that may pass: the reconciler prepares the
/// commit again after its backoff, and the error says so (`status`, `explain`).
pub(crate) fn failed_for_now(error: &str) -> GateOutcome {
    GateOutcome { transient: true, ..failed(format!("{error} (tried again after a backoff)")) }
}

/// Gates that could not be computed, for a reason that stands until the commit changes.
fn failed(error: String) -> GateOutcome {
    GateOutcome {
        digest: None,
        categories: Default::default(),
        failures: vec![],
        error: Some(error),
        transient: false,
        results: serde_json::Value::Null,
    }
}

/// Where the Config document says gates run.
enum Runner {
    InProcess,
    Kubernetes(Box<Result<tollgate_jobs::PodSettings, tollgate_jobs::SettingsError>>),
}

fn runner_of(repo: &ConfigRepo) -> Runner {
    let gates = repo.config().and_then(|c| c.spec().get("gates"));
    match gates.and_then(|g| g.get("runner")).and_then(serde_json::Value::as_str) {
        Some("kubernetes") => {
            Runner::Kubernetes(Box::new(tollgate_jobs::PodSettings::from_config(gates.and_then(|g| g.get("kubernetes")))))
        }
        _ => Runner::InProcess,
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
