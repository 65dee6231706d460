//! A reconciler's memory between passes.

use std::time::Instant;

use super::act::{Context, act};
use super::backoff::{Backoff, Slots};
use super::plan::{Prepared, prepare_keeping};
use super::view::StoreView;
use super::{Options, PassReport, Publish, ReconcileError, Settled, prepare_incremental};
use tollgate_decision::{Decision, State};
use tollgate_spec::repo::Source;
use tollgate_store::AuditLog;

/// A reconciler's memory between passes: the store view (read incrementally), the last
/// prepared commit, reused while the branch does not move (only the clock is applied again;
/// prepared again when gates that failed for a passing reason are due to be tried), and the
/// slots whose promotion failed, each waiting out its backoff. This is what makes a pass with
/// nothing changed cheap, and a failing slot retried without holding up the others.
#[derive(Debug)]
pub struct Reconciler {
    view: StoreView,
    last: Option<(Options, Prepared)>,
    /// The last pass's decisions and what they were decided from: when none of it moved, the
    /// next pass has nothing to decide again.
    settled: Option<Settled>,
    /// Slots whose promotion failed, and when each is tried again.
    slots: Slots,
    /// How long the last prepared commit's gates that failed for a passing reason wait before
    /// they are tried again, and how often they failed in a row.
    gates: GateRetry,
}

/// Gates that could not be computed for a reason that may pass
/// ([`super::GateOutcome::transient`]: a cache that could not be written, an API that could not
/// be reached) are tried again, by preparing the commit again, after a [`Backoff`]: otherwise
/// their error (and the content digest without their results) would stand until the next
/// commit.
#[derive(Debug)]
struct GateRetry {
    policy: Backoff,
    /// Failed preparations in a row, and when the next is due; `None` when the last prepared
    /// commit has no such gates.
    due: Option<(u32, Instant)>,
}

impl GateRetry {
    /// Whether the commit should be prepared again at `now` for its gates.
    fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|(_, next)| now >= next)
    }

    /// Notes a preparation at `now`: when some gates failed for a passing reason, when to try
    /// again (`retried`: this preparation was such a try, and counts as another failure).
    fn prepared(&mut self, prepared: &Prepared, retried: bool, now: Instant) {
        let transient = prepared.releases.iter().filter(|r| r.gates.as_ref().is_some_and(|g| g.transient)).count();
        if transient == 0 {
            self.due = None;
            return;
        }
        let failures = if retried { self.due.map_or(1, |(n, _)| n.saturating_add(1)) } else { 1 };
        let delay = self.policy.delay(failures);
        tracing::warn!(
            releases = transient,
            failures,
            retry_in_secs = delay.as_secs(),
            "gates failed for a reason that may pass; they are tried again"
        );
        self.due = Some((failures, now + delay));
    }
}

impl Default for Reconciler {
    /// A reconciler with the default [`Backoff`].
    fn default() -> Self {
        Reconciler::with_backoff(Backoff::default())
    }
}

impl Reconciler {
    /// A reconciler whose failed slots wait as `backoff` says.
    pub fn with_backoff(backoff: Backoff) -> Reconciler {
        Reconciler {
            view: StoreView::with_decisions(),
            last: None,
            settled: None,
            slots: Slots::new(backoff),
            gates: GateRetry { policy: backoff, due: None },
        }
    }

    /// The last prepared commit.
    pub fn last(&self) -> Option<&Prepared> {
        self.last.as_ref().map(|(_, p)| p)
    }

    /// Prepares a pass: reuses the last one when the commit and the options are the same.
    ///
    /// # Errors
    ///
    /// As [`prepare`].
    pub fn prepare(&mut self, opts: &Options) -> Result<&Prepared, ReconcileError> {
        self.prepare_reusing(opts).map(|(p, _)| p)
    }

