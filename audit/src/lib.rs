//! The tamper-evident audit trail's formats and checks: pure functions over bytes, no SQL and
//! no IO beyond the files of a bundle.
//!
//! Every event is stored as the exact RFC 8785 bytes that were hashed ([`jcs`], [`event`]);
//! events form a hash chain and the leaves of an RFC 6962 Merkle tree ([`merkle`]); signed
//! checkpoints in the C2SP format pin everything before them ([`checkpoint`]); [`verify`] walks
//! a log and names the first bad row; [`bundle`] is the auditor export's format and its offline
//! check. The store (`tollgate-store`) reads and writes the rows ([`rows`]) and appends through
//! its `AuditLog`; this crate cannot reach a database (it does not depend on one).

pub mod bundle;
pub mod checkpoint;
pub mod event;
pub mod jcs;
pub mod merkle;
pub mod rows;
pub mod verify;

pub use event::EventError;
pub use rows::{BATCH_ROWS, EventBatch, EventRef, Head, RecordKind, StoredCheckpoint, StoredRecord};

/// The action of the event that announces a new checkpoint key.
pub const KEY_ROTATED: &str = "audit.key.rotated";
