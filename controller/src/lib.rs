//! The tollgate controller: the config-repo model and its loader, Git access, the Rego policy
//! engine, checks, decisions, promotion, the store and the audit trail.

pub mod audit;
pub mod store;
