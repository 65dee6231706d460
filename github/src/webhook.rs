//! Webhook deliveries from GitHub: the signature, checked over the raw body before anything
//! parses it, and the events tollgate acts on, read into its own types.
//!
//! **Signatures.** GitHub signs each delivery's body with HMAC-SHA256 under the webhook's
//! secret and sends `X-Hub-Signature-256: sha256=<hex>`. [`Secrets`] holds the current secret
//! and, while one is being rotated, the previous one; a delivery signed by either is accepted.
//! The comparison is constant-time (`subtle`), and every secret is tried whatever the first
//! gave, so the time taken says nothing about which matched.
//!
//! **Payloads.** [`parse`] reads the fields tollgate needs from the JSON GitHub documents for
//! each event; anything else in a payload is ignored, and any input, however malformed, is an
//! error and never a panic (the parser is fuzzed: `fuzz/fuzz_targets/github_webhook.rs`).

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::reviews::Review;

/// The largest delivery GitHub sends (its documented cap is 25 MB).
pub const MAX_BODY: usize = 25 * 1024 * 1024;

/// The webhook secrets in force. Its `Debug` shows nothing of them.
#[derive(Clone)]
pub struct Secrets {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} in force)", self.keys.len())
    }
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("the delivery has no `X-Hub-Signature-256` header")]
    Missing,
    /// The header is not `sha256=` and 64 hex digits.
    #[error("the `X-Hub-Signature-256` header is not `sha256=` and 64 hex digits")]
    Malformed,
    /// No secret in force signed this body.
    #[error("the delivery's signature matches no webhook secret in force")]
    Mismatch,
}

impl Secrets {
    /// The current secret and, during a rotation, the previous one. Empty secrets are dropped;
    /// `None` when none is left (a webhook without a secret is refused, not trusted).
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Option<Secrets> {
        let keys: Vec<Vec<u8>> = [Some(current), previous].into_iter().flatten().filter(|k| !k.is_empty()).map(<[u8]>::to_vec).collect();
        (!keys.is_empty()).then_some(Secrets { keys })
    }

    /// Checks `header` (the value of `X-Hub-Signature-256`) against `body`.
    ///
    /// # Errors
    ///
    /// A [`SignatureError`] saying why the delivery must be refused.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_part = header.strip_prefix(b"sha256=").ok_or(SignatureError::Malformed)?;
        let mut given = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut given).map_err(|_| SignatureError::Malformed)?;
        let mut ok = subtle::Choice::from(0);
        for key in &self.keys {
            ok |= sign(key, body).ct_eq(&given);
        }
        if bool::from(ok) { Ok(()) } else { Err(SignatureError::Mismatch) }
    }
}

/// The `X-Hub-Signature-256` value GitHub sends for `body` under `secret`: `sha256=<hex>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(sign(secret, body)))
}

/// HMAC-SHA256 of `body` under `key`.
fn sign(key: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON.
    #[error("the `{event}` payload is not JSON: {reason}")]
    NotJson {
        /// The event.
        event: String,
        /// serde_json's message.
        reason: String,
    },
    /// A field GitHub documents is missing or of another type.
    #[error("the `{event}` payload has no `{field}`")]
    Missing {
        /// The event.
        event: String,
        /// A JSON pointer.
        field: &'static str,
    },
}

/// Where an event happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// `owner/name` of the repository (empty for `installation` events).
    pub repository: String,
    /// The App installation that delivered it, when an App did.
    pub installation: Option<u64>,
    /// Who caused it (`sender.login`).
    pub sender: String,
}

/// A pull request's facts in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullFacts {
    /// Its number.
    pub number: u64,
    /// The head commit.
    pub head_sha: String,
    /// The head branch.
    pub head_ref: String,
    /// The base branch.
    pub base_ref: String,
    /// The base branch's commit when the event was sent.
    pub base_sha: String,
    /// Who opened it.
    pub author: String,
    /// Open or closed.
    pub open: bool,
    /// Merged.
    pub merged: bool,
}

/// An event tollgate acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Event {
    /// GitHub says hello when a webhook is made.
    Ping {
        /// Where.
        origin: Origin,
        /// The hook's id.
        hook_id: Option<u64>,
    },
    /// `pull_request`: opened, synchronize, reopened, edited (only when the base changed), closed.
    PullRequest {
        /// Where.
        origin: Origin,
        /// The action.
        action: String,
        /// The pull request.
        pull: PullFacts,
    },
    /// `pull_request_review`: submitted, edited, dismissed.
    Review {
        /// Where.
        origin: Origin,
        /// The action.
        action: String,
        /// The pull request.
        pull: PullFacts,
        /// The review.
        review: Review,
    },
    /// `push`: a branch moved.
    Push {
        /// Where.
        origin: Origin,
        /// The ref (`refs/heads/main`).
        git_ref: String,
        /// The new commit (`0…0` when deleted).
        after: String,
    },
    /// `merge_group` `checks_requested`: a merge queue asks for checks on its head.
    MergeGroup {
        /// Where.
        origin: Origin,
        /// The action.
        action: String,
        /// The merge group's head commit.
        head_sha: String,
        /// Its head ref (`refs/heads/gh-readonly-queue/…`).
        head_ref: String,
        /// The base ref it merges into.
        base_ref: String,
    },
    /// `check_suite` or `check_run` `requested`/`rerequested`: check this commit (again).
    CheckRequested {
        /// Where.
        origin: Origin,
        /// The action.
        action: String,
        /// The commit.
        head_sha: String,
        /// The pull requests GitHub associates with it.
        pulls: Vec<u64>,
    },
    /// `installation`: the App was installed, removed, suspended…
    Installation {
        /// Where.
        origin: Origin,
        /// The action.
        action: String,
    },
    /// An event or action tollgate does not act on (answered 204).
    Ignored {
        /// The event.
        event: String,
        /// Its action, when it has one.
        action: Option<String>,
    },
}

