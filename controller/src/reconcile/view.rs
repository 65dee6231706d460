//! The store side of a pass, kept in memory and read incrementally.

use std::collections::HashMap;

use serde_json::Value;

use super::Failure;
use super::plan::ReleasePlan;
use super::pull_request::PULL_REQUEST_ACTION_PREFIX;
use super::records::{FAILED, RECOVERED, promotion_subject};
use tollgate_decision::approvals;
use tollgate_decision::{Decision, State};
use tollgate_store::{RecordKind, Store, StoreError};

/// What the reconciler needs from the store, kept in memory and brought up to date by reading
/// only the records appended since the last look (by audit sequence number). One view per
/// reconciler process; `status` and `explain` load one for a single pass.
#[derive(Debug, Default)]
pub struct StoreView {
    /// Every record up to this audit sequence number is applied.
    pub(super) seq: u64,
    /// Approval records (seq, doc) by subject.
    pub(super) approvals: HashMap<String, Vec<(u64, Value)>>,
    /// Promotion records by slot subject, oldest first.
    pub(super) promotions: HashMap<String, Vec<Value>>,
    /// The newest recorded decision (id, state) by subject; loaded only when `decisions` is set.
    pub(super) decisions: HashMap<String, (String, String)>,
    /// The newest recorded content digest by release subject (with `decisions`).
    pub(super) releases: HashMap<String, String>,
    /// The newest recorded gate-results digest by release subject (with `decisions`).
    pub(super) gate_results: HashMap<String, String>,
    /// The payload of the newest `promotion.pull_request_*` event by slot subject.
    pull_requests: HashMap<String, Value>,
    /// The failure that stands by decision subject: `promotion.failed`, not followed by
    /// `promotion.recovered`.
    failures: HashMap<String, Failure>,
    /// Whether decisions, releases and gate results are read; fixed when the view is made.
    track_decisions: bool,
    /// The subjects of what a decision reads (approvals by approval subject, promotions and
    /// pull requests by slot), each with the view's `seq` after the refresh that changed it.
    changed: HashMap<String, u64>,
}

impl StoreView {
    /// A view that also tracks recorded decisions (for the reconciler, which records changes).
    pub fn with_decisions() -> StoreView {
        StoreView { track_decisions: true, ..StoreView::default() }
    }

    /// The audit sequence number every record up to which is applied: the view's version (equal
    /// numbers, equal views).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The subjects of approvals, promotions and pull requests recorded after `seq` (a `seq`
    /// this view had): the decisions that read them are the ones those records can change.
    pub fn changed_since(&self, seq: u64) -> std::collections::HashSet<&str> {
        self.changed.iter().filter(|(_, at)| **at > seq).map(|(subject, _)| subject.as_str()).collect()
    }

    /// Whether the view reads recorded decisions (made by [`Self::with_decisions`]).
    pub(super) fn tracks_decisions(&self) -> bool {
        self.track_decisions
    }

    /// Applies every record appended since the last refresh.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    pub async fn refresh(&mut self, store: &Store) -> Result<(), StoreError> {
        use futures_util::StreamExt as _;
        let head = store.head().await?.size;
        if head <= self.seq {
            return Ok(());
        }
        let from = self.seq + 1;
        let mut kinds = vec![RecordKind::Approval, RecordKind::Promotion];
        if self.track_decisions {
            kinds.extend([RecordKind::Decision, RecordKind::Release, RecordKind::GateResult]);
        }
        for kind in kinds {
            let mut rows = store.records(kind, from, head);
            while let Some(row) = rows.next().await {
                let row = row?;
                match kind {
                    RecordKind::Approval => {
                        self.changed.insert(row.subject.clone(), head);
                        self.approvals.entry(row.subject).or_default().push((row.audit_seq, row.doc));
                    }
                    RecordKind::Promotion => {
                        self.changed.insert(row.subject.clone(), head);
                        self.promotions.entry(row.subject).or_default().push(row.doc);
                    }
                    RecordKind::Release => {
                        let d = row.doc.get("contentDigest").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.releases.insert(row.subject, d);
                    }
                    RecordKind::GateResult => {
                        let d = row.doc.get("digest").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.gate_results.insert(row.subject, d);
                    }
                    _ => {
                        let id = row.doc.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let state = row.doc.get("state").and_then(Value::as_str).unwrap_or_default().to_owned();
                        self.decisions.insert(row.subject, (id, state));
                    }
                }
            }
        }
        // Pull-request events and failures are plain audit events (their action names what
        // happened), read through the index of promotion events.
        let mut events = store.promotion_events(from, head);
        while let Some(ev) = events.next().await {
            let ev = ev?;
            let Ok(decoded) = tollgate_audit::event::Event::decode(&ev.body) else { continue };
            if ev.action.starts_with(PULL_REQUEST_ACTION_PREFIX) {
                self.changed.insert(ev.subject.clone(), head);
                self.pull_requests.insert(ev.subject, decoded.payload);
            } else if ev.action == FAILED {
                if let Ok(failure) = serde_json::from_value::<Failure>(decoded.payload) {
                    self.note_failure(failure);
                }
            } else if ev.action == RECOVERED {
                let field = |k: &str| decoded.payload.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                self.note_recovered(&field("release"), &field("environment"));
            }
        }
        self.seq = head;
        Ok(())
    }

    /// Applies a promotion this process just recorded, so the rest of the pass sees it. (The
    /// next refresh reads it again; a repeated entry changes no answer.)
    pub(super) fn note_promotion(&mut self, env: &str, model: &str, doc: Value) {
        self.promotions.entry(promotion_subject(env, model)).or_default().push(doc);
    }

    /// Applies a pull-request event this process just recorded.
    pub(super) fn note_pull_request(&mut self, env: &str, model: &str, payload: Value) {
        self.pull_requests.insert(promotion_subject(env, model), payload);
    }

    /// Applies a `promotion.failed` this process just recorded.
    pub(super) fn note_failure(&mut self, failure: Failure) {
        self.failures.insert(approvals::subject(&failure.release, &failure.environment), failure);
    }

    /// Applies a `promotion.recovered` this process just recorded.
    pub(super) fn note_recovered(&mut self, release: &str, env: &str) {
        self.failures.remove(&approvals::subject(release, env));
    }

    /// The slot's failure that stands: recorded, and not followed by `promotion.recovered`.
    pub(super) fn failure(&self, release: &str, env: &str) -> Option<&Failure> {
        self.failures.get(&approvals::subject(release, env))
    }

    /// The failure that stands for decision `d`: its promotion was decided (`Promoting`) and
    /// could not be carried out. A failure of an earlier decision of the slot is not shown.
    pub fn failure_of(&self, d: &Decision) -> Option<&Failure> {
        self.failure(&d.release, &d.environment).filter(|f| d.state == State::Promoting && f.decision == d.id)
    }

    /// The newest pull-request event's payload of a slot, when it is about this release with
    /// this content.
    pub(super) fn pull_request(&self, env: &str, plan: &ReleasePlan) -> Option<&Value> {
        self.pull_requests.get(&promotion_subject(env, &plan.model)).filter(|p| {
            p.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
                && p.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
        })
    }

    /// The promotion records of `model` into `env`, oldest first.
    pub fn promotions(&self, env: &str, model: &str) -> &[Value] {
        self.promotions.get(&promotion_subject(env, model)).map_or(&[], Vec::as_slice)
    }
}
