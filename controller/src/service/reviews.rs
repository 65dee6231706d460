//! Approvals from GitHub pull-request reviews: an APPROVED review by a user `tollgate.yaml`
//! maps to a GitHub login is that user's approval of each release the pull request changes,
//! into each environment on its path whose approvals the user may give, bound to the release's
//! content digest at the commit reviewed. It is recorded like any approval (an
//! `approval.recorded` event), with the review's id, the login and the commit; a push that
//! changes a release's content voids it there (another digest), one that does not keeps it
//! (sticky approvals). A dismissed review, or a later review asking for changes, revokes it.
//!
//! Separation of duties holds twice: the authors and committers of the release change may not
//! approve it, and neither may the pull request's author.

use serde::Serialize;
use serde_json::{Value, json};
use tollgate_decision::approvals::{self, NotCounted};
use tollgate_store::RecordKind;

use super::{Service, ServiceError};
use crate::reconcile::{Prepared, ReleasePlan};

/// A review, as the pull-request door hands it over.
#[derive(Debug, Clone)]
pub struct ReviewFacts<'a> {
    /// GitHub's id of the review.
    pub id: u64,
    /// The reviewer's login.
    pub login: &'a str,
    /// The commit reviewed.
    pub commit: &'a str,
    /// The pull request's author's login.
    pub pull_author: &'a str,
    /// The pull request's number.
    pub pull: u64,
    /// Groups the reviewer is in through a GitHub team (asked of GitHub by the door).
    pub team_groups: Vec<String>,
}

/// What a review did for one release and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum ReviewVerdict {
    /// Recorded as an approval (the audit sequence number).
    Recorded {
        /// The event.
        seq: u64,
    },
    /// The user's approval of this content was recorded before.
    AlreadyApproved,
    /// It does not count, and why.
    Refused {
        /// Why.
        reason: NotCounted,
    },
    /// An approval this review gave was withdrawn (the revocation's sequence number).
    Revoked {
        /// The event.
        seq: u64,
    },
}

/// One (release, environment) a review touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewOutcome {
    /// The release.
    pub release: String,
    /// The environment.
    pub environment: String,
    /// What happened.
    pub verdict: ReviewVerdict,
}

impl Service {
    /// Records an APPROVED review as approvals of `releases` (plans at the reviewed commit, in
    /// `prepared`) into every environment on their paths that asks for approvals. A login no user
    /// maps to, or a user who may not approve there, is refused with the reason (recorded
    /// nowhere: only approvals are records).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Store`] and [`ServiceError::Audit`].
    pub(crate) async fn record_review(
        &self,
        prepared: &Prepared,
        releases: &[&ReleasePlan],
        review: &ReviewFacts<'_>,
    ) -> Result<Vec<ReviewOutcome>, ServiceError> {
        // Writes are serialized as `approve` serializes them: under the prepared state's lock.
        let _writing = self.cache.lock().await;
        let dir = &prepared.directory;
        let user = dir.by_github(review.login);
        let pull_author_email = dir.by_github(review.pull_author).and_then(|u| u.email.clone());
        let mut out = Vec::new();
        for plan in releases {
            for env in plan.path.iter().filter(|e| e.approvals.required > 0) {
                let outcome = |verdict| ReviewOutcome { release: plan.name.clone(), environment: env.name.clone(), verdict };
                let Some(user) = user else {
                    out.push(outcome(ReviewVerdict::Refused { reason: NotCounted::UnknownUser }));
                    continue;
                };
                if review.login.eq_ignore_ascii_case(review.pull_author) {
                    out.push(outcome(ReviewVerdict::Refused { reason: NotCounted::Author }));
                    continue;
                }
                let mut authors = env.authors.clone();
                authors.extend(pull_author_email.clone());
                if let Err(reason) = approvals::eligible_with(&env.approvals, dir, &user.name, &review.team_groups, &authors) {
                    out.push(outcome(ReviewVerdict::Refused { reason }));
                    continue;
                }
                let live = self.live(&plan.name, &env.name).await?;
                if live.iter().any(|a| a.user == user.name && a.content_digest == plan.content_digest) {
                    out.push(outcome(ReviewVerdict::AlreadyApproved));
                    continue;
                }
                let at = jiff::Timestamp::now().to_string();
                let mut doc = approvals::approval_doc(&plan.name, &env.name, &user.name, &plan.content_digest, &at, "github");
                doc["review"] = json!({"id": review.id, "login": review.login, "commit": review.commit, "pullRequest": review.pull});
                if !review.team_groups.is_empty() {
                    doc["teamGroups"] = json!(review.team_groups);
                }
                let subject = approvals::subject(&plan.name, &env.name);
                let event = self.log().record(RecordKind::Approval, &user.name, &subject, &doc).await?;
                out.push(outcome(ReviewVerdict::Recorded { seq: event.seq }));
            }
        }
        Ok(out)
    }

    /// Withdraws the live approvals that review `review_id` gave (when it is dismissed), or,
    /// with `login`, every live approval the reviewer gave through reviews of pull request
    /// `pull` (when they then ask for changes), for `releases` into every environment on their
    /// paths. The revocations name `actor` (`github:<login>` of who did it).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Store`] and [`ServiceError::Audit`].
    pub(crate) async fn revoke_review(
        &self,
        releases: &[&ReleasePlan],
        review_id: Option<u64>,
        login: Option<&str>,
        pull: u64,
        actor: &str,
    ) -> Result<Vec<ReviewOutcome>, ServiceError> {
        // Writes are serialized as `approve` serializes them: under the prepared state's lock.
        let _writing = self.cache.lock().await;
        let mut out = Vec::new();
        for plan in releases {
            for env in &plan.path {
                let subject = approvals::subject(&plan.name, &env.name);
                let records = self.store().records_for(RecordKind::Approval, &subject).await?;
                let live: std::collections::BTreeSet<u64> =
                    approvals::live_approvals(records.iter().map(|r| (r.audit_seq, &r.doc))).iter().map(|a| a.seq).collect();
                for r in records.iter().filter(|r| live.contains(&r.audit_seq)) {
                    let by_review = r.doc.get("review");
                    let id = by_review.and_then(|v| v.get("id")).and_then(Value::as_u64);
                    let same_pull = by_review.and_then(|v| v.get("pullRequest")).and_then(Value::as_u64) == Some(pull);
                    let reviewer = by_review.and_then(|v| v.get("login")).and_then(Value::as_str);
                    let hit = match (review_id, login) {
                        (Some(want), _) => id == Some(want),
                        (None, Some(who)) => same_pull && reviewer.is_some_and(|l| l.eq_ignore_ascii_case(who)),
                        (None, None) => false,
                    };
                    if !hit {
                        continue;
                    }
                    let at = jiff::Timestamp::now().to_string();
                    let doc = approvals::revocation_doc(&plan.name, &env.name, actor, r.audit_seq, &at);
                    let event = self.log().record(RecordKind::Approval, actor, &subject, &doc).await?;
                    out.push(ReviewOutcome {
                        release: plan.name.clone(),
                        environment: env.name.clone(),
                        verdict: ReviewVerdict::Revoked { seq: event.seq },
                    });
                }
            }
        }
        Ok(out)
    }
}
