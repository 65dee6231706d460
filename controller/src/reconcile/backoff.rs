//! Per-slot backoff: a (release, environment) whose promotion failed is tried again after a
//! delay that doubles with each failure in a row, up to a cap, while every other slot goes on.
//! A [`super::Reconciler`] keeps it between passes; a new decision for the slot (the release
//! changed, an approval came) is tried at once.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Failure;

/// How long a slot whose promotion failed waits before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 seconds (one default reconcile interval), doubling up to 10 minutes.
    fn default() -> Self {
        Backoff { first: Duration::from_secs(30), max: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 for the first): `first`, doubled for each
    /// failure after it, at most `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

/// A slot's key: (release, environment).
pub(super) type Slot = (String, String);

/// The slots whose last attempt failed, with when each may be tried again.
#[derive(Debug, Default)]
pub(super) struct Slots {
    policy: Backoff,
    failing: HashMap<Slot, Failing>,
}

#[derive(Debug)]
struct Failing {
    /// The failure as last recorded (its decision, reason and count).
    failure: Failure,
    /// Not tried again before this.
    next: Instant,
}

impl Slots {
    pub(super) fn new(policy: Backoff) -> Slots {
        Slots { policy, failing: HashMap::new() }
    }

    /// The slot's last failure, with the seconds left to wait, while its decision `decision`
    /// must still wait at `now`; `None` when it may be tried.
    pub(super) fn waiting(&self, slot: &Slot, decision: &str, now: Instant) -> Option<Failure> {
        let f = self.failing.get(slot).filter(|f| f.failure.decision == decision && now < f.next)?;
        let left = f.next.saturating_duration_since(now);
        Some(Failure { retry_in_secs: Some(left.as_secs().max(1)), ..f.failure.clone() })
    }

    /// Notes a failed attempt at `now`: `failure.attempts` is the count with this one; the
    /// returned failure says when the next attempt is.
    pub(super) fn failed(&mut self, slot: Slot, mut failure: Failure, now: Instant) -> Failure {
        let delay = self.policy.delay(failure.attempts);
        failure.retry_in_secs = Some(delay.as_secs().max(1));
        self.failing.insert(slot, Failing { failure: failure.clone(), next: now + delay });
        failure
    }

    /// The attempts in a row that failed for the slot's `decision`, as this reconciler counted them.
    pub(super) fn attempts(&self, slot: &Slot, decision: &str) -> u32 {
        self.failing.get(slot).filter(|f| f.failure.decision == decision).map_or(0, |f| f.failure.attempts)
    }

    /// Forgets every slot `keep` does not name: those that succeeded, or no longer promote.
    pub(super) fn retain(&mut self, keep: impl Fn(&Slot) -> bool) {
        self.failing.retain(|slot, _| keep(slot));
    }
}
