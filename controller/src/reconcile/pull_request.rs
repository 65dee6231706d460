//! Pull-request promotions: the state machine of a slot's pull request ([`step`], pure), the
//! GitHub client of a pass, and the pull request's title and body.
//!
//! The audit trail holds a slot's pull request as the payload of its newest
//! `promotion.pull_request_*` event ([`Trail`]); [`step`] takes that and what the reconciler saw
//! ([`Seen`]: the promotion file landed, GitHub's state of the pull request, or what `ensure` did)
//! and returns the event to record and what the slot does next. `act` does the asking, the
//! pushing and the recording.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use super::act::Publish;
use super::plan::{EnvPlan, Prepared, ReleasePlan};
use crate::github::{self, Ensured, PullState};
use tollgate_decision::Decision;

/// The audit actions of promotion pull requests: `…opened`, `…adopted`, `…updated`, `…closed`,
/// `…reopened`, `…merged`.
pub const PULL_REQUEST_ACTION_PREFIX: &str = "promotion.pull_request_";

/// What the audit trail says of the slot's pull request for this release and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trail {
    /// Nothing: no pull request was recorded for this release and content.
    None,
    /// Pull request `n` is open.
    Open(u64),
    /// Pull request `n` was closed without merging.
    Closed(u64),
    /// Pull request `n` was merged and the promotion file reached the branch.
    Merged(u64),
}

impl Trail {
    /// From the payload of the slot's newest pull-request event for this release and content.
    pub(super) fn of(payload: Option<&Value>) -> Trail {
        let Some(p) = payload else { return Trail::None };
        let number = p.get("number").and_then(Value::as_u64).unwrap_or_default();
        match p.get("state").and_then(Value::as_str) {
            Some("open") => Trail::Open(number),
            Some("closed") => Trail::Closed(number),
            Some("merged") => Trail::Merged(number),
            _ => Trail::None,
        }
    }
}

/// What the reconciler saw of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// The promotion file is on the environment's branch: the decision is `Promoted`.
    Landed,
    /// GitHub's state of the pull request the trail names (asked when the trail says closed, or
    /// says open and no open pull request comes from the proposal branch).
    Named(PullState),
    /// The open pull request `number` from the proposal branch, after `ensure` or `refresh`.
    Ensured(u64, Ensured),
}

/// An event of the trail, `promotion.pull_request_<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// tollgate opened it.
    Opened,
    /// An open one the trail did not know was found (an earlier process died between the create
    /// and its record, or a person opened it).
    Adopted,
    /// Its title or body changed.
    Updated,
    /// It was closed without merging.
    Closed,
    /// It was reopened.
    Reopened,
    /// The promotion file reached the environment's branch.
    Merged,
}

impl Event {
    /// The last word of the audit action.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Event::Opened => "opened",
            Event::Adopted => "adopted",
            Event::Updated => "updated",
            Event::Closed => "closed",
            Event::Reopened => "reopened",
            Event::Merged => "merged",
        }
    }

    /// The pull request's state after it, as the payload's `state` says.
    pub(super) fn state(self) -> &'static str {
        match self {
            Event::Closed => "closed",
            Event::Merged => "merged",
            Event::Opened | Event::Adopted | Event::Updated | Event::Reopened => "open",
        }
    }
}

/// What the slot does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Decide again: the event changed an input of the decision (`closedPullRequest`).
    Decide,
    /// Push the proposal branch and open, or find and update, its pull request.
    Propose,
    /// Nothing more this pass.
    Stop,
}

/// The state machine of a slot's pull request: the event to record, if any, and what the slot
/// does next. The whole behaviour is the table in this module's tests.
pub(super) fn step(trail: Trail, seen: Seen) -> (Option<Event>, Then) {
    match (trail, seen) {
        (Trail::Open(_), Seen::Landed) => (Some(Event::Merged), Then::Stop),
        (_, Seen::Landed) => (None, Then::Stop),
        (Trail::Closed(_), Seen::Named(PullState::Open)) => (Some(Event::Reopened), Then::Decide),
        // Still closed: a reviewer's "no" stands until it is reopened or the release changes.
        (Trail::Closed(_), Seen::Named(_)) => (None, Then::Stop),
        (Trail::Open(_), Seen::Named(PullState::Closed)) => (Some(Event::Closed), Then::Decide),
        // Merged: the next fetch brings the promotion file, and with it `Promoted`.
        (Trail::Open(_), Seen::Named(PullState::Merged)) => (None, Then::Stop),
        (Trail::Open(_), Seen::Named(PullState::Open)) => (None, Then::Propose),
        // No pull request of the trail to ask about: propose one.
        (Trail::None | Trail::Merged(_), Seen::Named(_)) => (None, Then::Propose),
        (_, Seen::Ensured(_, Ensured::Opened)) => (Some(Event::Opened), Then::Stop),
        (Trail::Open(known), Seen::Ensured(number, Ensured::Updated)) if known == number => (Some(Event::Updated), Then::Stop),
        (Trail::Open(known), Seen::Ensured(number, Ensured::Found)) if known == number => (None, Then::Stop),
        // Open, and not the one the trail knows: opened by an earlier pass that stopped before
        // recording it, or by a person.
        (_, Seen::Ensured(_, Ensured::Found | Ensured::Updated)) => (Some(Event::Adopted), Then::Stop),
    }
}

