//! When to fetch: on an interval, and at once when asked (a push webhook, `tollgate reconcile`
//! being told to look now).
//!
//! The reconcile loop owns the [`Mirror`](super::Mirror) and awaits [`Fetcher::wait`]; anything
//! else holds a [`FetchTrigger`]. Requests that arrive while a fetch runs collapse into one more
//! fetch afterwards, never a queue of them.
//!
//! ```no_run
//! # async fn demo(mut mirror: crate::git::Mirror) {
//! use crate::git::Fetcher;
//! let mut fetcher = Fetcher::new(std::time::Duration::from_secs(60));
//! let trigger = fetcher.trigger(); // give this to the webhook handler
//! loop {
//!     let _why = fetcher.wait().await;
//!     // `fetch` blocks on the network: keep it off the async workers.
//!     let (back, outcome) = tokio::task::spawn_blocking(move || {
//!         let outcome = mirror.fetch();
//!         (mirror, outcome)
//!     })
//!     .await
//!     .expect("fetch task");
//!     mirror = back;
//!     if outcome.is_ok_and(|o| o.needs_reevaluation()) { /* reconcile */ }
//! }
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

/// Why [`Fetcher::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The interval elapsed (or this is the first call).
    Interval,
    /// A [`FetchTrigger`] asked for a fetch.
    Requested,
}

/// Paces fetches: the first [`Fetcher::wait`] returns at once, then one per interval, or sooner
/// when triggered (which also restarts the interval).
#[derive(Debug)]
pub struct Fetcher {
    interval: tokio::time::Interval,
    notify: Arc<Notify>,
}

/// Asks the [`Fetcher`] it came from for a fetch now; cheap to clone and `Send`.
#[derive(Debug, Clone)]
pub struct FetchTrigger(Arc<Notify>);

impl FetchTrigger {
    /// Requests a fetch. Requests made before the loop next waits are merged into one.
    pub fn fetch_now(&self) {
        self.0.notify_one();
    }
}

impl Fetcher {
    /// Fetches every `interval` (at least one millisecond).
    pub fn new(interval: Duration) -> Fetcher {
        let period = interval.max(Duration::from_millis(1));
        let mut interval = tokio::time::interval_at(Instant::now(), period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Fetcher { interval, notify: Arc::new(Notify::new()) }
    }

    /// A handle that requests fetches.
    pub fn trigger(&self) -> FetchTrigger {
        FetchTrigger(self.notify.clone())
    }

    /// Waits until the next fetch is due.
    pub async fn wait(&mut self) -> Wake {
        tokio::select! {
            biased;
            () = self.notify.notified() => {
                self.interval.reset();
                Wake::Requested
            }
            _ = self.interval.tick() => Wake::Interval,
        }
    }
}
