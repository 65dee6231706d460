//! The dashboard's sign-in sessions: a person posts an API token once, and the server answers
//! with a cookie holding an opaque random session id (never the token), `HttpOnly`,
//! `SameSite=Strict`, `Path=/` and, over TLS, `Secure`. Each session has a CSRF token that every
//! form carries (a synchronizer token); both are compared in constant time.
//!
//! Sessions live in the store (`dashboard_sessions`, keyed by the SHA-256 of the id), so every
//! replica behind a load balancer knows them and a restart signs nobody out; a session ends
//! when it expires, when its person signs out, or when the token they signed in with is
//! revoked (checked on every request).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_store::{SessionRow, Store, StoreError};

/// The cookie's name.
pub const COOKIE: &str = "tollgate_session";

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user their token belongs to.
    pub user: String,
    /// The id of the token they signed in with: a session ends when the token is revoked.
    pub token_id: String,
    /// The CSRF token of their forms.
    pub csrf: String,
}

/// How sessions are handed out: their cookies' attributes.
#[derive(Debug)]
pub struct Sessions {
    /// Whether cookies are marked `Secure` (the server speaks TLS).
    secure: bool,
}

/// Why a session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The system has no random bytes to give.
    #[error("no random bytes for a session id")]
    NoRandom,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn random_hex() -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| SessionError::NoRandom)?;
    Ok(hex::encode(bytes))
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Sessions {
    /// Cookies `Secure` when `secure`.
    pub fn new(secure: bool) -> Sessions {
        Sessions { secure }
    }

    /// Starts a session in `store` for `user`, signed in with token `token_id`; its id (for
    /// the cookie).
    ///
    /// # Errors
    ///
    /// [`SessionError`]: no random bytes, or the store failed.
    pub async fn start(&self, store: &Store, user: &str, token_id: &str) -> Result<String, SessionError> {
        let id = random_hex()?;
        let now = unix_now();
        let lifetime = i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let row = SessionRow {
            id_hash: hash(&id),
            user: user.to_owned(),
            token_id: token_id.to_owned(),
            csrf: random_hex()?,
            expires_at: now.saturating_add(lifetime),
        };
        store.start_session(&row, now).await?;
        Ok(id)
    }

    /// The live session of cookie value `id`, if there is one.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn get(&self, store: &Store, id: &str) -> Result<Option<Session>, StoreError> {
        let h = hash(id);
        let Some(row) = store.session(&h, unix_now()).await? else { return Ok(None) };
        if !bool::from(row.id_hash.ct_eq(&h)) {
            return Ok(None);
        }
        Ok(Some(Session { user: row.user, token_id: row.token_id, csrf: row.csrf }))
    }

    /// Ends the session of cookie value `id`.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn end(&self, store: &Store, id: &str) -> Result<(), StoreError> {
        store.end_session(&hash(id)).await
    }

    /// The `Set-Cookie` value that hands out session `id`.
    pub fn cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            LIFETIME.as_secs(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn removal(&self) -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", if self.secure { "; Secure" } else { "" })
    }
}

/// Whether a posted CSRF token is the session's (constant time; an empty one never is).
pub fn csrf_ok(session: &Session, posted: Option<&str>) -> bool {
    match posted {
        Some(p) if !p.is_empty() && p.len() == session.csrf.len() => bool::from(p.as_bytes().ct_eq(session.csrf.as_bytes())),
        _ => false,
    }
}

/// The session id in a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions in the store: opaque ids, only their hash kept, one replica's session known to
    /// another (a second store over the same database), ended by sign-out.
    #[tokio::test]
    async fn sessions_are_opaque_shared_by_replicas_and_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let (a, b) = (Store::open(&url).await.expect("store"), Store::open(&url).await.expect("store"));
        let s = Sessions::new(true);
        let id = s.start(&a, "bob", "abc123").await.expect("start");
        assert_eq!(id.len(), 64);
        let session = s.get(&b, &id).await.expect("read").expect("live on the other replica");
        assert_eq!((session.user.as_str(), session.token_id.as_str()), ("bob", "abc123"));
        assert_ne!(session.csrf, id);
        let other = format!("{}{}", &id[..63], if id.ends_with('0') { '1' } else { '0' });
        assert!(s.get(&a, &other).await.expect("read").is_none());
        let row = a.session(&hash(&id), unix_now()).await.expect("read").expect("row");
        assert_eq!(row.id_hash, hash(&id), "only the id's hash is stored");
        assert!(row.expires_at > unix_now() + 8 * 3600 - 60);
        assert!(a.session(&hash(&id), row.expires_at).await.expect("read").is_none(), "an ended session is not read");
        assert!(s.cookie(&id).ends_with("; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure"));
        assert!(!Sessions::new(false).cookie(&id).contains("Secure"));
        assert!(csrf_ok(&session, Some(&session.csrf)));
        assert!(!csrf_ok(&session, Some("")) && !csrf_ok(&session, None) && !csrf_ok(&session, Some(&id)));
        s.end(&b, &id).await.expect("end");
        assert!(s.get(&a, &id).await.expect("read").is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.append(axum::http::header::COOKIE, "a=1; tollgate_session=xyz; b=2".parse().expect("header"));
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        let mut h = axum::http::HeaderMap::new();
        h.append(axum::http::header::COOKIE, "tollgate_session=".parse().expect("header"));
        assert_eq!(cookie_value(&h), None);
    }
}
