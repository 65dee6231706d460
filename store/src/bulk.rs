//! The bulk read path: audit events in batches, read ahead of the caller, for callers that walk
//! the whole log (`audit verify`).
//!
//! sqlx hands rows over one at a time through its worker thread, which costs more than hashing
//! them (ADR 0024). On a SQLite file this path opens its own read-only connection with
//! rusqlite (linked to the same `libsqlite3-sys` as sqlx) on a blocking thread, steps the
//! statement there and copies each batch of rows into two buffers. On PostgreSQL it streams the
//! rows with a binary `COPY … TO STDOUT` on a task. On an in-memory SQLite database it batches
//! [`Store::events`]. Either way the rows and their order are exactly those of
//! [`Store::events`]; the same tests check both paths.

use super::{Backend, Store, StoreError, to_hash};
use futures_util::StreamExt as _;
use sqlx::postgres::{PgConnection, PgPool};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tollgate_audit::{BATCH_ROWS, EventBatch, EventRef};

#[cfg(test)]
mod tests;

/// Batches read ahead of the consumer.
const READ_AHEAD: usize = 4;

/// Batches of events in `seq` order, read ahead; see [`Store::event_batches`]. Dropping it
/// stops the reader.
#[derive(Debug)]
pub struct EventBatches {
    rx: mpsc::Receiver<Result<EventBatch, StoreError>>,
}

impl EventBatches {
    /// The next batch, or `None` after the last one (or after an error).
    pub async fn next(&mut self) -> Option<Result<EventBatch, StoreError>> {
        self.rx.recv().await
    }

    /// [`EventBatches::next`] for synchronous code.
    ///
    /// # Panics
    ///
    /// When called from asynchronous code (use it in `spawn_blocking`).
    pub fn blocking_next(&mut self) -> Option<Result<EventBatch, StoreError>> {
        self.rx.blocking_recv()
    }
}

impl Store {
    /// Streams the events with `from <= seq <= to` in `seq` order, in batches of up to
    /// [`BATCH_ROWS`], read ahead on a blocking thread (SQLite files) or a task (PostgreSQL's
    /// binary `COPY`). Must be called within a Tokio runtime.
    ///
    /// # Guarantees
    ///
    /// Exactly the rows [`Store::events`] returns, in the same order; an error ends the
    /// stream. At most a few batches are held in memory, however long the log.
    pub fn event_batches(&self, from: u64, to: u64) -> EventBatches {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let (from_sql, to_sql) = (from.min(i64::MAX as u64) as i64, to.min(i64::MAX as u64) as i64);
        match &self.backend {
            Backend::Sqlite(_) if self.sqlite_file.is_some() => {
                let path = self.sqlite_file.clone().unwrap_or_default();
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = read_sqlite_file(path, from_sql, to_sql, &tx) {
                        let _ = tx.blocking_send(Err(err));
                    }
                });
            }
            Backend::Postgres(pool) => {
                let pool = pool.clone();
                tokio::spawn(async move {
                    if let Err(err) = read_pg_copy(pool, from_sql, to_sql, &tx).await {
                        let _ = tx.send(Err(err)).await;
                    }
                });
            }
            Backend::Sqlite(_) => {
                let store = self.clone();
                tokio::spawn(async move {
                    let mut rows = store.events(from, to);
                    let mut batch = EventBatch::with_capacity(BATCH_ROWS);
                    while let Some(row) = rows.next().await {
                        let row = match row {
                            Ok(row) => row,
                            Err(err) => {
                                let _ = tx.send(Err(err)).await;
                                return;
                            }
                        };
                        batch.push(EventRef {
                            seq: row.seq,
                            time: &row.time,
                            actor: &row.actor,
                            action: &row.action,
                            subject: &row.subject,
                            body: &row.body,
                            prev_hash: &row.prev_hash,
                            hash: &row.hash,
                        });
                        if batch.len() == BATCH_ROWS
                            && tx.send(Ok(std::mem::replace(&mut batch, EventBatch::with_capacity(BATCH_ROWS)))).await.is_err()
                        {
                            return;
                        }
                    }
                    if !batch.is_empty() {
                        let _ = tx.send(Ok(batch)).await;
                    }
                });
            }
        }
        EventBatches { rx }
    }
}

