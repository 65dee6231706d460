//! The controller's queries: records by subject, API tokens and leader election.

use super::{Backend, RecordKind, Store, StoreError, StoredRecord, query_err};
use sqlx::Connection as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An API token as stored: the secret itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's public id (the part before the secret).
    pub id: String,
    /// The user it authenticates.
    pub user: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// The audit event that recorded its creation.
    pub audit_seq: u64,
}

type RecordRow = (i64, String, String, String, i64);

fn to_record(kind: RecordKind, row: RecordRow) -> Result<StoredRecord, StoreError> {
    let (id, subject, doc, recorded_at, seq) = row;
    let doc = serde_json::from_str(&doc).map_err(|source| StoreError::BadRecord { table: kind.table(), id, source })?;
    Ok(StoredRecord { id, subject, doc, recorded_at, audit_seq: seq as u64 })
}

type TokenTuple = (String, String, Vec<u8>, String, Option<String>, i64);

fn to_token(row: TokenTuple) -> TokenRow {
    let (id, user, secret_hash, created_at, revoked_at, seq) = row;
    TokenRow { id, user, secret_hash, created_at, revoked_at, audit_seq: seq as u64 }
}

impl Store {
    /// Every record of `kind` about `subject`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] or [`StoreError::BadRecord`].
    pub async fn records_for(&self, kind: RecordKind, subject: &str) -> Result<Vec<StoredRecord>, StoreError> {
        let table = kind.table();
        let rows: Vec<RecordRow> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE subject = ? ORDER BY audit_seq, id"
                )))
                .bind(subject)
                .fetch_all(pool)
                .await
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE subject = $1 ORDER BY audit_seq, id"
                )))
                .bind(subject)
                .fetch_all(pool)
                .await
            }
        }
        .map_err(query_err("read records by subject"))?;
        rows.into_iter().map(|r| to_record(kind, r)).collect()
    }

    /// The newest record of `kind` about `subject`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] or [`StoreError::BadRecord`].
    pub async fn latest_record(&self, kind: RecordKind, subject: &str) -> Result<Option<StoredRecord>, StoreError> {
        let table = kind.table();
        let row: Option<RecordRow> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE subject = ? ORDER BY audit_seq DESC, id DESC LIMIT 1"
            )))
            .bind(subject)
            .fetch_optional(pool)
            .await,
            Backend::Postgres(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, subject, doc, recorded_at, audit_seq FROM {table} WHERE subject = $1 ORDER BY audit_seq DESC, id DESC LIMIT 1"
            )))
            .bind(subject)
            .fetch_optional(pool)
            .await,
        }
        .map_err(query_err("read the latest record"))?;
        row.map(|r| to_record(kind, r)).transpose()
    }

    /// Records a new API token (after its creation event was appended).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`], also when the id is taken.
    pub async fn insert_token(&self, token: &TokenRow) -> Result<(), StoreError> {
        let seq = token.audit_seq.min(i64::MAX as u64) as i64;
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(
                "INSERT INTO api_tokens (id, user_name, secret_hash, created_at, revoked_at, audit_seq) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&token.id)
            .bind(&token.user)
            .bind(&token.secret_hash)
            .bind(&token.created_at)
            .bind(&token.revoked_at)
            .bind(seq)
            .execute(pool)
            .await
            .map(drop),
            Backend::Postgres(pool) => sqlx::query(
                "INSERT INTO api_tokens (id, user_name, secret_hash, created_at, revoked_at, audit_seq) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&token.id)
            .bind(&token.user)
            .bind(&token.secret_hash)
            .bind(&token.created_at)
            .bind(&token.revoked_at)
            .bind(seq)
            .execute(pool)
            .await
            .map(drop),
        }
        .map_err(query_err("insert an api token"))?;
        Ok(())
    }

    /// The token with public id `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = "SELECT id, user_name, secret_hash, created_at, revoked_at, audit_seq FROM api_tokens WHERE id = ";
        let row: Option<TokenTuple> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}?"))).bind(id).fetch_optional(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}$1"))).bind(id).fetch_optional(pool).await,
        }
        .map_err(query_err("read an api token"))?;
        Ok(row.map(to_token))
    }

    /// Every token, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let sql = "SELECT id, user_name, secret_hash, created_at, revoked_at, audit_seq FROM api_tokens ORDER BY audit_seq";
        let rows: Vec<TokenTuple> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .map_err(query_err("list api tokens"))?;
        Ok(rows.into_iter().map(to_token).collect())
    }

    /// Marks a token revoked; false when there is no such live token.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn revoke_token(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Backend::Postgres(pool) => sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(query_err("revoke an api token"))?;
        Ok(rows == 1)
    }

    /// Tries to become the leader named `name` (one per config repo). On PostgreSQL this takes a
    /// session advisory lock on a connection of its own, held until the [`Leadership`] is
    /// dropped or the process dies; on SQLite it takes a lease of `ttl` that
    /// [`Leadership::renew`] extends.
    ///
    /// # Guarantees
    ///
    /// At most one live [`Leadership`] per name and database, across processes and replicas.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the database fails; `Ok(None)` when another holder leads.
    pub async fn try_lead(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Leadership>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await.map_err(query_err("connect for the leader lock"))?.detach();
                let key = lock_key(name);
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(query_err("take the leader lock"))?;
                if got {
                    Ok(Some(Leadership { inner: Inner::Postgres(Some(conn)), name: name.to_owned(), holder: holder.to_owned(), ttl }))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
            Backend::Sqlite(pool) => {
                let lease = Leadership { inner: Inner::Sqlite(pool.clone()), name: name.to_owned(), holder: holder.to_owned(), ttl };
                if lease.renew_sqlite().await? { Ok(Some(lease)) } else { Ok(None) }
            }
        }
    }
}

