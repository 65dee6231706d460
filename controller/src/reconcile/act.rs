//! Acting on a pass's decisions: records transitions and promotes, one (release, environment) at
//! a time.

use std::path::Path;

use git2::Repository;
use serde_json::{Value, json};

use super::decide::decide_one;
use super::plan::{EnvPlan, GitPromotion, Prepared, ReleasePlan};
use super::pull_request::{PullRequests, pull_request_body, pull_request_event, pull_request_payload, pull_request_title};
use super::records::{Batch, promotion_name, promotion_record, promotion_subject, record_decision, record_release};
use super::view::StoreView;
use super::{Action, PassReport, ReconcileError};
use crate::github;
use crate::promote;
use tollgate_decision::approvals;
use tollgate_decision::{Decision, PromotedInput, State};
use tollgate_spec::repo::RepoError;
use tollgate_store::{AuditLog, RecordKind, StoreError};

/// Where promotion commits go after they are written: a remote mirror pushes them.
pub trait Publish {
    /// Pushes `commit` to `branch` of the remote; a branch that moved meanwhile is an error and
    /// the next pass starts over from the fetched tip.
    ///
    /// # Errors
    ///
    /// Whatever the transport reports.
    fn publish(&self, commit: git2::Oid, branch: &str) -> Result<(), crate::git::GitError>;

    /// The remote's URL (without credentials), from which a GitHub repository may be derived.
    fn remote_url(&self) -> Option<String> {
        None
    }
}

impl Publish for crate::git::Mirror {
    fn publish(&self, commit: git2::Oid, branch: &str) -> Result<(), crate::git::GitError> {
        self.push(commit, branch)
    }

    fn remote_url(&self) -> Option<String> {
        self.remote_url().map(str::to_owned)
    }
}