/// The GitHub client of a pass, made when the first pull-request promotion needs it.
#[derive(Default)]
pub(super) struct PullRequests {
    client: Option<Option<Arc<github::Client>>>,
}

impl PullRequests {
    /// The client, or `None` when pull requests are not opened: the config repo is not a remote
    /// mirror (the branch stays local), or neither `spec.github` nor a `github.com` remote says
    /// where. An error (no token, a bad repository) is not kept: each slot that needs the
    /// client tries again, and fails on its own.
    pub(super) fn client(
        &mut self,
        prepared: &Prepared,
        publish: Option<&dyn Publish>,
    ) -> Result<Option<Arc<github::Client>>, github::GitHubError> {
        if self.client.is_none() {
            let client = match publish {
                None => None,
                Some(p) => match github::Target::resolve(prepared.github.as_ref(), p.remote_url().as_deref())? {
                    Some(target) => Some(Arc::new(github::Client::new(target, None)?)),
                    None => None,
                },
            };
            self.client = Some(client);
        }
        Ok(self.client.clone().flatten())
    }
}

/// The pull request's title.
pub(super) fn title(plan: &ReleasePlan, env: &EnvPlan) -> String {
    format!("Promote {} ({}@{}) to {}", plan.name, plan.model, plan.version, env.name)
}

/// The pull request's body: the facts of the Promotion document, for reviewers.
pub(super) fn body(
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    d: &Decision,
    audit_seq: u64,
    branch: &str,
    commit: git2::Oid,
) -> String {
    let mut b = format!("tollgate proposes promoting release `{}` to environment `{}`.\n\n", plan.name, env.name);
    b.push_str("| | |\n|---|---|\n");
    b.push_str(&format!("| Release | `{}` |\n| Environment | `{}` |\n", plan.name, env.name));
    b.push_str(&format!("| Model | `{}@{}` |\n", plan.model, plan.version));
    b.push_str(&format!("| Model digest | `sha256:{}` |\n", plan.model_sha256.as_deref().unwrap_or("unknown")));
    if let Some(image) = &plan.image {
        b.push_str(&format!("| Serving image | `{image}` |\n"));
    }
    b.push_str(&format!("| Content digest | `{}` |\n", plan.content_digest));
    let gates = match &plan.gates {
        None => "none defined".to_owned(),
        Some(g) => {
            let cats: Vec<String> = g.categories.iter().map(|(c, ok)| format!("{c} {}", if *ok { "pass" } else { "fail" })).collect();
            format!(
                "{} (results `{}`)",
                if cats.is_empty() { "none".into() } else { cats.join(", ") },
                g.digest.as_deref().unwrap_or("n/a")
            )
        }
    };
    b.push_str(&format!("| Gates | {gates} |\n"));
    let counted: Vec<String> = d.inputs.approvals.counted.iter().map(|a| format!("{} ({})", a.user, a.at)).collect();
    let approvals = if counted.is_empty() { "none required".to_owned() } else { counted.join(", ") };
    b.push_str(&format!("| Approvals counted | {approvals} |\n"));
    b.push_str(&format!("| Decision | `{}` (audit seq {audit_seq}) |\n", d.id));
    b.push_str(&format!("| Config commit | `{}` |\n| Proposal | `{branch}` at `{commit}` |\n\n", prepared.commit));
    if !d.reasons.is_empty() {
        b.push_str("Why:\n");
        for r in &d.reasons {
            b.push_str(&format!("- {}\n", r.message));
        }
        b.push('\n');
    }
    b.push_str(
        "Merging promotes the release: the decision becomes `Promoted` when `deploy/` on the base branch names it. \
         Closing without merging stops this promotion (`Blocked`) until the pull request is reopened or the release changes.\n\n",
    );
    b.push_str(&format!("<!-- tollgate: decision={} release={} environment={} -->\n", d.id, plan.name, env.name));
    b
}
