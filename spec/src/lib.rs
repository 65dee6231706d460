//! The config-repo model: what a tollgate repo holds and how it is read.
//!
//! YAML with positions ([`yaml`]), repo paths and sources (a folder or a Git revision,
//! [`repo`]), the document kinds and the loader ([`document`], re-exported here), what changed
//! since a base revision ([`Changes`]), JSON Schemas ([`schema`]), references between documents
//! ([`refs`]), deploy windows and freezes ([`windows`]), time ([`time`]) and the findings every
//! check reports ([`diag`]).
//!
//! **Architecture Invariant:** this crate knows nothing of policies, the store, the network or
//! models: `tollgate check` is built from it and `tollgate-policy` alone.

pub mod changes;
pub mod diag;
pub mod document;
pub mod refs;
pub mod repo;
pub mod schema;
pub mod time;
pub mod windows;
pub mod yaml;

pub use changes::Changes;
pub use document::*;
