//! End-to-end audit trail scenarios: see `tests/cli.rs`. They drive the real `tollgate` binary
//! (built on first use) against a real SQLite file and a real PostgreSQL server.
