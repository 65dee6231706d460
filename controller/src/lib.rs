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