/// Records transitions and promotes. Runs only on the leader. With `publish`, promotion
/// commits are written without moving local refs and pushed.
///
/// # Errors
///
/// [`ReconcileError::Store`] or [`ReconcileError::Promote`]; work done before the error stays
/// done and recorded, and the next pass continues from there.
pub async fn act(
    log: &AuditLog,
    view: &mut StoreView,
    prepared: &Prepared,
    actor: &str,
    bot: (&str, &str),
    publish: Option<&dyn Publish>,
) -> Result<PassReport, ReconcileError> {
    view.track_decisions = true;
    view.refresh(log.store()).await?;
    let mut promotions = prepared.promotions.clone();
    let mut decisions = Vec::new();
    let mut actions = Vec::new();
    let mut promoted_now = std::collections::HashSet::new();
    let mut pulls = PullRequests::default();
    let git = Repository::open(&prepared.git_dir).map_err(|source| RepoError::Git { context: "open the repository".into(), source })?;
    let mut batch = Batch::default();
    for plan in &prepared.releases {
        record_release(&mut batch, view, actor, plan);
        for env in &plan.path {
            let mut d = decide_one(view, prepared, plan, env, &promotions);
            let subject = approvals::subject(&plan.name, &env.name);
            let pr_err = |source| ReconcileError::PullRequest {
                release: plan.name.clone(),
                environment: env.name.clone(),
                source: Box::new(source),
            };
            if d.state == State::Blocked
                && let Some(closed) = d.inputs.closed_pull_request.clone()
                && reopened(&mut pulls, prepared, publish, closed.number).await
            {
                let what = "reopened";
                let payload = pull_request_payload(view, env, plan, what);
                batch.flush(log, &mut actions).await?;
                pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                d = decide_one(view, prepared, plan, env, &promotions);
            }
            if d.state == State::Promoted {
                batch.flush(log, &mut actions).await?;
                heal(log, view, actor, prepared, plan, env, &d, &git, &mut actions).await?;
                if view.pull_request(&env.name, plan).is_some_and(|p| p.get("state").and_then(Value::as_str) == Some("open")) {
                    // The proposal reached the environment's branch: its pull request was merged.
                    let what = "merged";
                    let mut payload = pull_request_payload(view, env, plan, what);
                    payload["commit"] = json!(prepared.commit);
                    batch.flush(log, &mut actions).await?;
                    pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                }
            }
            record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
            let slot = (env.name.clone(), plan.model.clone());
            if d.state == State::Promoting && promoted_now.contains(&slot) {
                // A newer release took this slot in this pass; the next pass supersedes this one.
                decisions.push(d);
                continue;
            }
            if d.state == State::Promoting {
                promoted_now.insert(slot);
                // The promotion names its decision's audit event: record it first.
                batch.flush(log, &mut actions).await?;
                let target = env.branch.clone().or_else(|| prepared.branch.clone()).unwrap_or_else(|| "main".into());
                let proposal = env.mode == "pullRequest";
                let branch = if proposal { promote::proposal_branch(&env.name, &plan.model) } else { target.clone() };
                // GitHub is asked before anything is written, so a wrong token or repository
                // leaves neither a pushed branch nor a record behind.
                let client = if proposal { pulls.client(prepared, publish).map_err(pr_err)? } else { None };
                let mut open_pr = None;
                if let Some(c) = client {
                    open_pr = c.find_open(&branch, &target).await.map_err(pr_err)?;
                    let known = view
                        .pull_request(&env.name, plan)
                        .filter(|p| p.get("state").and_then(Value::as_str) == Some("open"))
                        .and_then(|p| p.get("number").and_then(Value::as_u64));
                    if open_pr.is_none()
                        && let Some(number) = known
                    {
                        let now = c.get(number).await.map_err(pr_err)?;
                        match now.state {
                            github::PullState::Closed => {
                                let what = "closed";
                                let payload = pull_request_payload(view, env, plan, what);
                                batch.flush(log, &mut actions).await?;
                                pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                                d = decide_one(view, prepared, plan, env, &promotions);
                                record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
                                decisions.push(d);
                                continue;
                            }
                            // Merged: the next fetch brings the promotion file, and with it `Promoted`.
                            github::PullState::Merged => {
                                decisions.push(d);
                                continue;
                            }
                            github::PullState::Open => {}
                        }
                    }
                }
                let mut audit_seq = log.store().latest_record(RecordKind::Decision, &subject).await?.map_or(0, |r| r.audit_seq);
                let path = promote::deploy_path(&env.name, &plan.model);
                // A proposal branch that already holds this decision is not written again (the
                // file's `promotedAt` would make every pass a new commit).
                let proposed = if proposal { proposed_tip(&git, &branch, &prepared.prefix, &path, plan, &d) } else { None };
                let commit = match proposed {
                    Some((tip, seq)) => {
                        // The pull request says what the file on the branch says.
                        audit_seq = seq;
                        tip
                    }
                    None => {
                        let doc = promotion_doc(prepared, plan, env, &d, audit_seq);
                        let bytes = promote::render(&doc);
                        let message = commit_message(plan, env, &d, audit_seq, proposal);
                        let commit = promote::commit_file(
                            &git,
                            &promote::Commit {
                                branch: &branch,
                                base: &target,
                                prefix: &prepared.prefix,
                                path: &path,
                                contents: &bytes,
                                message: &message,
                                bot,
                                detached: publish.is_some(),
                            },
                        )
                        .map_err(|source| ReconcileError::Promote {
                            release: plan.name.clone(),
                            environment: env.name.clone(),
                            source,
                        })?;
                        if let Some(p) = publish {
                            p.publish(commit, &branch).map_err(|source| ReconcileError::Push {
                                release: plan.name.clone(),
                                environment: env.name.clone(),
                                source: Box::new(source),
                            })?;
                        }
                        commit
                    }
                };
                if proposal {
                    if proposed.is_none() {
                        let doc = json!({"release": plan.name, "environment": env.name, "branch": branch, "commit": commit.to_string(), "decision": d.id});
                        let event =
                            tollgate_audit::event::NewEvent::new(actor, "promotion.proposed", &subject, doc).map_err(StoreError::from)?;
                        log.append(&[event]).await?;
                        actions.push(Action::Proposed {
                            release: plan.name.clone(),
                            environment: env.name.clone(),
                            branch: branch.clone(),
                            commit: commit.to_string(),
                        });
                    }
                    if let Some(c) = client {
                        let title = pull_request_title(plan, env);
                        let body = pull_request_body(prepared, plan, env, &d, audit_seq, &branch, commit);
                        let want = github::Proposal { head: &branch, base: &target, title: &title, body: &body };
                        let (pr, ensured) = match open_pr {
                            Some(found) => c.refresh(found, &want).await,
                            None => c.ensure(&want).await,
                        }
                        .map_err(pr_err)?;
                        let known = view.pull_request(&env.name, plan).is_some_and(|p| {
                            p.get("number").and_then(Value::as_u64) == Some(pr.number)
                                && p.get("state").and_then(Value::as_str) == Some("open")
                        });
                        let what = match (ensured, known) {
                            (github::Ensured::Opened, _) => Some("opened"),
                            // Opened by an earlier pass that stopped before recording it.
                            (_, false) => Some("adopted"),
                            (github::Ensured::Updated, true) => Some("updated"),
                            (github::Ensured::Found, true) => None,
                        };
                        if let Some(what) = what {
                            let payload = json!({
                                "release": plan.name,
                                "environment": env.name,
                                "model": plan.model,
                                "contentDigest": plan.content_digest,
                                "decision": d.id,
                                "decisionSeq": audit_seq,
                                "repository": c.target().full_name(),
                                "number": pr.number,
                                "url": pr.url,
                                "head": branch,
                                "base": target,
                                "commit": commit.to_string(),
                                "state": "open",
                            });
                            batch.flush(log, &mut actions).await?;
                            pull_request_event(log, view, actor, env, plan, what, payload, &mut actions).await?;
                        }
                    }
                    decisions.push(d);
                    continue;
                }
                let record = promotion_record(plan, env, &d, &commit.to_string(), audit_seq, false);
                log.record(RecordKind::Promotion, actor, &promotion_subject(&env.name, &plan.model), &record).await?;
                view.note_promotion(&env.name, &plan.model, record);
                actions.push(Action::Promoted {
                    release: plan.name.clone(),
                    environment: env.name.clone(),
                    commit: commit.to_string(),
                    branch,
                });
                promotions.insert(
                    (env.name.clone(), plan.model.clone()),
                    GitPromotion {
                        release: plan.name.clone(),
                        content_digest: Some(plan.content_digest.clone()),
                        decision: Some(d.id.clone()),
                    },
                );
                d = decide_one(view, prepared, plan, env, &promotions);
                record_decision(&mut batch, view, actor, &subject, &d, &mut actions);
            }
            decisions.push(d);
        }
        batch.flush_when_full(log, &mut actions).await?;
    }
    batch.flush(log, &mut actions).await?;
    Ok(PassReport { commit: prepared.commit.clone(), decisions, actions })
}

