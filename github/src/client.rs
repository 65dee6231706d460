//! The one way tollgate calls GitHub's REST API: octocrab carries the request (TLS, base URL,
//! `User-Agent`, the `Authorization` header), this module chooses the credentials, honours rate
//! limits, follows pagination and turns every answer into JSON or a [`GitHubError`].
//!
//! **Credentials.** A GitHub App (`spec.github.app`) is preferred: its JWT is traded for an
//! installation token, cached until five minutes before it expires and minted again when GitHub
//! answers 401. Without an App, a personal token from `spec.github.tokenEnv`. Credentials are read
//! from the environment when the client is made and never logged or put in an error.
//!
//! **Rate limits.** GitHub answers 403 or 429 when a limit holds: the primary one with
//! `x-ratelimit-remaining: 0` and the reset time in `x-ratelimit-reset`, a secondary one with
//! `retry-after`. A wait up to [`Client::with_max_wait`] (default 60 s) is slept inline, logged
//! and counted ([`rate_stats`], served at `/metrics`); a longer one is
//! [`GitHubError::RateLimited`], which callers treat as transient.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::app::AppKey;
use crate::{GitHubError, Target};

/// How long before an installation token expires it is replaced.
const TOKEN_MARGIN_S: i64 = 300;
/// Attempts of one request (rate-limit waits and one 401 retry included).
const ATTEMPTS: usize = 4;
/// Pages followed at most by one listing (100 items each).
const MAX_PAGES: usize = 100;

static WAITS: AtomicU64 = AtomicU64::new(0);
static WAITED_MS: AtomicU64 = AtomicU64::new(0);
static LIMITED: AtomicU64 = AtomicU64::new(0);
static TOKENS_MINTED: AtomicU64 = AtomicU64::new(0);
static REMAINING: AtomicU64 = AtomicU64::new(u64::MAX);

/// What the process's GitHub clients met of rate limits and App tokens, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStats {
    /// Waits slept because a rate limit held.
    pub waits: u64,
    /// Milliseconds slept in them.
    pub waited_ms: u64,
    /// Calls given up because a limit held longer than the client waits.
    pub limited: u64,
    /// Installation tokens minted.
    pub tokens_minted: u64,
    /// The last `x-ratelimit-remaining` GitHub sent (`None` before any).
    pub remaining: Option<u64>,
}

