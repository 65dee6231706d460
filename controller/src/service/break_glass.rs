//! Break glass, after the fact. A break-glass admission (`admission.break_glass`, recorded by
//! the admission webhook before it answers) stands until its expiry and is then someone's to
//! review: the controller asks for that review once (`break_glass.review_requested`, naming who
//! may give it), `tollgate status` shows every break-glass admission that is still active or not
//! yet reviewed, and an approver of the environment records the review
//! (`break_glass.reviewed`), never the person who broke the glass.
//!
//! The state is a fold over those three events, read through their partial index; nothing
//! else is stored.

use futures_util::TryStreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};
use tollgate_audit::event::{NewEvent, StoredEvent};
use tollgate_decision::approvals::{self, NotCounted};
use tollgate_store::{AuditLog, StoreError};

use crate::admission::AdmissionEnv;

use super::{Service, ServiceError};

/// One break-glass admission and where its review stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassEntry {
    /// The admission's audit event.
    pub seq: u64,
    /// When it was admitted.
    pub at: String,
    /// Who broke the glass (the Kubernetes user).
    pub user: String,
    /// The environment whose rule was bypassed.
    pub environment: String,
    /// Where, and what.
    pub namespace: String,
    /// The workload's kind.
    pub kind: String,
    /// The workload's name.
    pub name: String,
    /// The annotation's reason.
    pub reason: String,
    /// When the admission stops standing.
    pub expires: String,
    /// Whether it still stands (`expires` is after now).
    pub active: bool,
    /// Where its review stands.
    pub review: Review,
}

/// Where the after-the-fact review of a break-glass admission stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Review {
    /// The controller has not asked yet (it does at its next pass).
    Unrequested,
    /// Asked for, not given.
    Requested {
        /// The request's event.
        seq: u64,
        /// The groups that may review (empty: any approver).
        groups: Vec<String>,
    },
    /// Given.
    Reviewed {
        /// The review's event.
        seq: u64,
        /// The reviewer.
        by: String,
        /// When.
        at: String,
        /// What they said.
        #[serde(skip_serializing_if = "String::is_empty")]
        note: String,
    },
}

impl BreakGlassEntry {
    /// Whether `tollgate status` shows it: it stands, or nobody has reviewed it yet.
    pub fn needs_attention(&self) -> bool {
        self.active || !matches!(self.review, Review::Reviewed { .. })
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let standing = if self.active { format!("admitted until {}", self.expires) } else { format!("expired {}", self.expires) };
        let review = match &self.review {
            Review::Unrequested => "review not yet requested".to_owned(),
            Review::Requested { groups, .. } if groups.is_empty() => "awaiting review by an approver".to_owned(),
            Review::Requested { groups, .. } => format!("awaiting review by {}", groups.join(" or ")),
            Review::Reviewed { by, at, .. } => format!("reviewed by {by} at {at}"),
        };
        format!(
            "#{} {}/{} {} in {} by {} ({}): {standing}; {review}",
            self.seq, self.namespace, self.name, self.kind, self.environment, self.user, self.reason
        )
    }
}

/// The break-glass admissions, oldest first (those a workload controller inherited from its
/// parent's are counted in `inherited`: the parent's entry is the one reviewed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassReport {
    /// Each break-glass admission a person asked for.
    pub entries: Vec<BreakGlassEntry>,
    /// Admissions of ReplicaSets and Pods carrying their parent's annotation down.
    pub inherited: usize,
}

/// The subject of a break-glass admission's review events.
fn subject(seq: u64) -> String {
    format!("break-glass/{seq}")
}

/// Folds the break-glass events into entries as at `now`.
pub(crate) fn fold(events: &[StoredEvent], now: jiff::Timestamp) -> BreakGlassReport {
    let mut report = BreakGlassReport::default();
    for e in events {
        let payload = payload(&e.body);
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        match e.action.as_str() {
            "admission.break_glass" => {
                let bg = payload.get("breakGlass").cloned().unwrap_or(Value::Null);
                if bg.get("inherited").and_then(Value::as_bool).unwrap_or(false) {
                    report.inherited += 1;
                    continue;
                }
                let expires = s(&bg, "expires");
                let active = expires.parse::<jiff::Timestamp>().is_ok_and(|t| t > now);
                report.entries.push(BreakGlassEntry {
                    seq: e.seq,
                    at: e.time.clone(),
                    user: s(&bg, "user"),
                    environment: s(&payload, "environment"),
                    namespace: s(&payload, "namespace"),
                    kind: s(&payload, "kind"),
                    name: s(&payload, "name"),
                    reason: s(&bg, "reason"),
                    expires,
                    active,
                    review: Review::Unrequested,
                });
            }
            action => {
                let Some(entry) =
                    payload.get("admission").and_then(Value::as_u64).and_then(|seq| report.entries.iter_mut().find(|x| x.seq == seq))
                else {
                    continue;
                };
                match action {
                    "break_glass.review_requested" if entry.review == Review::Unrequested => {
                        let groups = payload.get("groups").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
                        entry.review = Review::Requested { seq: e.seq, groups: groups.map(str::to_owned).collect() };
                    }
                    "break_glass.reviewed" if !matches!(entry.review, Review::Reviewed { .. }) => {
                        entry.review = Review::Reviewed { seq: e.seq, by: e.actor.clone(), at: e.time.clone(), note: s(&payload, "note") };
                    }
                    _ => {}
                }
            }
        }
    }
    report
}

