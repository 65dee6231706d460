//! The store: releases, decisions with their inputs, approvals, gate results, promotions, model
//! cards and the audit chain that covers them, and the webhook inbox (`inbox`), in SQLite (one
//! file, the embedded default) or PostgreSQL (several replicas).
//!
//! **Architecture Invariant:** this crate is the only one that speaks SQL (`sqlx` and
//! `rusqlite` are its dependencies and no other crate's), and
//! [`Store::append`] / [`Store::record`] are the only ways an audit event is written.
//!
//! Every append locks the single `audit_head` row (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR
//! UPDATE` on PostgreSQL), writes the new events, then compare-and-swaps the head
//! (`UPDATE … WHERE size = $old AND hash = $old`). Zero rows changed aborts the transaction, and
//! `seq` is the primary key, so two writers can never fork the chain or leave a gap, whatever
//! any leader election believes. A caller is told of success only after the commit.

use futures_util::stream::{BoxStream, StreamExt};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Row as _};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tollgate_audit::event::{self, EventError, GENESIS, NewEvent, StoredEvent};
use tollgate_audit::merkle::Hash;

mod audit_log;
mod bulk;
mod control;
mod export;
mod inbox;
mod sessions;
#[cfg(test)]
mod tests;
mod watch;

pub use audit_log::{AuditError, AuditLog, DEFAULT_CHECKPOINT_EVERY, KEY_ENV, Publish};
pub use bulk::EventBatches;
pub use control::{Leadership, TokenRow};
pub use export::{ExportError, ExportOptions, ExportSummary, export, export_with, verify_store};
pub use inbox::{Delivery, DeliveryOutcome, Enqueued, FailedDelivery, InboxCounts, NewDelivery};
pub use sessions::SessionRow;
pub use tollgate_audit::{BATCH_ROWS, EventBatch, EventRef, Head, RecordKind, StoredCheckpoint, StoredRecord};
pub use watch::HeadWatch;