/// Whether the closed pull request `number` was reopened. GitHub being unreachable here is
/// logged, not an error: the decision stays what the trail says until the next pass.
async fn reopened(pulls: &mut PullRequests, prepared: &Prepared, publish: Option<&dyn Publish>, number: u64) -> bool {
    let client = match pulls.client(prepared, publish) {
        Ok(Some(c)) => c,
        Ok(None) => return false,
        Err(err) => {
            tracing::warn!(error = %err, number, "cannot ask GitHub whether a closed promotion pull request was reopened");
            return false;
        }
    };
    match client.get(number).await {
        Ok(pr) => pr.state == github::PullState::Open,
        Err(err) => {
            tracing::warn!(error = %err, number, "cannot ask GitHub whether a closed promotion pull request was reopened");
            false
        }
    }
}
/// names this release, content and decision.
fn proposed_tip(git: &Repository, branch: &str, prefix: &str, path: &str, plan: &ReleasePlan, d: &Decision) -> Option<(git2::Oid, u64)> {
    let tip = git.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
    let full = if prefix.is_empty() { path.to_owned() } else { format!("{prefix}/{path}") };
    let entry = git.find_commit(tip).ok()?.tree().ok()?.get_path(Path::new(&full)).ok()?;
    let blob = git.find_blob(entry.id()).ok()?;
    let docs = tollgate_spec::yaml::parse_documents(blob.content(), &tollgate_spec::yaml::Limits::default()).ok()?;
    let spec = docs.first()?.value.get("spec")?.clone();
    let is = |k: &str, v: &str| spec.get(k).and_then(Value::as_str) == Some(v);
    let seq = spec.get("auditSeq").and_then(Value::as_u64).unwrap_or_default();
    (is("release", &plan.name) && is("contentDigest", &plan.content_digest) && is("decision", &d.id)).then_some((tip, seq))
}

