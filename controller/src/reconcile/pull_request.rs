//! The steps of a pull-request promotion: the GitHub client of a pass, the pull request's title
//! and body, and the `promotion.pull_request_*` events.

use serde_json::{Value, json};

use super::act::Publish;
use super::plan::{EnvPlan, Prepared, ReleasePlan};
use super::records::promotion_subject;
use super::view::StoreView;
use super::{Action, ReconcileError};
use crate::github;
use tollgate_decision::Decision;
use tollgate_store::{AuditLog, StoreError};

/// The audit actions of promotion pull requests: `…opened`, `…adopted`, `…updated`, `…closed`,
/// `…reopened`, `…merged`.
pub const PULL_REQUEST_ACTION_PREFIX: &str = "promotion.pull_request_";

/// The GitHub client of a pass, made when the first pull-request promotion needs it.
#[derive(Default)]
pub(super) struct PullRequests {
    client: Option<Option<github::Client>>,
}

impl PullRequests {
    /// The client, or `None` when pull requests are not opened: the config repo is not a remote
    /// mirror (the branch stays local), or neither `spec.github` nor a `github.com` remote says
    /// where.
    pub(super) fn client(
        &mut self,
        prepared: &Prepared,
        publish: Option<&dyn Publish>,
    ) -> Result<Option<&github::Client>, github::GitHubError> {
        if self.client.is_none() {
            let client = match publish {
                None => None,
                Some(p) => match github::Target::resolve(prepared.github.as_ref(), p.remote_url().as_deref())? {
                    Some(target) => Some(github::Client::new(target)?),
                    None => None,
                },
            };
            self.client = Some(client);
        }
        Ok(self.client.as_ref().and_then(Option::as_ref))
    }
}

/// The payload of the slot's last pull-request event, with a new `state`.
pub(super) fn pull_request_payload(view: &StoreView, env: &EnvPlan, plan: &ReleasePlan, what: &str) -> Value {
    let mut payload = view.pull_request(&env.name, plan).cloned().unwrap_or_else(|| json!({}));
    payload["state"] = json!(match what {
        "closed" => "closed",
        "merged" => "merged",
        _ => "open",
    });
    payload
}

/// Appends `promotion.pull_request_<what>` for the slot and applies it to the view.
#[allow(clippy::too_many_arguments)]
pub(super) async fn pull_request_event(
    log: &AuditLog,
    view: &mut StoreView,
    actor: &str,
    env: &EnvPlan,
    plan: &ReleasePlan,
    what: &str,
    payload: Value,
    actions: &mut Vec<Action>,
) -> Result<(), ReconcileError> {
    let subject = promotion_subject(&env.name, &plan.model);
    let action = format!("{PULL_REQUEST_ACTION_PREFIX}{what}");
    let event = tollgate_audit::event::NewEvent::new(actor, &action, &subject, payload.clone()).map_err(StoreError::from)?;
    log.append(&[event]).await?;
    actions.push(Action::PullRequest {
        release: plan.name.clone(),
        environment: env.name.clone(),
        number: payload.get("number").and_then(Value::as_u64).unwrap_or_default(),
        url: payload.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
        what: what.to_owned(),
    });
    view.pull_requests.insert(subject, payload);
    Ok(())
}

/// The tip of the proposal branch and the file's `auditSeq`, when its promotion file already
pub(super) fn pull_request_title(plan: &ReleasePlan, env: &EnvPlan) -> String {
    format!("Promote {} ({}@{}) to {}", plan.name, plan.model, plan.version, env.name)
}

/// The pull request's body: the facts of the Promotion document, for reviewers.
pub(super) fn pull_request_body(
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