struct Reader<'a> {
    event: &'a str,
    v: &'a Value,
}

impl Reader<'_> {
    fn str(&self, field: &'static str) -> Result<String, PayloadError> {
        self.v.pointer(field).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| self.missing(field))
    }
    fn u64(&self, field: &'static str) -> Result<u64, PayloadError> {
        self.v.pointer(field).and_then(Value::as_u64).ok_or_else(|| self.missing(field))
    }
    fn missing(&self, field: &'static str) -> PayloadError {
        PayloadError::Missing { event: self.event.to_owned(), field }
    }
    fn origin(&self) -> Origin {
        Origin {
            repository: self.v.pointer("/repository/full_name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            installation: self.v.pointer("/installation/id").and_then(Value::as_u64),
            sender: self.v.pointer("/sender/login").and_then(Value::as_str).unwrap_or_default().to_owned(),
        }
    }
    fn pull(&self) -> Result<PullFacts, PayloadError> {
        Ok(PullFacts {
            number: self.u64("/pull_request/number")?,
            head_sha: self.str("/pull_request/head/sha")?,
            head_ref: self.str("/pull_request/head/ref")?,
            base_ref: self.str("/pull_request/base/ref")?,
            base_sha: self.str("/pull_request/base/sha")?,
            author: self.str("/pull_request/user/login")?,
            open: self.v.pointer("/pull_request/state").and_then(Value::as_str) != Some("closed"),
            merged: self.v.pointer("/pull_request/merged").and_then(Value::as_bool).unwrap_or(false)
                || self.v.pointer("/pull_request/merged_at").is_some_and(|m| !m.is_null()),
        })
    }
}

/// The events tollgate subscribes to (the `X-GitHub-Event` values it reads).
pub const EVENTS: &[&str] =
    &["ping", "pull_request", "pull_request_review", "push", "merge_group", "check_suite", "check_run", "installation"];

/// Reads a delivery of `event` (the `X-GitHub-Event` header) from its raw `body`.
///
/// # Errors
///
/// [`PayloadError`] when the body is not JSON or lacks a field GitHub documents for the event.
pub fn parse(event: &str, body: &[u8]) -> Result<Event, PayloadError> {
    if !EVENTS.contains(&event) {
        return Ok(Event::Ignored { event: event.to_owned(), action: None });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson { event: event.to_owned(), reason: e.to_string() })?;
    let r = Reader { event, v: &v };
    let action = v.get("action").and_then(Value::as_str).map(str::to_owned);
    let ignored = || Ok(Event::Ignored { event: event.to_owned(), action: action.clone() });
    let act = action.clone().unwrap_or_default();
    match event {
        "ping" => Ok(Event::Ping { origin: r.origin(), hook_id: v.get("hook_id").and_then(Value::as_u64) }),
        "pull_request" => match act.as_str() {
            "opened" | "synchronize" | "reopened" | "closed" => Ok(Event::PullRequest { origin: r.origin(), action: act, pull: r.pull()? }),
            // An edit matters when the base branch changed (what the PR merges into).
            "edited" if v.pointer("/changes/base").is_some() => Ok(Event::PullRequest { origin: r.origin(), action: act, pull: r.pull()? }),
            _ => ignored(),
        },
        "pull_request_review" => match act.as_str() {
            "submitted" | "edited" | "dismissed" => {
                let review = v.get("review").and_then(Review::from_json).ok_or_else(|| r.missing("/review"))?;
                Ok(Event::Review { origin: r.origin(), action: act, pull: r.pull()?, review })
            }
            _ => ignored(),
        },
        "push" => Ok(Event::Push { origin: r.origin(), git_ref: r.str("/ref")?, after: r.str("/after")? }),
        "merge_group" => match act.as_str() {
            "checks_requested" => Ok(Event::MergeGroup {
                origin: r.origin(),
                action: act,
                head_sha: r.str("/merge_group/head_sha")?,
                head_ref: r.str("/merge_group/head_ref")?,
                base_ref: r.str("/merge_group/base_ref")?,
            }),
            _ => ignored(),
        },
        "check_suite" | "check_run" => match act.as_str() {
            "requested" | "rerequested" => {
                let root = if event == "check_suite" { "/check_suite" } else { "/check_run" };
                let sha_field = if event == "check_suite" { "/check_suite/head_sha" } else { "/check_run/head_sha" };
                let pulls = v
                    .pointer(&format!("{root}/pull_requests"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("number").and_then(Value::as_u64))
                    .collect();
                Ok(Event::CheckRequested { origin: r.origin(), action: act, head_sha: r.str(sha_field)?, pulls })
            }
            _ => ignored(),
        },
        "installation" => Ok(Event::Installation { origin: r.origin(), action: act }),
        _ => ignored(),
    }
}
