//! A double of the GitHub REST API for tests: a real HTTP server on loopback that holds to
//! GitHub's published contract, so that tollgate's real client (octocrab) is exercised against
//! it end to end.
//!
//! The contract is `fixtures/api-subset.openapi.json`, the OpenAPI description of api.github.com
//! published by the Octokit project (MIT, see `fixtures/README.md`). Every request body is
//! validated against its operation's request schema, and every response body the double sends
//! starts from the description's example, has the double's facts written over it and is then
//! validated against the response schema of its status; a request that breaks the contract is
//! answered as GitHub would (422) and listed in [`GitHubDouble::violations`], which tests assert
//! to be empty. Requests without an accepted token are answered 401 (GitHub's "Bad
//! credentials"), without a `User-Agent` 403, as GitHub does. Every answer carries GitHub's
//! `x-ratelimit-*` headers.
//!
//! What the double holds, in memory, one concern per module:
//!
//! - pull requests with their facts (head and base shas, author, merge commit), their reviews
//!   and changed files (`pulls`); as on GitHub, one repository holds at most one open pull
//!   request per (head, base);
//! - check runs with their accumulated annotations, and commit statuses (`checks`);
//! - issue comments (`comments`);
//! - team memberships (`teams`);
//! - a GitHub App whose JWTs buy installation tokens (`app`);
//! - rate limits on demand (`rate`);
//! - and, the other way round, GitHub's signed webhook deliveries ([`webhook`]).
//!
//! Lists are paginated as GitHub paginates them (`per_page`, `page`, a `Link` header).
//!
//! The server runs on its own thread with its own Tokio runtime, so that synchronous tests, async
//! tests and tests of the real binary can all use it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use serde_json::Value;

mod app;
mod checks;
mod comments;
mod contract;
mod page;
mod pulls;
mod rate;
mod server;
mod teams;
pub mod webhook;

pub use app::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
pub use checks::CheckRun;
pub use comments::Comment;
pub use pulls::{Pull, Review};
pub use rate::RateLimit;

#[cfg(test)]
mod tests;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: HashMap<String, String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

/// Everything the double holds; one lock guards it all (requests are served one at a time).
#[derive(Debug)]
struct State {
    owner: String,
    repo: String,
    token: String,
    base_url: String,
    pulls: pulls::Pulls,
    checks: checks::Checks,
    comments: Vec<Comment>,
    teams: HashSet<(String, String, String)>,
    app: app::App,
    rate: rate::Rate,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    /// Answer the next request of this method with this status (a GitHub outage, or a process
    /// that died before it read the answer).
    fail_next: Option<(String, u16)>,
    /// The last id handed to a comment, review, check run or status (one counter for all, so
    /// that an id never names two things).
    last_id: u64,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// `{base}/repos/{owner}/{repo}`: the API URL of the repository.
    fn api(&self) -> String {
        format!("{}/repos/{}/{}", self.base_url, self.owner, self.repo)
    }

    /// `https://github.example/{owner}/{repo}`: the repository's web page (a name that cannot
    /// reach the real GitHub).
    fn html(&self) -> String {
        format!("https://github.example/{}/{}", self.owner, self.repo)
    }
}

/// The running double. Dropping it stops the server.
#[derive(Debug)]
pub struct GitHubDouble {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl GitHubDouble {
    /// Starts a double serving repository `owner/repo`, accepting `token` (and, once
    /// [`configure_app`](Self::configure_app) is called, the installation tokens it issues).
    ///
    /// # Errors
    ///
    /// When the loopback socket or the runtime cannot be made.
    pub fn start(owner: &str, repo: &str, token: &str) -> anyhow::Result<GitHubDouble> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
        listener.set_nonblocking(true).context("make the socket non-blocking")?;
        let addr = listener.local_addr().context("read the bound address")?;
        let state = Arc::new(Mutex::new(State {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token: token.to_owned(),
            base_url: format!("http://{addr}"),
            pulls: pulls::Pulls::default(),
            checks: checks::Checks::default(),
            comments: Vec::new(),
            teams: HashSet::new(),
            app: app::App::default(),
            rate: rate::Rate::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            fail_next: None,
            last_id: 100_000,
        }));
        let stop = server::serve(listener, state.clone())?;
        Ok(GitHubDouble { addr, state, stop: Some(stop) })
    }

    /// `http://127.0.0.1:PORT`: the API base URL to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests that broke GitHub's published contract (empty when the client held to it).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Answers the next `method` request with `status` and GitHub's error body, doing nothing.
    pub fn fail_next(&self, method: &str, status: u16) {
        self.lock().fail_next = Some((method.to_owned(), status));
    }
}

impl Drop for GitHubDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The state, even when a test thread panicked while holding it (the next assertion should
/// report, not a poisoned lock).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seconds since the Unix epoch.
fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2026-12-01T10:00:00Z`: GitHub's way of writing a time.
fn timestamp(unix_s: u64) -> String {
    jiff::Timestamp::from_second(i64::try_from(unix_s).unwrap_or(i64::MAX)).map(|t| t.to_string()).unwrap_or_default()
}

/// A commit id for facts a test did not give: 40 hex digits derived from `seed`, so the same
/// seed always names the same commit and different seeds different ones.
fn fake_sha(seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    hex::encode(&digest[..20])
}

/// `2 * bytes` random hex digits (installation tokens, delivery ids).
fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    // The system's source does not fail where tests run; were it to, the zeros left would still
    // make a well-formed value.
    let _ = ring::rand::SystemRandom::new().fill(&mut buf);
    hex::encode(buf)
}
