//! The dashboard's sign-in sessions: a person posts an API token once, and the server answers
//! with a cookie holding an opaque random session id (never the token), `HttpOnly`,
//! `SameSite=Strict`, `Path=/` and, over TLS, `Secure`. Each session has a CSRF token that every
//! form carries (a synchronizer token); both are compared in constant time.
//!
//! Sessions live in this process's memory: a restart signs everyone out, and behind a load
//! balancer a person needs the same replica (see docs/dashboard.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "tollgate_session";

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// At most this many sessions are kept; signing in beyond it drops the oldest.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user their token belongs to.
    pub user: String,
    /// The id of the token they signed in with: a session ends when the token is revoked.
    pub token_id: String,
    /// The CSRF token of their forms.
    pub csrf: String,
    created: Instant,
}

#[derive(Debug)]
struct Entry {
    /// SHA-256 of the session id: the map is keyed by it, and the id is compared with it.
    hash: [u8; 32],
    session: Session,
}

/// The sessions of this process.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Entry>>,
    /// Whether cookies are marked `Secure` (the server speaks TLS).
    secure: bool,
}

/// The random parts of a session could not be made.
#[derive(Debug, thiserror::Error)]
#[error("no random bytes for a session id")]
pub struct NoRandom;

fn random_hex() -> Result<String, NoRandom> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| NoRandom)?;
    Ok(hex::encode(bytes))
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// No sessions; cookies `Secure` when `secure`.
    pub fn new(secure: bool) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), secure }
    }

    /// Starts a session for `user`, signed in with token `token_id`; its id (for the cookie).
    ///
    /// # Errors
    ///
    /// [`NoRandom`] when the system has no random bytes to give.
    pub fn start(&self, user: &str, token_id: &str) -> Result<String, NoRandom> {
        let id = random_hex()?;
        let session = Session { user: user.to_owned(), token_id: token_id.to_owned(), csrf: random_hex()?, created: Instant::now() };
        let h = hash(&id);
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, e| e.session.created.elapsed() < LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.session.created).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(h, Entry { hash: h, session });
        Ok(id)
    }

    /// The live session of cookie value `id`, if there is one.
    pub fn get(&self, id: &str) -> Option<Session> {
        let h = hash(id);
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.get(&h)?;
        if !bool::from(entry.hash.ct_eq(&h)) {
            return None;
        }
        if entry.session.created.elapsed() >= LIFETIME {
            map.remove(&h);
            return None;
        }
        Some(entry.session.clone())
    }

    /// Ends the session of cookie value `id`.
    pub fn end(&self, id: &str) {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&hash(id));
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

    #[test]
    fn sessions_are_opaque_and_end() {
        let s = Sessions::new(true);
        let id = s.start("bob", "abc123").expect("start");
        assert_eq!(id.len(), 64);
        let session = s.get(&id).expect("live");
        assert_eq!((session.user.as_str(), session.token_id.as_str()), ("bob", "abc123"));
        assert_ne!(session.csrf, id);
        assert!(s.get(&format!("{}0", &id[..63])).is_none() || id.ends_with('0'));
        assert!(s.cookie(&id).ends_with("; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure"));
        assert!(!Sessions::new(false).cookie(&id).contains("Secure"));
        assert!(csrf_ok(&session, Some(&session.csrf)));
        assert!(!csrf_ok(&session, Some("")) && !csrf_ok(&session, None) && !csrf_ok(&session, Some(&id)));
        s.end(&id);
        assert!(s.get(&id).is_none());
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