#[allow(clippy::too_many_arguments)]
async fn heal(
    log: &AuditLog,
    view: &mut StoreView,
    actor: &str,
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    d: &Decision,
    git: &Repository,
    actions: &mut Vec<Action>,
) -> Result<(), ReconcileError> {
    let recorded = view.promotions(&env.name, &plan.model).iter().any(|r| {
        r.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
            && r.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
    });
    if recorded {
        return Ok(());
    }
    let decision = match &d.inputs.promoted {
        PromotedInput::This { decision, .. } => decision.clone(),
        _ => None,
    };
    let tip = git2::Oid::from_str(&prepared.commit).ok();
    let commit = tip
        .zip(decision.as_deref())
        .and_then(|(tip, dec)| promote::find_decision_commit(git, tip, dec, 10_000))
        .map(|c| c.to_string())
        .unwrap_or_else(|| prepared.commit.clone());
    let mut record = promotion_record(plan, env, d, &commit, 0, true);
    if let Some(dec) = decision {
        record["decision"] = json!(dec);
    }
    log.record(RecordKind::Promotion, actor, &promotion_subject(&env.name, &plan.model), &record).await?;
    view.note_promotion(&env.name, &plan.model, record);
    actions.push(Action::Healed { release: plan.name.clone(), environment: env.name.clone() });
    Ok(())
}

fn promotion_doc(prepared: &Prepared, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, audit_seq: u64) -> Value {
    let gates = plan.gates.as_ref().map_or(Value::Null, |g| json!({"digest": g.digest, "passed": g.categories}));
    let approvals: Vec<Value> = d.inputs.approvals.counted.iter().map(|a| json!({"user": a.user, "at": a.at})).collect();
    let mut spec = json!({
        "environment": env.name,
        "release": plan.name,
        "model": {"name": plan.model, "version": plan.version, "sha256": plan.model_sha256.clone().unwrap_or_default()},
        "contentDigest": plan.content_digest,
        "decision": d.id,
        "auditSeq": audit_seq,
        "promotedAt": prepared.now.to_string(),
    });
    if let Some(image) = &plan.image {
        spec["image"] = json!(image);
    }
    if !gates.is_null() {
        spec["gates"] = gates;
    }
    if !approvals.is_empty() {
        spec["approvals"] = Value::Array(approvals);
    }
    json!({
        "apiVersion": "tollgate.dev/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": promotion_name(&env.name, &plan.model)},
        "spec": spec,
    })
}

fn commit_message(plan: &ReleasePlan, env: &EnvPlan, d: &Decision, audit_seq: u64, proposal: bool) -> String {
    let verb = if proposal { "Propose promoting" } else { "Promote" };
    let mut m = format!("{verb} {} ({}@{}) to {}\n\n", plan.name, plan.model, plan.version, env.name);
    for r in &d.reasons {
        m.push_str(&format!("- {}\n", r.message));
    }
    m.push_str(&format!(
        "\nTollgate-Decision: {}\nTollgate-Release: {}\nTollgate-Environment: {}\nTollgate-Content-Digest: {}\nTollgate-Audit-Seq: {audit_seq}\n",
        d.id, plan.name, env.name, plan.content_digest
    ));
    m
}