/// The process's [`RateStats`].
pub fn rate_stats() -> RateStats {
    let remaining = REMAINING.load(Ordering::Relaxed);
    RateStats {
        waits: WAITS.load(Ordering::Relaxed),
        waited_ms: WAITED_MS.load(Ordering::Relaxed),
        limited: LIMITED.load(Ordering::Relaxed),
        tokens_minted: TOKENS_MINTED.load(Ordering::Relaxed),
        remaining: (remaining != u64::MAX).then_some(remaining),
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Value,
}

enum Auth {
    Token(String),
    App { id: u64, installation: u64, key: Arc<AppKey> },
}

/// The octocrab client of the current credentials, and when they expire (seconds since the
/// epoch; `None`: a personal token, which does not).
pub(crate) struct Session {
    octo: Octocrab,
    expires: Option<i64>,
}

/// A GitHub client for one repository.
pub struct Client {
    target: Target,
    auth: Auth,
    pub(crate) session: Mutex<Option<Session>>,
    max_wait: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("target", &self.target).field("credentials", &self.credentials()).finish_non_exhaustive()
    }
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Client {
    /// Makes a client, reading its credentials from the environment now: the App's key when
    /// `target.app` is set (with its `installationId`, or else `installation`, the one a
    /// webhook delivery named), else the personal token.
    ///
    /// # Errors
    ///
    /// [`GitHubError::TokenUnavailable`], [`GitHubError::BadAppKey`],
    /// [`GitHubError::NoInstallation`]; [`GitHubError::BadConfig`] when the API URL is not a URL.
    pub fn new(target: Target, installation: Option<u64>) -> Result<Client, GitHubError> {
        let auth = match &target.app {
            Some(app) => {
                let pem = std::env::var(&app.private_key_env).unwrap_or_default();
                return Client::with_app_key(target, installation, &pem);
            }
            None => Auth::Token(
                std::env::var(&target.token_env)
                    .ok()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty() && !t.contains(['\n', '\r', '\0']))
                    .ok_or_else(|| GitHubError::TokenUnavailable { var: target.token_env.clone() })?,
            ),
        };
        // The URL is checked now, so that a bad one is a configuration error, not a failed call.
        Self::octocrab(&target, "")?;
        Ok(Client { target, auth, session: Mutex::new(None), max_wait: Duration::from_secs(60) })
    }

    /// A client authenticating as the GitHub App `target.app` names, with its private key
    /// `pem` given here rather than read from `privateKeyEnv` (a key read from a file).
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadAppKey`], [`GitHubError::NoInstallation`], [`GitHubError::BadConfig`]
    /// (also when `target.app` is not set).
    pub fn with_app_key(target: Target, installation: Option<u64>, pem: &str) -> Result<Client, GitHubError> {
        let Some(app) = &target.app else { return Err(GitHubError::BadConfig("no `app` to authenticate as".into())) };
        let bad = |reason: String| GitHubError::BadAppKey { var: app.private_key_env.clone(), reason };
        if pem.trim().is_empty() {
            return Err(bad("the variable is unset or empty".into()));
        }
        let key = AppKey::from_pem(pem).map_err(bad)?;
        let installation =
            app.installation_id.or(installation).ok_or_else(|| GitHubError::NoInstallation { app_id: app.id, repo: target.full_name() })?;
        let auth = Auth::App { id: app.id, installation, key: Arc::new(key) };
        Self::octocrab(&target, "")?;
        Ok(Client { target, auth, session: Mutex::new(None), max_wait: Duration::from_secs(60) })
    }

    /// Waits for rate limits up to `max` inline (default 60 s); longer ones are errors.
    #[must_use]
    pub fn with_max_wait(mut self, max: Duration) -> Client {
        self.max_wait = max;
        self
    }

    /// The repository.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Where the credentials come from, for messages: `GitHub App N` or `the token from VAR`.
    pub fn credentials(&self) -> String {
        match &self.auth {
            Auth::App { id, installation, .. } => format!("GitHub App {id} (installation {installation})"),
            Auth::Token(_) => format!("the token from `{}`", self.target.token_env),
        }
    }

    fn octocrab(target: &Target, bearer: &str) -> Result<Octocrab, GitHubError> {
        Octocrab::builder()
            .personal_token(bearer.to_owned())
            .base_uri(target.api_url.as_str())
            .map_err(|_| GitHubError::BadConfig(format!("`apiUrl: {}` is not a URL", target.api_url)))?
            .build()
            .map_err(|e| GitHubError::Transport { api: target.api_url.clone(), what: "make a client", source: Box::new(e) })
    }

    /// The client of live credentials, minting an installation token when there is none.
    async fn session(&self) -> Result<Octocrab, GitHubError> {
        let mut session = self.session.lock().await;
        if let Some(s) = session.as_ref()
            && s.expires.is_none_or(|e| e - TOKEN_MARGIN_S > now_s())
        {
            return Ok(s.octo.clone());
        }
        let fresh = match &self.auth {
            Auth::Token(token) => Session { octo: Self::octocrab(&self.target, token)?, expires: None },
            Auth::App { id, installation, key } => {
                let jwt = Self::octocrab(&self.target, &key.jwt(*id, now_s()))?;
                let what = "mint an installation token";
                let uri = format!("/app/installations/{installation}/access_tokens");
                let reply = self.exchange(&jwt, what, Method::POST, &uri, None).await?;
                let token = reply.body.get("token").and_then(Value::as_str).filter(|t| !t.is_empty());
                let expires = reply.body.get("expires_at").and_then(Value::as_str).and_then(|t| t.parse::<jiff::Timestamp>().ok());
                let (Some(token), Some(expires)) = (token, expires) else {
                    return Err(GitHubError::BadAnswer { what, reason: "no `token` and `expires_at`".into() });
                };
                TOKENS_MINTED.fetch_add(1, Ordering::Relaxed);
                tracing::info!(app = id, installation, expires = %expires, "minted a GitHub installation token");
                Session { octo: Self::octocrab(&self.target, token)?, expires: Some(expires.as_second()) }
            }
        };
        let octo = fresh.octo.clone();
        *session = Some(fresh);
        Ok(octo)
    }

    /// Sends one request with the current credentials: `uri` is a path and query under the API
    /// (`/repos/o/r/check-runs`).
    pub(crate) async fn send(&self, what: &'static str, method: Method, uri: &str, body: Option<&Value>) -> Result<Reply, GitHubError> {
        let mut retried_401 = false;
        for _ in 0..ATTEMPTS {
            let octo = self.session().await?;
            match self.exchange(&octo, what, method.clone(), uri, body).await {
                Err(GitHubError::BadCredentials { .. }) if matches!(self.auth, Auth::App { .. }) && !retried_401 => {
                    // The installation token was revoked or expired early: mint another, once.
                    retried_401 = true;
                    *self.session.lock().await = None;
                }
                Err(GitHubError::RateLimited { retry_after, kind, .. }) if retry_after <= self.max_wait => {
                    tracing::warn!(what, kind, wait_ms = retry_after.as_millis() as u64, "GitHub rate limit: waiting");
                    WAITS.fetch_add(1, Ordering::Relaxed);
                    WAITED_MS.fetch_add(retry_after.as_millis() as u64, Ordering::Relaxed);
                    tokio::time::sleep(retry_after).await;
                }
                other => {
                    if matches!(other, Err(GitHubError::RateLimited { .. })) {
                        LIMITED.fetch_add(1, Ordering::Relaxed);
                    }
                    return other;
                }
            }
        }
        LIMITED.fetch_add(1, Ordering::Relaxed);
        Err(GitHubError::RateLimited { what, kind: "secondary", retry_after: self.max_wait })
    }

    /// One request and its answer, classified.
    async fn exchange(
        &self,
        octo: &Octocrab,
        what: &'static str,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<Reply, GitHubError> {
        let transport = |e: octocrab::Error| GitHubError::Transport { api: self.target.api_url.clone(), what, source: Box::new(e) };
        let request = octo.build_request(http::Request::builder().method(method).uri(uri), body).map_err(transport)?;
        let response = octo.execute(request).await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(remaining) = header_u64(&headers, "x-ratelimit-remaining") {
            REMAINING.store(remaining, Ordering::Relaxed);
        }
        let text = octo.body_to_string(response).await.map_err(transport)?;
        let body: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            return Ok(Reply { headers, body });
        }
        if let Some((kind, retry_after)) = rate_limited(status, &headers, now_s()) {
            return Err(GitHubError::RateLimited { what, kind, retry_after });
        }
        let mut message = body.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
        for detail in body.get("errors").and_then(Value::as_array).into_iter().flatten() {
            match detail.get("message").and_then(Value::as_str) {
                Some(m) => message.push_str(&format!("; {m}")),
                None => message.push_str(&format!("; {detail}")),
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(GitHubError::BadCredentials { api: self.target.api_url.clone(), source_of: self.credentials(), message });
        }
        Err(GitHubError::Api { what, repo: self.target.full_name(), status: status.as_u16(), message })
    }

    /// Every item of a listing, following `Link: <…>; rel="next"` (at most 100 pages).
    pub(crate) async fn paginate(&self, what: &'static str, uri: &str) -> Result<Vec<Value>, GitHubError> {
        let mut items = Vec::new();
        let mut next = Some(uri.to_owned());
        for _ in 0..MAX_PAGES {
            let Some(uri) = next.take() else { break };
            let reply = self.send(what, Method::GET, &uri, None).await?;
            match reply.body {
                Value::Array(page) => items.extend(page),
                _ => return Err(GitHubError::BadAnswer { what, reason: "a listing that is not an array".into() }),
            }
            next = next_link(&reply.headers).and_then(|link| self.relative(&link));
        }
        Ok(items)
    }

    /// `link` as a path under the API, when it is on the API's host (credentials are never sent
    /// elsewhere).
    fn relative(&self, link: &str) -> Option<String> {
        let uri: http::Uri = link.parse().ok()?;
        let base: http::Uri = self.target.api_url.parse().ok()?;
        if uri.authority().is_some() && uri.authority() != base.authority() {
            return None;
        }
        uri.path_and_query().map(|p| p.as_str().to_owned())
    }

    /// `repos/{owner}/{repo}` as a path prefix.
    pub(crate) fn repo_path(&self) -> String {
        format!("/repos/{}/{}", self.target.owner, self.target.repo)
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `(kind, wait)` when an answer says a rate limit holds (GitHub's documented signals: a 403 or
/// 429 with `retry-after`, or with `x-ratelimit-remaining: 0` and the reset time).
pub(crate) fn rate_limited(status: StatusCode, headers: &HeaderMap, now: i64) -> Option<(&'static str, Duration)> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(after) = header_u64(headers, "retry-after") {
        return Some(("secondary", Duration::from_secs(after)));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        let reset = header_u64(headers, "x-ratelimit-reset").map_or(60, |r| (r as i64 - now).max(1) as u64);
        return Some(("primary", Duration::from_secs(reset)));
    }
    // GitHub documents waiting at least a minute when a secondary limit says no more.
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(("secondary", Duration::from_secs(60)))
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.split(';').any(|p| p.trim() == r#"rel="next""#).then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// What stays as it is in a path segment or a query value: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `s` percent-encoded for a query value or a path segment: everything but RFC 3986's
/// unreserved characters. (The one percent-encoder of tollgate's URLs, GitHub's and its own.)
pub fn encode_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}
