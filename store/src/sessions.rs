//! The dashboard's sign-in sessions, shared by every replica that serves the store: rows keyed
//! by the SHA-256 of the session id (the id itself, the cookie's value, is never stored).

use super::{Backend, Store, StoreError, query_err};

/// A sign-in session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session id.
    pub id_hash: [u8; 32],
    /// The user who signed in.
    pub user: String,
    /// The id of the API token they signed in with.
    pub token_id: String,
    /// Their forms' CSRF token.
    pub csrf: String,
    /// When the session ends, Unix seconds.
    pub expires_at: i64,
}

type SessionTuple = (Vec<u8>, String, String, String, i64);

impl Store {
    /// Stores a new session, deleting the sessions that ended before `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn start_session(&self, row: &SessionRow, now: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= ?").bind(now).execute(pool).await.map(drop)
            }
            Backend::Postgres(pool) => {
                sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1").bind(now).execute(pool).await.map(drop)
            }
        }
        .map_err(query_err("delete ended dashboard sessions"))?;
        macro_rules! run {
            ($pool:expr, $placeholders:literal) => {
                sqlx::query(concat!(
                    "INSERT INTO dashboard_sessions (id_hash, user_name, token_id, csrf, expires_at) VALUES ",
                    $placeholders
                ))
                .bind(&row.id_hash[..])
                .bind(&row.user)
                .bind(&row.token_id)
                .bind(&row.csrf)
                .bind(row.expires_at)
                .execute($pool)
                .await
                .map(drop)
            };
        }
        match &self.backend {
            Backend::Sqlite(pool) => run!(pool, "(?, ?, ?, ?, ?)"),
            Backend::Postgres(pool) => run!(pool, "($1, $2, $3, $4, $5)"),
        }
        .map_err(query_err("start a dashboard session"))
    }

    /// The session whose id hashes to `id_hash`, if it has not ended by `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn session(&self, id_hash: &[u8; 32], now: i64) -> Result<Option<SessionRow>, StoreError> {
        let sql = "SELECT id_hash, user_name, token_id, csrf, expires_at FROM dashboard_sessions WHERE id_hash = ";
        let row: Option<SessionTuple> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}? AND expires_at > ?")))
                    .bind(&id_hash[..])
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}$1 AND expires_at > $2")))
                    .bind(&id_hash[..])
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(query_err("read a dashboard session"))?;
        Ok(row.and_then(|(hash, user, token_id, csrf, expires_at)| {
            let id_hash: [u8; 32] = hash.try_into().ok()?;
            Some(SessionRow { id_hash, user, token_id, csrf, expires_at })
        }))
    }

    /// Ends the session whose id hashes to `id_hash` (nothing when there is none).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn end_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = ?").bind(&id_hash[..]).execute(pool).await.map(drop)
            }
            Backend::Postgres(pool) => {
                sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1").bind(&id_hash[..]).execute(pool).await.map(drop)
            }
        }
        .map_err(query_err("end a dashboard session"))
    }
}