/// The default database, a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://tollgate.db";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported backend.
    #[error("unsupported database URL `{url}`; expected `sqlite://PATH` or `postgres://…`")]
    UnsupportedUrl {
        /// The URL, without credentials.
        url: String,
    },
    /// The database could not be opened or reached.
    #[error("failed to open database `{url}`")]
    Connect {
        /// The URL, without credentials.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The embedded migrations could not be applied.
    #[error("failed to apply database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("failed to {op}")]
    Query {
        /// What was being done.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Another writer changed the head between our read and our compare-and-swap; nothing was
    /// written, and the caller may retry.
    #[error("audit head moved during the append; nothing was written")]
    HeadMoved,
    /// The head does not name the last event of the log (zeroed, ahead, behind, or its event
    /// deleted): the log was changed outside tollgate, and nothing is appended after it.
    #[error("the audit head (size {head}) does not match the last event in the log ({last}); nothing was written")]
    HeadMismatch {
        /// The size the head claims.
        head: u64,
        /// What the log ends with: `event N` with its hash differing, or `no events`.
        last: String,
    },
    /// An event could not be encoded.
    #[error("invalid audit event")]
    Event(#[from] EventError),
    /// A stored hash is not 32 bytes long.
    #[error("stored hash in `{table}` at `{key}` is not 32 bytes")]
    BadHash {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: u64,
    },
    /// A stored text column is not UTF-8.
    #[error("stored text in `{table}` at `{key}` is not UTF-8")]
    NotText {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: u64,
    },
    /// The bulk reader (a connection of its own to the SQLite file) failed.
    #[error("failed to read audit events")]
    BulkRead {
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL's binary `COPY` output is not what the bulk reader expects.
    #[error("unexpected `COPY` data from PostgreSQL: {reason}")]
    CopyFormat {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stored record document is not JSON.
    #[error("stored `{table}` record `{id}` is not JSON")]
    BadRecord {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The condition every head compare-and-swap adds (issue #12): the head names the event that is
/// last in the log, with its hash. A head zeroed, ahead of the log or left behind by a deleted
/// last event swaps nothing, so nothing is ever written after a head that does not match
/// ([`StoreError::HeadMismatch`] says so); a head behind the log collides with the next event's
/// `seq`. One primary-key lookup in the statement that already runs: no extra round trip.
macro_rules! head_matches_last {
    () => {
        "(audit_head.size = 0 OR EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = audit_head.size AND e.hash = audit_head.hash))"
    };
    // On PostgreSQL, from the bound old head (`$12`, `$13`, which the swap has just compared
    // with the row): a lookup by constant the planner resolves once, where the correlated form
    // cost ~0.15 ms an append (the 1,000-event append ratio went from 1.10 to 1.43).
    (pg) => {
        "($12 = 0 OR EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = $12 AND e.hash = $13))"
    };
}

impl tollgate_error::Hint for StoreError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            StoreError::HeadMismatch { .. } => Some(
                "the log was truncated or edited outside tollgate: run `tollgate audit verify` (with `--checkpoint` for saved \
                 checkpoints) and restore the database from a backup"
                    .into(),
            ),
            _ => None,
        }
    }
}

const SQLITE_INSERT: &str =
    "INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
/// The last insert of an append and the head's compare-and-swap, as one call (sqlx runs the
/// statements in turn and adds up their changes: 2 when the swap succeeded).
const SQLITE_INSERT_AND_ADVANCE: &str = concat!(
    "INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?); ",
    "UPDATE audit_head SET size = ?, hash = ?, time = ? WHERE id = 1 AND size = ? AND hash = ? AND ",
    head_matches_last!()
);
const PG_INSERT: &str =
    "INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The last insert of an append and the head's compare-and-swap, as one statement (1 row
/// changed when the swap succeeded; the transaction is rolled back otherwise).
const PG_INSERT_AND_ADVANCE: &str = concat!(
    "WITH inserted AS (INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq) ",
    "UPDATE audit_head SET size = $9, hash = $10, time = $11 WHERE id = 1 AND size = $12 AND hash = $13 AND ",
    head_matches_last!(pg),
    " AND EXISTS (SELECT 1 FROM inserted)"
);

/// The first event of an append that starts from a remembered head: the head's
/// compare-and-swap runs first and the insert reads from it, so it inserts nothing (0 rows)
/// when another writer moved the head.
const PG_ADVANCE_THEN_INSERT: &str = concat!(
    "WITH head AS (UPDATE audit_head SET size = $9, hash = $10, time = $11 ",
    "WHERE id = 1 AND size = $12 AND hash = $13 AND ",
    head_matches_last!(pg),
    " RETURNING id) ",
    "INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) ",
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM head"
);

/// Binds an event's eight columns, in `audit_events` order, to an insert of either backend.
macro_rules! bind_event {
    ($sql:expr, $e:expr) => {
        sqlx::query($sql)
            .bind($e.seq as i64)
            .bind(&$e.time)
            .bind(&$e.actor)
            .bind(&$e.action)
            .bind(&$e.subject)
            .bind(&$e.body)
            .bind(&$e.prev_hash[..])
            .bind(&$e.hash[..])
    };
}

fn query_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// The database file, for the bulk reader's own connection (`None` for PostgreSQL and
    /// in-memory SQLite).
    sqlite_file: Option<PathBuf>,
    /// PostgreSQL: the head this handle last wrote (size, hash, time). An append starts from it
    /// without locking the head row first; the head's compare-and-swap in the same transaction
    /// still decides, and when another writer moved the head the append is made again under
    /// the lock. Shared by clones.
    head_hint: Arc<std::sync::Mutex<Option<HeadHint>>>,
}

/// A head this handle wrote: size, hash and time.
type HeadHint = (u64, [u8; 32], String);

/// A domain record to write with [`Store::record_many`].
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub kind: RecordKind,
    pub actor: String,
    pub subject: String,
    pub doc: Value,
}

/// A domain record to write in the same transaction as its audit event.
struct PendingRecord<'a> {
    kind: RecordKind,
    subject: &'a str,
    doc: String,
}

/// Strips credentials from a URL before it is shown.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

fn to_hash(bytes: &[u8], table: &'static str, key: u64) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| StoreError::BadHash { table, key })
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies the embedded migrations.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`, so a commit survives power loss; keep the
    /// file on a local disk (WAL does not work over network file systems). PostgreSQL must run
    /// with `fsync=on` and `synchronous_commit=on`; a warning is logged when it does not.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsupportedUrl`], [`StoreError::Connect`] or [`StoreError::Migrate`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect { url: redact(url), source };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(120))
                .disable_statement_logging();
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options.clone()).await.map_err(connect)?;
            // SQLite has no migration lock: a second process racing on a fresh file may fail
            // once on a table the first just created, and then finds the migration applied.
            let mut attempt = 0;
            loop {
                match sqlx::migrate!("migrations/sqlite").run(&pool).await {
                    Ok(()) => break,
                    Err(_) if attempt < 10 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    }
                    Err(err) => return Err(StoreError::Migrate(err)),
                }
            }
            // An in-memory database is private to sqlx's connections; the bulk reader then
            // batches the pool's stream instead.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let sqlite_file = (!in_memory).then(|| options.get_filename().to_owned());
            Ok(Self { backend: Backend::Sqlite(pool), sqlite_file, head_hint: Arc::default() })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(connect)?.disable_statement_logging();
            let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await.map_err(connect)?;
            // PostgreSQL serialises concurrent migrations with an advisory lock.
            sqlx::migrate!("migrations/postgres").run(&pool).await.map_err(StoreError::Migrate)?;
            for setting in ["fsync", "synchronous_commit"] {
                let value: Result<String, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}"))).fetch_one(&pool).await;
                if let Ok(value) = value
                    && value != "on"
                {
                    tracing::warn!(setting, value, "postgresql is not durable: audit commits may be lost");
                }
            }
            Ok(Self { backend: Backend::Postgres(pool), sqlite_file: None, head_hint: Arc::default() })
        } else {
            Err(StoreError::UnsupportedUrl { url: redact(url) })
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Appends events to the audit chain, in order, as one transaction.
    ///
    /// # Guarantees
    ///
    /// On `Ok`, the events are committed durably with consecutive `seq`s after every event
    /// committed before, by this or any other process. On `Err`, none of them was written.
    ///
    /// # Errors
    ///
    /// [`StoreError::Event`] for an event that cannot be encoded, [`StoreError::HeadMoved`] when
    /// the head's compare-and-swap fails, [`StoreError::Query`] when the database fails.
    pub async fn append(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, StoreError> {
        self.append_inner(events, &[]).await
    }

    /// Writes a domain record and the audit event that records it, atomically. The event has
    /// action [`RecordKind::action`], the given actor and subject, and the record as payload.
    ///
    /// # Errors
    ///
    /// As [`Store::append`].
    pub async fn record(&self, kind: RecordKind, actor: &str, subject: &str, doc: &Value) -> Result<StoredEvent, StoreError> {
        let event = NewEvent::new(actor, kind.action(), subject, doc.clone())?;
        let canonical = tollgate_audit::jcs::canonicalize(doc).map_err(|e| StoreError::Event(EventError::Payload(e)))?;
        let doc = String::from_utf8(canonical).unwrap_or_default();
        let mut out = self.append_inner(std::slice::from_ref(&event), &[PendingRecord { kind, subject, doc }]).await?;
        out.pop().ok_or(StoreError::HeadMoved)
    }

    /// Writes several domain records, each with the audit event that records it, in order, as
    /// one transaction (one durable commit for all of them).
    ///
    /// # Guarantees
    ///
    /// As [`Store::record`] for each, and all or none are written.
    ///
    /// # Errors
    ///
    /// As [`Store::append`].
    pub async fn record_many(&self, records: &[NewRecord]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(records.len());
        let mut pending = Vec::with_capacity(records.len());
        for r in records {
            events.push(NewEvent::new(&r.actor, r.kind.action(), &r.subject, r.doc.clone())?);
            let canonical = tollgate_audit::jcs::canonicalize(&r.doc).map_err(|e| StoreError::Event(EventError::Payload(e)))?;
            pending.push(PendingRecord { kind: r.kind, subject: &r.subject, doc: String::from_utf8(canonical).unwrap_or_default() });
        }
        self.append_inner(&events, &pending).await
    }

    /// Appends `events`; `records[i]`, when there is one, is written with `events[i]` as its
    /// audit event. When the append fails, a head that does not match the log is named as the
    /// reason ([`StoreError::HeadMismatch`]) rather than a moved head or a key collision.
    async fn append_inner(&self, events: &[NewEvent], records: &[PendingRecord<'_>]) -> Result<Vec<StoredEvent>, StoreError> {
        match self.append_unchecked(events, records).await {
            Ok(out) => Ok(out),
            Err(err @ (StoreError::HeadMoved | StoreError::Query { .. })) => {
                self.check_head().await?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Whether the head names the last event of the log, with its hash.
    ///
    /// # Errors
    ///
    /// [`StoreError::HeadMismatch`] when it does not; [`StoreError::Query`].
    pub async fn check_head(&self) -> Result<(), StoreError> {
        let head = self.head().await?;
        let sql = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
        let last: Option<(i64, Vec<u8>)> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_optional(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_optional(pool).await,
        }
        .map_err(query_err("read the last audit event"))?;
        match last {
            None if head.size == 0 => Ok(()),
            Some((seq, hash)) if seq as u64 == head.size && hash[..] == head.hash[..] => Ok(()),
            None => Err(StoreError::HeadMismatch { head: head.size, last: "no events".to_owned() }),
            Some((seq, hash)) => Err(StoreError::HeadMismatch {
                head: head.size,
                last: if seq as u64 == head.size && hash[..] != head.hash[..] {
                    format!("event {seq}, whose hash differs")
                } else {
                    format!("event {seq}")
                },
            }),
        }
    }

    async fn append_unchecked(&self, events: &[NewEvent], records: &[PendingRecord<'_>]) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(query_err("begin the append"))?;
                let row = sqlx::query("SELECT size, hash, time FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(query_err("read the audit head"))?;
                let old_size = row.get::<i64, _>(0) as u64;
                let old_hash = to_hash(&row.get::<Vec<u8>, _>(1), "audit_head", 1)?;
                let time = next_time(&row.get::<String, _>(2));
                // The last insert and the head's compare-and-swap go to the driver as one call,
                // and each event is encoded and hashed while the one before it is inserted, so
                // that the audit work adds as little as possible to a plain insert's round trips.
                let mut built = Vec::with_capacity(events.len());
                let mut current = build_one(&events[0], old_size + 1, old_hash, &time)?;
                for i in 1..=events.len() {
                    let bind = |sql: &'static str| bind_event!(sql, current);
                    let insert = if i < events.len() {
                        bind(SQLITE_INSERT).execute(&mut *tx)
                    } else {
                        bind(SQLITE_INSERT_AND_ADVANCE)
                            .bind(current.seq as i64)
                            .bind(&current.hash[..])
                            .bind(&time)
                            .bind(old_size as i64)
                            .bind(&old_hash[..])
                            .execute(&mut *tx)
                    };
                    let following = async { events.get(i).map(|e| build_one(e, current.seq + 1, current.hash, &time)).transpose() };
                    let (inserted, following) = futures_util::future::join(insert, following).await;
                    let inserted = inserted.map_err(query_err("insert an audit event"))?;
                    // The last call reports the insert and the head's update together.
                    if i == events.len() && inserted.rows_affected() != 2 {
                        return Err(StoreError::HeadMoved);
                    }
                    match following? {
                        Some(next) => built.push(std::mem::replace(&mut current, next)),
                        None => {
                            built.push(current);
                            break;
                        }
                    }
                }
                for (rec, event) in records.iter().zip(&built) {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO {} (subject, doc, recorded_at, audit_seq) VALUES (?, ?, ?, ?)",
                        rec.kind.table()
                    )))
                    .bind(rec.subject)
                    .bind(&rec.doc)
                    .bind(&time)
                    .bind(event.seq as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("insert a record"))?;
                }
                tx.commit().await.map_err(query_err("commit the append"))?;
                Ok(built)
            }
            Backend::Postgres(pool) => {
                let hint = self.head_hint.lock().ok().and_then(|h| h.clone());
                if hint.is_some() {
                    match self.append_pg(pool, events, records, hint).await {
                        // Another writer moved the head: nothing was written; again under the lock.
                        Err(StoreError::HeadMoved) => {}
                        other => return other,
                    }
                }
                self.append_pg(pool, events, records, None).await
            }
        }
    }

    /// One PostgreSQL append transaction: from the `hint` head (no lock taken; the head's
    /// compare-and-swap decides) or, without one, from the head row locked `FOR UPDATE`.
    async fn append_pg(
        &self,
        pool: &PgPool,
        events: &[NewEvent],
        records: &[PendingRecord<'_>],
        hint: Option<HeadHint>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let result = async {
            let mut tx = pool.begin().await.map_err(query_err("begin the append"))?;
            let optimistic = hint.is_some();
            let (old_size, old_hash, time) = match hint {
                Some((size, hash, time)) => (size, hash, next_time(&time)),
                None => {
                    let row = sqlx::query("SELECT size, hash, time FROM audit_head WHERE id = 1 FOR UPDATE")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(query_err("lock the audit head"))?;
                    let hash = to_hash(&row.get::<Vec<u8>, _>(1), "audit_head", 1)?;
                    (row.get::<i64, _>(0) as u64, hash, next_time(&row.get::<String, _>(2)))
                }
            };
            let built = if optimistic {
                // From the hint, the head's compare-and-swap comes first (the first insert
                // reads from it), so every writer locks the head row before any event row, as
                // the locked path does: no deadlock, and a moved head writes nothing.
                let mut built = Vec::with_capacity(events.len());
                let (mut seq, mut prev) = (old_size + 1, old_hash);
                for e in events {
                    let b = build_one(e, seq, prev, &time)?;
                    (seq, prev) = (b.seq + 1, b.hash);
                    built.push(b);
                }
                let (first, last) = (&built[0], &built[built.len() - 1]);
                let advanced = bind_event!(PG_ADVANCE_THEN_INSERT, first)
                    .bind(last.seq as i64)
                    .bind(&last.hash[..])
                    .bind(&time)
                    .bind(old_size as i64)
                    .bind(&old_hash[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("insert an audit event"))?;
                if advanced.rows_affected() != 1 {
                    return Err(StoreError::HeadMoved);
                }
                for e in &built[1..] {
                    bind_event!(PG_INSERT, e).execute(&mut *tx).await.map_err(query_err("insert an audit event"))?;
                }
                built
            } else {
                // As on SQLite: the last insert carries the head's compare-and-swap (a
                // data-modifying CTE), and encoding overlaps the previous insert.
                let mut built = Vec::with_capacity(events.len());
                let mut current = build_one(&events[0], old_size + 1, old_hash, &time)?;
                for i in 1..=events.len() {
                    let bind = |sql: &'static str| bind_event!(sql, current);
                    let insert = if i < events.len() {
                        bind(PG_INSERT).execute(&mut *tx)
                    } else {
                        bind(PG_INSERT_AND_ADVANCE)
                            .bind(current.seq as i64)
                            .bind(&current.hash[..])
                            .bind(&time)
                            .bind(old_size as i64)
                            .bind(&old_hash[..])
                            .execute(&mut *tx)
                    };
                    let following = async { events.get(i).map(|e| build_one(e, current.seq + 1, current.hash, &time)).transpose() };
                    let (inserted, following) = futures_util::future::join(insert, following).await;
                    let inserted = inserted.map_err(query_err("insert an audit event"))?;
                    // The last call reports the head's update (the CTE's insert is not counted).
                    if i == events.len() && inserted.rows_affected() != 1 {
                        return Err(StoreError::HeadMoved);
                    }
                    match following? {
                        Some(next) => built.push(std::mem::replace(&mut current, next)),
                        None => {
                            built.push(current);
                            break;
                        }
                    }
                }
                built
            };
            for (rec, event) in records.iter().zip(&built) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {} (subject, doc, recorded_at, audit_seq) VALUES ($1, $2, $3, $4)",
                    rec.kind.table()
                )))
                .bind(rec.subject)
                .bind(&rec.doc)
                .bind(&time)
                .bind(event.seq as i64)
                .execute(&mut *tx)
                .await
                .map_err(query_err("insert a record"))?;
            }

            tx.commit().await.map_err(query_err("commit the append"))?;
            Ok::<_, StoreError>((built, time))
        }
        .await;
        let mut head = self.head_hint.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok((built, time)) => {
                *head = built.last().map(|e| (e.seq, e.hash, time));
                Ok(built)
            }
            Err(err) => {
                *head = None;
                Err(err)
            }
        }
    }

    /// The head of the chain as the head row records it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] or [`StoreError::BadHash`].
    pub async fn head(&self) -> Result<Head, StoreError> {
        let sql = "SELECT size, hash FROM audit_head WHERE id = 1";
        let (size, hash): (i64, Vec<u8>) = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        }
        .map_err(query_err("read the audit head"))?;
        Ok(Head { size: size as u64, hash: to_hash(&hash, "audit_head", 1)? })
    }

    /// Streams the events with `from <= seq <= to`, in `seq` order.
    pub fn events(&self, from: u64, to: u64) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        self.events_where(from, to, "")
    }

    /// Streams the promotion events (`promotion.*`: pull requests, proposals, failures) with
    /// `from <= seq <= to`, in `seq` order, through their partial index (migration 0004):
    /// reading them costs what they are, not the length of the chain.
    pub fn promotion_events(&self, from: u64, to: u64) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        // Verbatim the index's predicate, which is what lets the planners use it.
        self.events_where(from, to, " AND action LIKE 'promotion.%'")
    }

    /// Streams the break-glass events (`admission.break_glass`, `break_glass.review_requested`,
    /// `break_glass.reviewed`) with `from <= seq <= to`, in `seq` order, through their partial
    /// index (migration 0007).
    pub fn break_glass_events(&self, from: u64, to: u64) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        // Verbatim the index's predicate, which is what lets the planners use it.
        self.events_where(from, to, " AND action IN ('admission.break_glass', 'break_glass.review_requested', 'break_glass.reviewed')")
    }

    fn events_where(&self, from: u64, to: u64, filter: &'static str) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        let (from, to) = (from.min(i64::MAX as u64) as i64, to.min(i64::MAX as u64) as i64);
        type Row = (i64, String, String, String, String, Vec<u8>, Vec<u8>, Vec<u8>);
        let map = |r: Result<Row, sqlx::Error>| {
            let (seq, time, actor, action, subject, body, prev, hash) = r.map_err(query_err("read audit events"))?;
            let seq = seq as u64;
            Ok(StoredEvent {
                seq,
                time,
                actor,
                action,
                subject,
                body,
                prev_hash: to_hash(&prev, "audit_events", seq)?,
                hash: to_hash(&hash, "audit_events", seq)?,
            })
        };
        const COLUMNS: &str = "SELECT seq, time, actor, action, subject, body, prev_hash, hash FROM audit_events";
        match &self.backend {
            Backend::Sqlite(pool) => {
                let sql = format!("{COLUMNS} WHERE seq >= ? AND seq <= ?{filter} ORDER BY seq");
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch(pool).map(map).boxed()
            }
            Backend::Postgres(pool) => {
                let sql = format!("{COLUMNS} WHERE seq >= $1 AND seq <= $2{filter} ORDER BY seq");
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch(pool).map(map).boxed()
            }
        }
    }

    /// The `seq` range of events whose time lies in `[from, to]` (times as the log writes them),
    /// or `None` when there are none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn seq_range_for_times(&self, from: &str, to: &str) -> Result<Option<(u64, u64)>, StoreError> {
        let row: (Option<i64>, Option<i64>) = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_events WHERE time >= ? AND time <= ?")
                    .bind(from)
                    .bind(to)
                    .fetch_one(pool)
                    .await
            }
            Backend::Postgres(pool) => {
                sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_events WHERE time >= $1 AND time <= $2")
                    .bind(from)
                    .bind(to)
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(query_err("find events by time"))?;
        Ok(match row {
            (Some(a), Some(b)) => Some((a as u64, b as u64)),
            _ => None,
        })
    }

    /// Stores a signed checkpoint. Storing the same size twice is refused by the primary key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn insert_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        let sqlite = "INSERT INTO audit_checkpoints (size, chain_hash, root, time, key_id, note, frontier) VALUES (?, ?, ?, ?, ?, ?, ?)";
        let pg = "INSERT INTO audit_checkpoints (size, chain_hash, root, time, key_id, note, frontier) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        macro_rules! run {
            ($pool:expr, $sql:expr) => {
                sqlx::query($sql)
                    .bind(cp.size as i64)
                    .bind(&cp.chain_hash[..])
                    .bind(&cp.root[..])
                    .bind(&cp.time)
                    .bind(&cp.key_id)
                    .bind(&cp.note)
                    .bind(&cp.frontier)
                    .execute($pool)
                    .await
                    .map(|_| ())
            };
        }
        match &self.backend {
            Backend::Sqlite(pool) => run!(pool, sqlite),
            Backend::Postgres(pool) => run!(pool, pg),
        }
        .map_err(query_err("store a checkpoint"))?;
        Ok(())
    }

    /// All checkpoints, by size.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] or [`StoreError::BadHash`].
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let sql = "SELECT size, chain_hash, root, time, key_id, note, frontier FROM audit_checkpoints ORDER BY size";
        type Row = (i64, Vec<u8>, Vec<u8>, String, String, String, Vec<u8>);
        let rows: Vec<Row> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .map_err(query_err("read checkpoints"))?;
        rows.into_iter()
            .map(|(size, chain, root, time, key_id, note, frontier)| {
                let size = size as u64;
                Ok(StoredCheckpoint {
                    size,
                    chain_hash: to_hash(&chain, "audit_checkpoints", size)?,
                    root: to_hash(&root, "audit_checkpoints", size)?,
                    time,
                    key_id,
                    note,
                    frontier,
                })
            })
            .collect()
    }

    /// Streams the records of `kind` whose audit events lie in `from_seq..=to_seq`, in event order.
    pub fn records(&self, kind: RecordKind, from_seq: u64, to_seq: u64) -> BoxStream<'_, Result<StoredRecord, StoreError>> {
        let table = kind.table();
        let (from, to) = (from_seq.min(i64::MAX as u64) as i64, to_seq.min(i64::MAX as u64) as i64);
        let map = move |r: Result<(i64, String, String, String, i64), sqlx::Error>| {
            let (id, subject, doc, recorded_at, seq) = r.map_err(query_err("read records"))?;
            let doc = serde_json::from_str(&doc).map_err(|source| StoreError::BadRecord { table, id, source })?;
            Ok(StoredRecord { id, subject, doc, recorded_at, audit_seq: seq as u64 })
        };
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE audit_seq >= ? AND audit_seq <= ? ORDER BY audit_seq, id"
            )))
            .bind(from)
            .bind(to)
            .fetch(pool)
            .map(map)
            .boxed(),
            Backend::Postgres(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE audit_seq >= $1 AND audit_seq <= $2 ORDER BY audit_seq, id"
            )))
            .bind(from)
            .bind(to)
            .fetch(pool)
            .map(map)
            .boxed(),
        }
    }

    /// Creates the scratch table of [`Store::bench_plain_insert`], shaped like `audit_events`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    #[doc(hidden)]
    pub async fn bench_prepare(&self) -> Result<(), StoreError> {
        // Same shape as `audit_events`, including the time index, so that only the audit
        // work (encoding, hashing, head lock and compare-and-swap) differs.
        let sqlite = "CREATE TABLE IF NOT EXISTS bench_plain (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, \
                      actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, body BLOB NOT NULL, \
                      prev_hash BLOB NOT NULL, hash BLOB NOT NULL)";
        let pg = "CREATE TABLE IF NOT EXISTS bench_plain (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, \
                  actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, body BYTEA NOT NULL, \
                  prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL)";
        let index = "CREATE INDEX IF NOT EXISTS bench_plain_time ON bench_plain (time)";
        let result: Result<(), sqlx::Error> = async {
            match &self.backend {
                Backend::Sqlite(pool) => {
                    sqlx::query(sqlite).execute(pool).await?;
                    sqlx::query(index).execute(pool).await?;
                }
                Backend::Postgres(pool) => {
                    sqlx::query(pg).execute(pool).await?;
                    sqlx::query(index).execute(pool).await?;
                }
            }
            Ok(())
        }
        .await;
        result.map_err(query_err("create the bench table"))
    }

    /// Plain inserts of pre-built rows with the same durability and batching as
    /// [`Store::append`] but no head lock, hashing or compare-and-swap: the baseline the
    /// benchmark compares appends against. It writes to a scratch table, never to the chain.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    #[doc(hidden)]
    pub async fn bench_plain_insert(&self, first_seq: u64, rows: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(query_err("begin"))?;
                for (i, (time, body)) in rows.iter().enumerate() {
                    sqlx::query("INSERT INTO bench_plain (seq, time, actor, action, subject, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                        .bind((first_seq + i as u64) as i64).bind(time).bind("bench").bind("bench.plain").bind("bench")
                        .bind(body).bind(&GENESIS[..]).bind(&GENESIS[..])
                        .execute(&mut *tx).await.map_err(query_err("insert"))?;
                }
                tx.commit().await.map_err(query_err("commit"))?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(query_err("begin"))?;
                for (i, (time, body)) in rows.iter().enumerate() {
                    sqlx::query("INSERT INTO bench_plain (seq, time, actor, action, subject, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind((first_seq + i as u64) as i64).bind(time).bind("bench").bind("bench.plain").bind("bench")
                        .bind(body).bind(&GENESIS[..]).bind(&GENESIS[..])
                        .execute(&mut *tx).await.map_err(query_err("insert"))?;
                }
                tx.commit().await.map_err(query_err("commit"))?;
            }
        }
        Ok(())
    }
}

/// The time for the next events: now, but never before the previous event, so that time order
/// follows `seq` order even when replicas' clocks disagree.
fn next_time(previous: &str) -> String {
    let now = event::now();
    if now.as_str() < previous { previous.to_owned() } else { now }
}

/// Event `seq` of an append: encoded at `time` and chained to `prev`.
fn build_one(e: &NewEvent, seq: u64, prev: Hash, time: &str) -> Result<StoredEvent, StoreError> {
    let body = e.encode(seq, time)?;
    let hash = event::chain_hash(&prev, &body);
    Ok(StoredEvent {
        seq,
        time: time.to_owned(),
        actor: e.actor.clone(),
        action: e.action.clone(),
        subject: e.subject.clone(),
        body,
        prev_hash: prev,
        hash,
    })
}
