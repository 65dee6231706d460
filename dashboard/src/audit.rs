//! The audit timeline: the newest events first, filtered by a search over actor, action and
//! subject, with the chain's verification state.

use serde::Serialize;

/// Events per page.
pub const PAGE_SIZE: usize = 100;

/// One event as the timeline shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The event's body (canonical JSON), cut for the page.
    pub body: String,
}

/// Whether the chain verified, as `tollgate audit verify` says.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// True when every event's hash links to the one before and the head matches.
    pub ok: bool,
    /// Events walked.
    pub events: u64,
    /// The first problem, when there is one.
    pub problem: Option<String>,
}

/// The timeline page.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// The search as asked.
    pub q: String,
    pub events: Vec<Event>,
    /// Events in the log.
    pub total: u64,
    /// Events matching the search (over the part of the log searched).
    pub matching: usize,
    pub verification: Verification,
    /// A link to older matches, when there are more than a page.
    pub older: Option<String>,
}

/// Whether `e` matches the search `q` (case-insensitive, over actor, action and subject; a
/// number matches the event of that sequence number).
pub fn matches(q: &str, seq: u64, actor: &str, action: &str, subject: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    if let Ok(n) = q.parse::<u64>() {
        return n == seq;
    }
    let q = q.to_lowercase();
    [actor, action, subject].iter().any(|s| s.to_lowercase().contains(&q))
}

/// The older-page link for a search whose last shown event is `before`.
pub fn older_link(q: &str, before: u64) -> String {
    format!("/audit?q={}&before={before}", crate::enc(q.trim()))
}