/// Reads the rows on the calling (blocking) thread and sends them in batches until the range
/// ends or the receiver is dropped.
fn read_sqlite_file(path: PathBuf, from: i64, to: i64, tx: &mpsc::Sender<Result<EventBatch, StoreError>>) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    let read = |source| StoreError::BulkRead { source };
    // Read-only and outside sqlx's pool: WAL lets it read one consistent snapshot while
    // writers append.
    let conn =
        rusqlite::Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(read)?;
    conn.busy_timeout(Duration::from_secs(120)).map_err(read)?;
    let mut stmt = conn
        .prepare(
            "SELECT seq, time, actor, action, subject, body, prev_hash, hash FROM audit_events \
             WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
        )
        .map_err(read)?;
    let mut rows = stmt.query((from, to)).map_err(read)?;
    let mut batch = EventBatch::with_capacity(BATCH_ROWS);
    while let Some(row) = rows.next().map_err(read)? {
        let column = |i: usize| row.get_ref(i).map_err(read);
        let seq = column(0)?.as_i64().map_err(|e| read(e.into()))? as u64;
        let text = |i: usize| -> Result<&str, StoreError> {
            column(i)?.as_str().map_err(|_| StoreError::NotText { table: "audit_events", key: seq })
        };
        let bytes = |i: usize| -> Result<&[u8], StoreError> { column(i)?.as_bytes().map_err(|e| read(e.into())) };
        batch.push(EventRef {
            seq,
            time: text(1)?,
            actor: text(2)?,
            action: text(3)?,
            subject: text(4)?,
            body: bytes(5)?,
            prev_hash: &to_hash(bytes(6)?, "audit_events", seq)?,
            hash: &to_hash(bytes(7)?, "audit_events", seq)?,
        });
        if batch.len() == BATCH_ROWS && tx.blocking_send(Ok(std::mem::replace(&mut batch, EventBatch::with_capacity(BATCH_ROWS)))).is_err()
        {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}

/// Reads the rows with `COPY … TO STDOUT (FORMAT binary)`, which streams them without a
/// round trip per batch or sqlx's decoding per row, and sends them in batches until the range
/// ends or the receiver is dropped.
async fn read_pg_copy(pool: PgPool, from: i64, to: i64, tx: &mpsc::Sender<Result<EventBatch, StoreError>>) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(|source| StoreError::Query { op: "copy audit events", source })?;
    let copied = copy_events(&mut conn, from, to, tx).await;
    // A COPY abandoned half-way (the receiver stopped reading, or an error) leaves the
    // connection mid-protocol; it must not go back to the pool.
    if !matches!(copied, Ok(true)) {
        conn.close_on_drop();
    }
    copied.map(|_| ())
}

/// The body of [`read_pg_copy`]; `Ok(false)` when the receiver went away first.
async fn copy_events(
    conn: &mut PgConnection,
    from: i64,
    to: i64,
    tx: &mpsc::Sender<Result<EventBatch, StoreError>>,
) -> Result<bool, StoreError> {
    let copy = |source| StoreError::Query { op: "copy audit events", source };
    // COPY takes no bind parameters; the bounds are integers.
    let sql = format!(
        "COPY (SELECT seq, time, actor, action, subject, body, prev_hash, hash FROM audit_events \
         WHERE seq >= {from} AND seq <= {to} ORDER BY seq) TO STDOUT (FORMAT binary)"
    );
    let mut chunks = conn.copy_out_raw(&sql).await.map_err(copy)?;
    let mut input = CopyInput::default();
    let mut batch = EventBatch::with_capacity(BATCH_ROWS);
    while let Some(chunk) = chunks.next().await {
        input.buf.extend_from_slice(&chunk.map_err(copy)?);
        while input.next_row(&mut batch)? {
            if batch.len() == BATCH_ROWS && tx.send(Ok(std::mem::replace(&mut batch, EventBatch::with_capacity(BATCH_ROWS)))).await.is_err()
            {
                return Ok(false);
            }
        }
        input.buf.drain(..input.pos);
        input.pos = 0;
    }
    if !input.ended {
        return Err(StoreError::CopyFormat { reason: "the data ends before its trailer" });
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    Ok(true)
}

/// What opens PostgreSQL's binary COPY data.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Binary COPY data received so far, parsed a whole row at a time.
#[derive(Debug, Default)]
struct CopyInput {
    buf: Vec<u8>,
    /// Where the next unparsed byte is.
    pos: usize,
    header_read: bool,
    /// The trailer was read.
    ended: bool,
}

impl CopyInput {
    /// Parses the next complete row into `batch`; `false` when more bytes are needed or the
    /// data has ended.
    fn next_row(&mut self, batch: &mut EventBatch) -> Result<bool, StoreError> {
        let bad = |reason| StoreError::CopyFormat { reason };
        let mut at = self.pos;
        let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
            let bytes = self.buf.get(*at..*at + n)?;
            *at += n;
            Some(bytes)
        };
        let int = |bytes: &[u8]| bytes.iter().fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
        if !self.header_read {
            let Some(head) = take(&mut at, COPY_SIGNATURE.len() + 8) else { return Ok(false) };
            if &head[..COPY_SIGNATURE.len()] != COPY_SIGNATURE {
                return Err(bad("the signature is missing"));
            }
            let extension = int(&head[COPY_SIGNATURE.len() + 4..]) as usize;
            if take(&mut at, extension).is_none() {
                return Ok(false);
            }
            self.header_read = true;
            self.pos = at;
        }
        if self.ended {
            return Ok(false);
        }
        let Some(count) = take(&mut at, 2) else { return Ok(false) };
        match i16::from_be_bytes([count[0], count[1]]) {
            -1 => {
                self.ended = true;
                self.pos = at;
                return Ok(false);
            }
            8 => {}
            _ => return Err(bad("a row does not have 8 columns")),
        }
        let mut fields: [&[u8]; 8] = [&[]; 8];
        for field in &mut fields {
            let Some(len) = take(&mut at, 4) else { return Ok(false) };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let len = usize::try_from(len).map_err(|_| bad("a column is NULL"))?;
            let Some(bytes) = take(&mut at, len) else { return Ok(false) };
            *field = bytes;
        }
        let [seq, time, actor, action, subject, body, prev_hash, hash] = fields;
        if seq.len() != 8 {
            return Err(bad("`seq` is not a bigint"));
        }
        let seq = int(seq) as u64;
        let text = |bytes| std::str::from_utf8(bytes).map_err(|_| StoreError::NotText { table: "audit_events", key: seq });
        batch.push(EventRef {
            seq,
            time: text(time)?,
            actor: text(actor)?,
            action: text(action)?,
            subject: text(subject)?,
            body,
            prev_hash: &to_hash(prev_hash, "audit_events", seq)?,
            hash: &to_hash(hash, "audit_events", seq)?,
        });
        self.pos = at;
        Ok(true)
    }
}
