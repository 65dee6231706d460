//! The tollgate controller: Git access (mirrors, fetches, pushes), release gates, promotion, the
//! reconcile loop, the service behind the CLI and the API, and the pull-request door (`pulls`:
//! what GitHub's deliveries make tollgate do; GitHub's protocols are `tollgate-github`).
//!
//! The config-repo model is `tollgate-spec`, policies `tollgate-policy`, checks `tollgate-check`,
//! decisions `tollgate-decision`, the audit formats `tollgate-audit` and the store
//! `tollgate-store`, GitHub `tollgate-github`; this crate ties them together.

pub mod admission;
pub mod anchor;
pub mod gating;
pub mod git;
/// GitHub's protocols (`tollgate-github`), under the name the controller's modules use.
pub use tollgate_github as github;
pub mod promote;
pub mod pulls;
pub mod reconcile;
pub mod service;

/// The hint of an error anywhere in its cause chain (`tollgate_error::find_hint`), knowing every
/// hinted error type of the crates below the CLI and the API: what the CLI prints on its `hint:`
/// line and the API returns as `"hint"`.
pub fn hint_of(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    tollgate_error::find_hint(err, |e| {
        tollgate_error::hint_of!(e;
            service::ServiceError,
            gating::GatingError,
            git::GitError,
            github::GitHubError,
            tollgate_gates::runner::RunnerError,
            tollgate_gates::eval::EvalError,
            tollgate_gates::dataset::DatasetError,
            tollgate_spec::time::TimeError,
            tollgate_spec::windows::WindowError,
            tollgate_spec::windows::cron::CronError,
            tollgate_spec::yaml::YamlError,
            tollgate_store::StoreError,
            tollgate_model_cards::CardError,
        )
    })
}
