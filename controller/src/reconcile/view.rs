//! The store side of a pass, kept in memory and read incrementally.

use std::collections::HashMap;

use serde_json::Value;

use super::plan::ReleasePlan;
use super::pull_request::PULL_REQUEST_ACTION_PREFIX;
use super::records::promotion_subject;
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
    pub(super) pull_requests: HashMap<String, Value>,
    pub(super) track_decisions: bool,
}

impl StoreView {
    /// A view that also tracks recorded decisions (for the reconciler, which records changes).
    pub fn with_decisions() -> StoreView {
        StoreView { track_decisions: true, ..StoreView::default() }
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
                    RecordKind::Approval => self.approvals.entry(row.subject).or_default().push((row.audit_seq, row.doc)),
                    RecordKind::Promotion => self.promotions.entry(row.subject).or_default().push(row.doc),
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
        // Pull-request events are plain audit events (their action names what happened), read
        // through the index of promotion events.
        let mut events = store.promotion_events(from, head);
        while let Some(ev) = events.next().await {
            let ev = ev?;
            if ev.action.starts_with(PULL_REQUEST_ACTION_PREFIX)
                && let Ok(decoded) = tollgate_audit::event::Event::decode(&ev.body)
            {
                self.pull_requests.insert(ev.subject, decoded.payload);
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

    /// The newest pull-request event's payload of a slot, when it is about this release with
    /// this content.
    pub(super) fn pull_request(&self, env: &str, plan: &ReleasePlan) -> Option<&Value> {
        self.pull_requests.get(&promotion_subject(env, &plan.model)).filter(|p| {
            p.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
                && p.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
        })
    }

    pub(super) fn promotions(&self, env: &str, model: &str) -> &[Value] {
        self.promotions.get(&promotion_subject(env, model)).map_or(&[], Vec::as_slice)
    }
}
