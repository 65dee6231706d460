//! The tollgate controller: the config-repo model and its loader, Git access, the Rego policy
//! engine, checks, deploy windows, decisions, promotion (and its GitHub pull requests), the store
//! and the audit trail.

pub mod approvals;
pub mod audit;
pub mod check;
pub mod decision;
pub mod diag;
pub mod gating;
mod gating_bridge;
pub mod git;
pub mod github;
pub mod policy;
pub mod promote;
pub mod reconcile;
pub mod refs;
pub mod repo;
pub mod report;
pub mod scaffold;
pub mod schema;
pub mod service;
pub mod spec;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod time;
pub mod windows;
pub mod yaml;