fn lock_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("tollgate-leader:{name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
}

/// The right to reconcile and promote, held by one process at a time.
#[derive(Debug)]
pub struct Leadership {
    inner: Inner,
    name: String,
    holder: String,
    ttl: Duration,
}

#[derive(Debug)]
enum Inner {
    Postgres(Option<sqlx::PgConnection>),
    Sqlite(sqlx::SqlitePool),
}

impl Leadership {
    /// Confirms (and on SQLite extends) the leadership before acting on it; false when it was
    /// lost (the lock's connection died, or the lease expired and someone else took it).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the database cannot be asked.
    pub async fn renew(&mut self) -> Result<bool, StoreError> {
        match &mut self.inner {
            Inner::Postgres(conn) => {
                let Some(c) = conn.as_mut() else { return Ok(false) };
                if c.ping().await.is_ok() {
                    Ok(true)
                } else {
                    *conn = None;
                    Ok(false)
                }
            }
            Inner::Sqlite(_) => self.renew_sqlite().await,
        }
    }

    async fn renew_sqlite(&self) -> Result<bool, StoreError> {
        let Inner::Sqlite(pool) = &self.inner else { return Ok(false) };
        let now = now_millis();
        let until = now.saturating_add(self.ttl.as_millis().min(i64::MAX as u128) as i64);
        let done = sqlx::query(
            "INSERT INTO leader_lease (name, holder, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leader_lease.holder = excluded.holder OR leader_lease.expires_at < ?",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(until)
        .bind(now)
        .execute(pool)
        .await
        .map_err(query_err("take the leader lease"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the leadership up at once, so another replica can take over without waiting.
    pub async fn release(mut self) {
        match &mut self.inner {
            Inner::Postgres(conn) => {
                if let Some(mut c) = conn.take() {
                    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(lock_key(&self.name)).execute(&mut c).await;
                    let _ = c.close().await;
                }
            }
            Inner::Sqlite(pool) => {
                let _ = sqlx::query("DELETE FROM leader_lease WHERE name = ? AND holder = ?")
                    .bind(&self.name)
                    .bind(&self.holder)
                    .execute(&*pool)
                    .await;
            }
        }
    }
}