    fn prepare_reusing(&mut self, opts: &Options) -> Result<(&Prepared, bool), ReconcileError> {
        let commit = Source::commit(&opts.repo, &opts.rev)?.commit_id().map(|c| c.to_string());
        let now = Instant::now();
        let same = self.last.as_ref().is_some_and(|(o, p)| {
            Some(&p.commit) == commit.as_ref()
                && o.repo == opts.repo
                && o.release == opts.release
                && o.gates.cache_dir == opts.gates.cache_dir
        });
        // The same commit is prepared again from scratch when its gates that failed for a
        // passing reason are due to be tried (the others come from the gate cache).
        let retry = same && self.gates.is_due(now);
        let reusable = same && !retry;
        let same_options = self.last.as_ref().is_some_and(|(o, _)| {
            o.repo == opts.repo && o.rev == opts.rev && o.release == opts.release && o.gates.cache_dir == opts.gates.cache_dir
        });
        if reusable {
            let (o, p) = self.last.as_mut().expect("checked");
            o.now = opts.now;
            p.set_clock(opts.now);
        } else if let Some(next) = self.last.as_ref().filter(|_| same_options && !retry).and_then(|(_, p)| {
            // Anything unexpected (the old commit gone after a force-push and a gc...) means a
            // pass from scratch, which reports its own errors.
            prepare_incremental(opts, p).inspect_err(|err| tracing::debug!(error = %err, "incremental prepare failed")).ok().flatten()
        }) {
            self.last = Some((opts.clone(), next));
        } else {
            // A bundle that no longer compiles is refused and the last good one kept.
            let last_good = self.last.as_ref().and_then(|(_, p)| p.bundle.clone());
            self.last = Some((opts.clone(), prepare_keeping(opts, last_good.as_ref())?));
        }
        let prepared = &self.last.as_ref().expect("just set").1;
        if !reusable {
            self.gates.prepared(prepared, retry, now);
        }
        Ok((prepared, reusable))
    }

    /// Runs a whole pass: prepare (or reuse), decide, record, promote. The repo work runs on the
    /// calling thread. Runs only on the leader.
    ///
    /// # Guarantees
    ///
    /// Effects are per (release, environment): a slot whose push, commit or pull request fails
    /// is recorded (`promotion.failed`) and listed in [`PassReport::failures`], every other slot
    /// goes on, and this reconciler tries the slot again only after its backoff.
    ///
    /// # Errors
    ///
    /// As [`prepare`]; [`ReconcileError::Store`] or [`ReconcileError::Audit`] when the store
    /// fails (work done before stays done and recorded; the next pass continues from there).
    pub async fn pass(
        &mut self,
        log: &AuditLog,
        opts: &Options,
        actor: &str,
        publish: Option<&dyn Publish>,
    ) -> Result<PassReport, ReconcileError> {
        let (_, reused) = self.prepare_reusing(opts)?;
        let prepared = &self.last.as_ref().expect("prepared").1;
        self.view.refresh(log.store()).await?;
        // Same commit, nothing new in the store, every window as it was: every decision is
        // what it was, and there is nothing to record or promote.
        if reused
            && let Some(settled) = &self.settled
            && settled.holds(prepared, &self.view)
        {
            return Ok(PassReport {
                commit: prepared.commit.clone(),
                decisions: settled.decisions.iter().map(|d| Decision::clone(d)).collect(),
                actions: Vec::new(),
                failures: Vec::new(),
            });
        }
        let cx = Context { log, actor, bot: (opts.bot.0.as_str(), opts.bot.1.as_str()), publish, now: Instant::now() };
        let report = match act(&cx, &mut self.view, prepared, &mut self.slots).await {
            Ok(report) => report,
            Err(err) => {
                // The view may count records a failed batch never wrote: read it afresh.
                self.view = StoreView::with_decisions();
                self.settled = None;
                return Err(err);
            }
        };
        self.view.refresh(log.store()).await?;
        // A decision waiting on a pull request waits on GitHub, and a failed slot on its retry,
        // which the commit, the store and the clock do not show: such a pass is never settled,
        // so the next one looks again.
        let waits_on_github = report.decisions.iter().any(|d| d.state == State::Promoting || d.inputs.closed_pull_request.is_some());
        let settled = !waits_on_github && report.failures.is_empty();
        self.settled = settled
            .then(|| Settled::new(prepared, &self.view, report.decisions.iter().cloned().map(std::sync::Arc::new).collect::<Vec<_>>()));
        Ok(report)
    }
}
