//! The tollgate controller: the config-repo model and its loader, Git access, the Rego policy
//! engine, checks, decisions, promotion, the store and the audit trail.

pub mod audit;
pub mod check;
pub mod diag;
pub mod gating;
pub mod policy;
pub mod refs;
pub mod repo;
pub mod report;
pub mod scaffold;
pub mod schema;
pub mod spec;
pub mod store;
pub mod yaml;
