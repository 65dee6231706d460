//! GitHub's rate limits: the `x-ratelimit-*` headers on every answer, and limits a test trips on
//! demand.

use hyper::StatusCode;

use crate::server::Reply;
use crate::{GitHubDouble, State, app, now_s};

/// The primary limit of an installation or a user, per hour.
const LIMIT: u64 = 5000;

/// A rate limit the double trips for the next request (see
/// [`GitHubDouble::rate_limit_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The hourly budget is spent: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
    /// one second ahead.
    Primary,
    /// Too many requests too fast: 403 with `retry-after`.
    Secondary {
        /// The seconds `retry-after` asks the client to wait.
        retry_after_s: u64,
    },
}

/// The budget of the one token bucket the double keeps (`core`).
#[derive(Debug)]
pub(crate) struct Rate {
    used: u64,
    reset: u64,
    next: Option<RateLimit>,
    /// The limit the request being answered tripped.
    tripped: Option<RateLimit>,
}

impl Rate {
    pub(crate) fn new() -> Rate {
        Rate { used: 0, reset: now_s() + 3600, next: None, tripped: None }
    }

    /// Counts one answered request; returns the rate-limit headers its answer carries.
    pub(crate) fn count(&mut self) -> Vec<(&'static str, String)> {
        self.used += 1;
        let (used, reset) = match self.tripped.take() {
            Some(RateLimit::Primary) => (LIMIT, now_s() + 1),
            _ => (self.used.min(LIMIT), self.reset),
        };
        vec![
            ("x-ratelimit-limit", LIMIT.to_string()),
            ("x-ratelimit-remaining", (LIMIT - used).to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-resource", "core".to_owned()),
        ]
    }
}

/// The answer of a request that trips the limit set for it, if one is set.
pub(crate) fn limited(st: &mut State, authorization: Option<&str>) -> Option<Reply> {
    let kind = st.rate.next.take()?;
    st.rate.tripped = Some(kind);
    Some(match kind {
        RateLimit::Primary => {
            let who = match app::installation_of(st, authorization) {
                Some(id) => format!("installation ID {id}"),
                None => "user ID 1".to_owned(),
            };
            Reply::error(StatusCode::FORBIDDEN, &format!("API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000 and timestamp 2026-12-01 10:00:00 UTC."))
        }
        RateLimit::Secondary { retry_after_s } => Reply::error(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000 and timestamp 2026-12-01 10:00:00 UTC.",
        )
        .with_header("retry-after", retry_after_s.to_string()),
    })
}

impl GitHubDouble {
    /// Answers the next request (any method, any path, once its credentials pass) as GitHub
    /// answers one over `kind` of limit. The request is recorded; nothing else changes.
    pub fn rate_limit_next(&self, kind: RateLimit) {
        self.lock().rate.next = Some(kind);
    }
}
