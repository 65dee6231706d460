//! What a pass writes to the audit trail: release, gate-result and decision records (batched),
//! promotion records, and the `promotion.*` events of a slot.

use serde_json::{Value, json};

use super::plan::{EnvPlan, ReleasePlan};
use super::view::StoreView;
use super::{Action, Failure, ReconcileError};
use tollgate_audit::event::NewEvent;
use tollgate_decision::{Decision, approvals};
use tollgate_store::{AuditLog, NewRecord, RecordKind, StoreError};

/// The store subject of a promotion slot.
pub fn promotion_subject(env: &str, model: &str) -> String {
    format!("deploy/{env}/{model}")
}

/// Records of a pass written together: release, gate-result and decision records are
/// buffered and committed in one transaction, before anything that depends on them (a
/// promotion names its decision's audit event; a healed promotion follows its release's
/// record), every [`Batch::LIMIT`] records, and at the end of the pass. A crash before a flush
/// loses only records the next pass writes again: the store holds none of them, and a
/// [`super::Reconciler`] reads its view afresh after a failed pass.
#[derive(Default)]
pub(super) struct Batch {
    records: Vec<NewRecord>,
    /// `(index of the record, index of its `Action::Recorded`)`, to fill in the audit seq.
    tickets: Vec<(usize, usize)>,
}

impl Batch {
    const LIMIT: usize = 512;

    fn push(&mut self, kind: RecordKind, actor: &str, subject: &str, doc: Value) -> usize {
        self.records.push(NewRecord { kind, actor: actor.to_owned(), subject: subject.to_owned(), doc });
        self.records.len() - 1
    }

    pub(super) async fn flush_when_full(&mut self, log: &AuditLog, actions: &mut [Action]) -> Result<(), ReconcileError> {
        if self.records.len() >= Self::LIMIT { self.flush(log, actions).await } else { Ok(()) }
    }

    pub(super) async fn flush(&mut self, log: &AuditLog, actions: &mut [Action]) -> Result<(), ReconcileError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let stored = log.record_many(&self.records).await?;
        for (record, action) in self.tickets.drain(..) {
            if let (Some(event), Some(Action::Recorded { seq, .. })) = (stored.get(record), actions.get_mut(action)) {
                *seq = event.seq;
            }
        }
        self.records.clear();
        Ok(())
    }
}

/// Records the release and its gate results, each when it differs from the last one recorded.
pub(super) fn release(batch: &mut Batch, view: &mut StoreView, actor: &str, plan: &ReleasePlan) {
    let subject = format!("release/{}", plan.name);
    if view.releases.get(&subject) != Some(&plan.content_digest) {
        let doc = json!({"release": plan.name, "spec": plan.spec, "contentDigest": plan.content_digest, "modelSha256": plan.model_sha256});
        batch.push(RecordKind::Release, actor, &subject, doc);
        view.releases.insert(subject.clone(), plan.content_digest.clone());
    }
    if let Some(g) = &plan.gates
        && let Some(digest) = &g.digest
        && view.gate_results.get(&subject) != Some(digest)
    {
        let doc = json!({"release": plan.name, "digest": digest, "categories": g.categories, "failures": g.failures, "results": g.results});
        batch.push(RecordKind::GateResult, actor, &subject, doc);
        view.gate_results.insert(subject, digest.clone());
    }
}

/// Records `d` unless the newest record for `subject` is the same decision in the same state,
/// with an [`Action::Recorded`] whose seq the batch fills in when it is written.
pub(super) fn decision(batch: &mut Batch, view: &mut StoreView, actor: &str, subject: &str, d: &Decision, actions: &mut Vec<Action>) {
    if view.decisions.get(subject).is_some_and(|(id, state)| *id == d.id && state == d.state.as_str()) {
        return;
    }
    let doc = serde_json::to_value(d).unwrap_or(Value::Null);
    let record = batch.push(RecordKind::Decision, actor, subject, doc);
    view.decisions.insert(subject.to_owned(), (d.id.clone(), d.state.as_str().to_owned()));
    actions.push(Action::Recorded { subject: subject.to_owned(), state: d.state, seq: 0 });
    batch.tickets.push((record, actions.len() - 1));
}

/// A promotion record: what was promoted where, by which decision and commit.
pub(super) fn promotion(plan: &ReleasePlan, env: &EnvPlan, d: &Decision, commit: &str, audit_seq: u64, healed: bool) -> Value {
    json!({
        "release": plan.name,
        "environment": env.name,
        "model": {"name": plan.model, "version": plan.version, "sha256": plan.model_sha256},
        "image": plan.image,
        "contentDigest": plan.content_digest,
        "decision": d.id,
        "decisionSeq": audit_seq,
        "commit": commit,
        "healed": healed,
    })
}
/// The Promotion document's name: unique per (environment, model), a DNS label.
pub fn promotion_name(env: &str, model: &str) -> String {
    let name = format!("{env}-{model}");
    if name.len() <= 63 {
        return name;
    }
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}-{}", name[..50].trim_end_matches('-'), &h[..12])
}

/// The audit action of a proposal branch written (`pullRequest` mode).
pub(super) const PROPOSED: &str = "promotion.proposed";
/// The audit action of a promotion that could not be carried out; its payload is a [`Failure`].
pub const FAILED: &str = "promotion.failed";
/// The audit action of a promotion that went through after failing: the slot's failure no
/// longer stands.
pub const RECOVERED: &str = "promotion.recovered";

/// Appends one event.
pub(super) async fn append(log: &AuditLog, actor: &str, action: &str, subject: &str, payload: Value) -> Result<(), ReconcileError> {
    let event = NewEvent::new(actor, action, subject, payload).map_err(StoreError::from)?;
    log.append(&[event]).await?;
    Ok(())
}

/// Records `promotion.failed` on the decision's subject (`release/<release>@<env>`) and applies
/// it to the view.
pub(super) async fn failed(log: &AuditLog, view: &mut StoreView, actor: &str, failure: &Failure) -> Result<(), ReconcileError> {
    let payload = serde_json::to_value(Failure { retry_in_secs: None, ..failure.clone() }).unwrap_or(Value::Null);
    append(log, actor, FAILED, &approvals::subject(&failure.release, &failure.environment), payload).await?;
    view.note_failure(failure.clone());
    Ok(())
}

/// Records `promotion.recovered` for the (release, environment) of `failure`, whose promotion
/// went through since, and applies it to the view.
pub(super) async fn recovered(log: &AuditLog, view: &mut StoreView, actor: &str, failure: &Failure) -> Result<(), ReconcileError> {
    let payload = json!({
        "release": failure.release,
        "environment": failure.environment,
        "decision": failure.decision,
        "attempts": failure.attempts,
    });
    append(log, actor, RECOVERED, &approvals::subject(&failure.release, &failure.environment), payload).await?;
    view.note_recovered(&failure.release, &failure.environment);
    Ok(())
}