fn payload(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body).ok().and_then(|mut b| b.get_mut("payload").map(Value::take)).unwrap_or(Value::Null)
}

impl Service {
    async fn break_glass_events(&self) -> Result<Vec<StoredEvent>, ServiceError> {
        Ok(self.store().break_glass_events(1, u64::MAX).try_collect().await?)
    }

    /// Every break-glass admission and where its review stands, as at `now` (`reader`: as for
    /// [`Self::status`]).
    ///
    /// # Errors
    ///
    /// As [`Self::status`].
    pub async fn break_glass(&self, now: jiff::Timestamp, reader: Option<&str>) -> Result<BreakGlassReport, ServiceError> {
        if let Some(reader) = reader {
            self.reader(reader).await?;
        }
        Ok(fold(&self.break_glass_events().await?, now))
    }

    /// [`request_reviews`] for the environments of the last prepared commit.
    ///
    /// # Errors
    ///
    /// As [`Self::status`]; [`ServiceError::Audit`].
    pub async fn request_break_glass_reviews(&self) -> Result<Vec<u64>, ServiceError> {
        let snap = self.snapshot(jiff::Timestamp::now(), false).await?;
        let seqs = request_reviews(&self.log, &snap.prepared().admission.environments).await?;
        drop(snap);
        Ok(seqs)
    }

    /// Records `user`'s after-the-fact review of the break-glass admission at `seq`, with a
    /// note. Reviewing a reviewed admission again records nothing and returns the first review.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NoSuchBreakGlass`]; [`ServiceError::Refused`] when `user` is not an
    /// approver of the environment (in its groups) or is who broke the glass; as
    /// [`Self::status`]; [`ServiceError::Audit`].
    pub async fn review_break_glass(&self, user: &str, seq: u64, note: &str) -> Result<(BreakGlassEntry, bool), ServiceError> {
        let now = jiff::Timestamp::now();
        // Held to the end: reviews through one service are serialized, so one records.
        let snap = self.snapshot(now, true).await?;
        let report = fold(&self.break_glass_events().await?, now);
        let Some(entry) = report.entries.into_iter().find(|e| e.seq == seq) else {
            return Err(ServiceError::NoSuchBreakGlass { seq });
        };
        if matches!(entry.review, Review::Reviewed { .. }) {
            return Ok((entry, false));
        }
        let prepared = snap.prepared();
        let policy = prepared
            .admission
            .environments
            .iter()
            .find(|env| env.name == entry.environment)
            .map(|env| env.reviewers.clone())
            .unwrap_or_else(|| approvals::ApprovalPolicy { required: 1, groups: Vec::new(), separation_of_duties: true });
        approvals::eligible(&policy, &prepared.directory, user, std::slice::from_ref(&entry.user))
            .map_err(|reason| ServiceError::Refused { user: user.to_owned(), reason })?;
        if user == entry.user {
            return Err(ServiceError::Refused { user: user.to_owned(), reason: NotCounted::Author });
        }
        let payload = json!({ "admission": seq, "environment": entry.environment, "user": entry.user, "note": note });
        let event = NewEvent::new(user, "break_glass.reviewed", subject(seq), payload).map_err(StoreError::from)?;
        let stored = self.log.append(&[event]).await?;
        drop(snap);
        let review = Review::Reviewed {
            seq: stored.first().map_or(0, |e| e.seq),
            by: user.to_owned(),
            at: stored.first().map(|e| e.time.clone()).unwrap_or_default(),
            note: note.to_owned(),
        };
        Ok((BreakGlassEntry { review, ..entry }, true))
    }
}

/// Asks for the after-the-fact review of every break-glass admission not yet asked about: one
/// `break_glass.review_requested` event each, naming the groups of `environments` that may
/// review it. The reconcile loop calls it after each pass (the leader only); returns the
/// requests' events.
///
/// # Errors
///
/// [`ServiceError::Store`] when the events cannot be read; [`ServiceError::Audit`].
pub async fn request_reviews(log: &AuditLog, environments: &[AdmissionEnv]) -> Result<Vec<u64>, ServiceError> {
    let events: Vec<StoredEvent> = log.store().break_glass_events(1, u64::MAX).try_collect().await?;
    let report = fold(&events, jiff::Timestamp::now());
    let requests = report
        .entries
        .iter()
        .filter(|e| e.review == Review::Unrequested)
        .map(|e| {
            let groups =
                environments.iter().find(|env| env.name == e.environment).map(|env| env.reviewers.groups.clone()).unwrap_or_default();
            let payload = json!({
                "admission": e.seq,
                "environment": e.environment,
                "user": e.user,
                "reason": e.reason,
                "expires": e.expires,
                "groups": groups,
            });
            NewEvent::new("tollgate", "break_glass.review_requested", subject(e.seq), payload).map_err(StoreError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    Ok(log.append(&requests).await?.iter().map(|e| e.seq).collect())
}
