//! The tollgate controller: Git access (mirrors, fetches, pushes), GitHub pull requests, release
//! gates, promotion, the reconcile loop and the service behind the CLI and the API.
//!
//! The config-repo model is `tollgate-spec`, policies `tollgate-policy`, checks `tollgate-check`,
//! decisions `tollgate-decision`, the audit formats `tollgate-audit` and the store
//! `tollgate-store`; this crate ties them together and is the only one that does network IO.

pub mod gating;
pub mod git;
pub mod github;
pub mod promote;
pub mod reconcile;
pub mod service;

/// An error and its causes on one line, `error: cause: cause`, as the binary prints them.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}
