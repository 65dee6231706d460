//! Acting on a pass's decisions, one (release, environment) slot at a time: records each
//! transition, heals a promotion found in Git without its record, and carries out `Promoting`
//! decisions (commit and push, or in `pullRequest` mode push a proposal branch and open its pull
//! request; see [`super::pull_request`]).
//!
//! Effects are per slot. A push, commit or GitHub call that fails stops that slot alone: the
//! failure is recorded (`promotion.failed`, with the reason), the slot waits out a backoff
//! ([`super::backoff`]) and every other slot goes on. Only the store failing stops the pass.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use git2::{Oid, Repository};
use serde_json::{Value, json};

use super::backoff::{Slot, Slots};
use super::decide::decide_one;
use super::plan::{EnvPlan, GitPromotion, Prepared, ReleasePlan};
use super::pull_request::{self, PullRequests, Seen, Then, Trail};
use super::records::{self, Batch};
use super::view::StoreView;
use super::{Action, Failure, PassReport, ReconcileError, SlotError};
use crate::github::{self, PullState};
use crate::promote;
use tollgate_decision::approvals;
use tollgate_decision::{Decision, PromotedInput, State};
use tollgate_error::chain;
use tollgate_spec::repo::RepoError;
use tollgate_store::{AuditLog, NewRecord, RecordKind, StoreError};

/// Where promotion commits go after they are written: a remote mirror pushes them.
pub trait Publish {
    /// Pushes `commit` to `branch` of the remote; a branch that moved meanwhile is an error and
    /// the next pass starts over from the fetched tip.
    ///
    /// # Errors
    ///
    /// Whatever the transport reports.
    fn publish(&self, commit: Oid, branch: &str) -> Result<(), crate::git::GitError>;

    /// The remote's URL (without credentials), from which a GitHub repository may be derived.
    fn remote_url(&self) -> Option<String> {
        None
    }
}

impl Publish for crate::git::Mirror {
    fn publish(&self, commit: Oid, branch: &str) -> Result<(), crate::git::GitError> {
        self.push(commit, branch)
    }

    fn remote_url(&self) -> Option<String> {
        self.remote_url().map(str::to_owned)
    }
}

/// The handles a pass acts with; they do not change during the pass.
pub(super) struct Context<'a> {
    /// The audit log every record and event goes through.
    pub(super) log: &'a AuditLog,
    /// Who the records name (`tollgate`).
    pub(super) actor: &'a str,
    /// The identity promotion commits are made with.
    pub(super) bot: (&'a str, &'a str),
    /// Where promotion commits are pushed (a remote mirror); without it they are committed to
    /// the local branch.
    pub(super) publish: Option<&'a dyn Publish>,
    /// The instant the pass runs at, for backoff (the decisions' clock is `Prepared::now`).
    pub(super) now: Instant,
}

/// Records transitions and promotes, slot by slot. Runs only on the leader, through
/// [`super::Reconciler::pass`]. With `publish`, promotion commits are written without moving
/// local refs and pushed.
///
/// A decision is recorded only when it differs from the last one recorded for its slot, which
/// only a view that tracks decisions knows; any other view is read afresh first.
///
/// # Errors
///
/// [`ReconcileError::Store`] or [`ReconcileError::Audit`] when the store fails,
/// [`ReconcileError::Repo`] when the repository cannot be opened. Work done before the error
/// stays done and recorded, and the next pass continues from there. A slot whose promotion
/// fails is not an error: see [`PassReport::failures`].
pub(super) async fn act(
    cx: &Context<'_>,
    view: &mut StoreView,
    prepared: &Prepared,
    slots: &mut Slots,
) -> Result<PassReport, ReconcileError> {
    if !view.tracks_decisions() {
        *view = StoreView::with_decisions();
    }
    view.refresh(cx.log.store()).await?;
    let git = Repository::open(&prepared.git_dir).map_err(|source| RepoError::Git { context: "open the repository".into(), source })?;
    let mut pass = Pass {
        cx,
        prepared,
        view,
        slots,
        git,
        pulls: PullRequests::default(),
        batch: Batch::default(),
        actions: Vec::new(),
        promotions: prepared.promotions.clone(),
        taken: HashSet::new(),
        failures: Vec::new(),
    };
    let mut decisions = Vec::new();
    for plan in &prepared.releases {
        records::release(&mut pass.batch, pass.view, cx.actor, plan);
        for env in &plan.path {
            decisions.push(pass.slot(plan, env).await?);
        }
        pass.batch.flush_when_full(cx.log, &mut pass.actions).await?;
    }
    pass.batch.flush(cx.log, &mut pass.actions).await?;
    let failing: HashSet<Slot> = pass.failures.iter().map(|f| (f.release.clone(), f.environment.clone())).collect();
    pass.slots.retain(|slot| failing.contains(slot));
    Ok(PassReport { commit: prepared.commit.clone(), decisions, actions: pass.actions, failures: pass.failures })
}

/// Why a slot's effects stopped.
enum Fault {
    /// This slot failed; the pass goes on.
    Slot(SlotError),
    /// The pass cannot go on (the store failed).
    Pass(ReconcileError),
}

impl From<SlotError> for Fault {
    fn from(err: SlotError) -> Self {
        Fault::Slot(err)
    }
}

impl From<ReconcileError> for Fault {
    fn from(err: ReconcileError) -> Self {
        Fault::Pass(err)
    }
}

impl From<StoreError> for Fault {
    fn from(err: StoreError) -> Self {
        Fault::Pass(err.into())
    }
}

/// Where a promotion goes.
struct Destination {
    /// The environment's branch.
    target: String,
    /// The branch written: `target`, or the proposal branch in `pullRequest` mode.
    branch: String,
    /// The promotion file, in the config repo.
    path: String,
    /// `pullRequest` mode.
    proposal: bool,
}

/// One pass's acting.
struct Pass<'a> {
    cx: &'a Context<'a>,
    prepared: &'a Prepared,
    view: &'a mut StoreView,
    slots: &'a mut Slots,
    git: Repository,
    pulls: PullRequests,
    batch: Batch,
    actions: Vec<Action>,
    /// What Git names per (environment, model), with this pass's promotions.
    promotions: HashMap<(String, String), GitPromotion>,
    /// The (environment, model) slots a release took in this pass; releases come newest first,
    /// so an older release of the model waits for the next pass, which supersedes it.
    taken: HashSet<(String, String)>,
    /// Slots whose promotion failed in this pass or waits out its backoff.
    failures: Vec<Failure>,
}

impl Pass<'_> {
    fn decide(&self, plan: &ReleasePlan, env: &EnvPlan) -> Decision {
        decide_one(self.view, self.prepared, plan, env, &self.promotions)
    }

    fn record(&mut self, d: &Decision) {
        let subject = approvals::subject(&d.release, &d.environment);
        records::decision(&mut self.batch, self.view, self.cx.actor, &subject, d, &mut self.actions);
    }

    async fn flush(&mut self) -> Result<(), ReconcileError> {
        self.batch.flush(self.cx.log, &mut self.actions).await
    }

    /// Decides one slot, records the decision and acts on it.
    async fn slot(&mut self, plan: &ReleasePlan, env: &EnvPlan) -> Result<Decision, ReconcileError> {
        let mut d = self.decide(plan, env);
        if d.state == State::Blocked
            && let Some(closed) = d.inputs.closed_pull_request.clone()
            && let Some(state) = self.pull_state(closed.number).await
            && self.pull_request_step(plan, env, Trail::Closed(closed.number), Seen::Named(state), None).await? == Then::Decide
        {
            d = self.decide(plan, env);
        }
        if d.state == State::Promoted {
            self.flush().await?;
            self.heal(plan, env, &d).await?;
            let trail = Trail::of(self.view.pull_request(&env.name, plan));
            self.pull_request_step(plan, env, trail, Seen::Landed, None).await?;
        }
        self.record(&d);
        if d.state != State::Promoting || !self.taken.insert((env.name.clone(), plan.model.clone())) {
            return Ok(d);
        }
        let slot = (plan.name.clone(), env.name.clone());
        if let Some(waiting) = self.slots.waiting(&slot, &d.id, self.cx.now) {
            self.failures.push(waiting);
            return Ok(d);
        }
        // The promotion names its decision's audit event: record it first.
        self.flush().await?;
        match self.promote(plan, env, &d).await {
            Ok(next) => {
                if let Some(failure) = self.view.failure(&plan.name, &env.name).cloned() {
                    records::recovered(self.cx.log, self.view, self.cx.actor, &failure).await?;
                }
                if let Some(next) = next {
                    d = next;
                    self.record(&d);
                }
            }
            Err(Fault::Slot(err)) => self.failed(plan, env, &d, &err).await?,
            Err(Fault::Pass(err)) => return Err(err),
        }
        Ok(d)
    }

    /// Records that the slot's promotion failed and when it is tried again.
    async fn failed(&mut self, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, err: &SlotError) -> Result<(), ReconcileError> {
        let slot = (plan.name.clone(), env.name.clone());
        let recorded = self.view.failure(&plan.name, &env.name).filter(|f| f.decision == d.id).map_or(0, |f| f.attempts);
        let failure = Failure {
            release: plan.name.clone(),
            environment: env.name.clone(),
            decision: d.id.clone(),
            reason: chain(err),
            attempts: recorded.max(self.slots.attempts(&slot, &d.id)) + 1,
            retry_in_secs: None,
        };
        tracing::warn!(
            release = %plan.name,
            environment = %env.name,
            attempts = failure.attempts,
            reason = %failure.reason,
            "promotion failed; the other slots go on"
        );
        records::failed(self.cx.log, self.view, self.cx.actor, &failure).await?;
        let failure = self.slots.failed(slot, failure, self.cx.now);
        self.failures.push(failure);
        Ok(())
    }

    /// Carries out a `Promoting` decision: commits and pushes, or in `pullRequest` mode proposes
    /// and opens (or finds and updates) the pull request. Returns the decision after it when it
    /// changed (`Promoted` once committed, `Blocked` when the pull request was closed).
    async fn promote(&mut self, plan: &ReleasePlan, env: &EnvPlan, d: &Decision) -> Result<Option<Decision>, Fault> {
        let prepared = self.prepared;
        let target = env.branch.clone().or_else(|| prepared.branch.clone()).unwrap_or_else(|| "main".into());
        let proposal = env.mode == "pullRequest";
        let to = Destination {
            branch: if proposal { promote::proposal_branch(&env.name, &plan.model) } else { target.clone() },
            target,
            path: promote::deploy_path(&env.name, &plan.model),
            proposal,
        };
        let pr_err =
            |source| SlotError::PullRequest { release: plan.name.clone(), environment: env.name.clone(), source: Box::new(source) };
        // GitHub is asked before anything is written, so a wrong token or repository leaves no
        // pushed branch behind, only the failure's record.
        let client = if proposal { self.pulls.client(prepared, self.cx.publish).map_err(pr_err)? } else { None };
        let mut open = None;
        if let Some(c) = &client {
            open = c.find_open(&to.branch, &to.target).await.map_err(pr_err)?;
            let trail = Trail::of(self.view.pull_request(&env.name, plan));
            if open.is_none()
                && let Trail::Open(number) = trail
            {
                let state = c.get(number).await.map_err(pr_err)?.state;
                match self.pull_request_step(plan, env, trail, Seen::Named(state), None).await? {
                    Then::Decide => return Ok(Some(self.decide(plan, env))),
                    Then::Stop => return Ok(None),
                    Then::Propose => {}
                }
            }
        }
        let subject = approvals::subject(&plan.name, &env.name);
        let mut audit_seq = self.cx.log.store().latest_record(RecordKind::Decision, &subject).await?.map_or(0, |r| r.audit_seq);
        // A proposal branch that already holds this decision is not written again (the file's
        // `promotedAt` would make every pass a new commit).
        let proposed = if proposal { proposed_tip(&self.git, &to.branch, &prepared.prefix, &to.path, plan, d) } else { None };
        let commit = match proposed {
            Some((tip, seq)) => {
                // The pull request says what the file on the branch says.
                audit_seq = seq;
                tip
            }
            None => self.commit(plan, env, d, &to, audit_seq)?,
        };
        if !proposal {
            self.promoted(plan, env, d, commit, audit_seq, to.branch).await?;
            return Ok(Some(self.decide(plan, env)));
        }
        if proposed.is_none() {
            let doc =
                json!({"release": plan.name, "environment": env.name, "branch": to.branch, "commit": commit.to_string(), "decision": d.id});
            records::append(self.cx.log, self.cx.actor, records::PROPOSED, &subject, doc).await?;
            self.actions.push(Action::Proposed {
                release: plan.name.clone(),
                environment: env.name.clone(),
                branch: to.branch.clone(),
                commit: commit.to_string(),
            });
        }
        if let Some(c) = client {
            let title = pull_request::title(plan, env);
            let body = pull_request::body(prepared, plan, env, d, audit_seq, &to.branch, commit);
            let want = github::Proposal { head: &to.branch, base: &to.target, title: &title, body: &body };
            let (pr, ensured) = match open {
                Some(found) => c.refresh(found, &want).await,
                None => c.ensure(&want).await,
            }
            .map_err(pr_err)?;
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
                "head": to.branch,
                "base": to.target,
                "commit": commit.to_string(),
            });
            let trail = Trail::of(self.view.pull_request(&env.name, plan));
            self.pull_request_step(plan, env, trail, Seen::Ensured(pr.number, ensured), Some(payload)).await?;
        }
        Ok(None)
    }

    /// Writes the promotion commit and pushes it when there is somewhere to push.
    fn commit(&self, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, to: &Destination, audit_seq: u64) -> Result<Oid, SlotError> {
        let doc = promotion_doc(self.prepared, plan, env, d, audit_seq);
        let bytes = promote::render(&doc);
        let message = commit_message(plan, env, d, audit_seq, to.proposal);
        let commit = promote::commit_file(
            &self.git,
            &promote::Commit {
                branch: &to.branch,
                base: &to.target,
                prefix: &self.prepared.prefix,
                path: &to.path,
                contents: &bytes,
                message: &message,
                bot: self.cx.bot,
                detached: self.cx.publish.is_some(),
            },
        )
        .map_err(|source| SlotError::Promote { release: plan.name.clone(), environment: env.name.clone(), source })?;
        if let Some(p) = self.cx.publish {
            p.publish(commit, &to.branch).map_err(|source| SlotError::Push {
                release: plan.name.clone(),
                environment: env.name.clone(),
                source: Box::new(source),
            })?;
        }
        Ok(commit)
    }

    /// Records a promotion committed to the environment's branch.
    async fn promoted(
        &mut self,
        plan: &ReleasePlan,
        env: &EnvPlan,
        d: &Decision,
        commit: Oid,
        audit_seq: u64,
        branch: String,
    ) -> Result<(), ReconcileError> {
        let record = records::promotion(plan, env, d, &commit.to_string(), audit_seq, false);
        let before = self.promotions.insert(
            (env.name.clone(), plan.model.clone()),
            GitPromotion {
                release: plan.name.clone(),
                content_digest: Some(plan.content_digest.clone()),
                decision: Some(d.id.clone()),
                image: plan.image.clone(),
                model_version: Some(plan.version.clone()),
                model_sha256: plan.model_sha256.clone(),
            },
        );
        // The card reports the decision as it stands once the commit is written (`Promoted`).
        let after = self.decide(plan, env);
        if let Err(err) = self.record_promotion(plan, env, &after, record).await {
            // Not recorded: Git has the commit, and the next pass heals the record.
            match before {
                Some(b) => self.promotions.insert((env.name.clone(), plan.model.clone()), b),
                None => self.promotions.remove(&(env.name.clone(), plan.model.clone())),
            };
            return Err(err);
        }
        self.actions.push(Action::Promoted {
            release: plan.name.clone(),
            environment: env.name.clone(),
            commit: commit.to_string(),
            branch,
        });
        Ok(())
    }

    /// Records a promotion and the model card of what it promoted, as decided by `d`, in one
    /// transaction: an export that holds the promotion holds its card.
    async fn record_promotion(&mut self, plan: &ReleasePlan, env: &EnvPlan, d: &Decision, record: Value) -> Result<(), ReconcileError> {
        let mut history = self.view.promotions(&env.name, &plan.model).to_vec();
        history.push(record.clone());
        let card = super::card::model_card(self.prepared, plan, env, d, &history);
        let actor = self.cx.actor.to_owned();
        let records = [
            NewRecord {
                kind: RecordKind::Promotion,
                actor: actor.clone(),
                subject: records::promotion_subject(&env.name, &plan.model),
                doc: record.clone(),
            },
            NewRecord {
                kind: RecordKind::ModelCard,
                actor,
                subject: approvals::subject(&plan.name, &env.name),
                doc: serde_json::to_value(&card).unwrap_or(Value::Null),
            },
        ];
        self.cx.log.record_many(&records).await?;
        self.view.note_promotion(&env.name, &plan.model, record);
        Ok(())
    }

    /// Takes a step of the slot's pull-request state machine: records its event, if any (for
    /// `opened`, `adopted` and `updated`, `fresh` is the payload; otherwise the trail's, with the
    /// new state), and returns what the slot does next.
    async fn pull_request_step(
        &mut self,
        plan: &ReleasePlan,
        env: &EnvPlan,
        trail: Trail,
        seen: Seen,
        fresh: Option<Value>,
    ) -> Result<Then, ReconcileError> {
        let (event, then) = pull_request::step(trail, seen);
        if let Some(event) = event {
            let mut payload = fresh.or_else(|| self.view.pull_request(&env.name, plan).cloned()).unwrap_or_else(|| json!({}));
            payload["state"] = json!(event.state());
            if event == pull_request::Event::Merged {
                payload["commit"] = json!(self.prepared.commit);
            }
            self.flush().await?;
            let action = format!("{}{}", pull_request::PULL_REQUEST_ACTION_PREFIX, event.as_str());
            let subject = records::promotion_subject(&env.name, &plan.model);
            records::append(self.cx.log, self.cx.actor, &action, &subject, payload.clone()).await?;
            self.actions.push(Action::PullRequest {
                release: plan.name.clone(),
                environment: env.name.clone(),
                number: payload.get("number").and_then(Value::as_u64).unwrap_or_default(),
                url: payload.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
                what: event.as_str().to_owned(),
            });
            self.view.note_pull_request(&env.name, &plan.model, payload);
        }
        Ok(then)
    }

    /// GitHub's state of pull request `number`, or `None` when it cannot be asked (no client) or
    /// does not answer: logged, not a failure, the decision stays what the trail says until the
    /// next pass.
    async fn pull_state(&mut self, number: u64) -> Option<PullState> {
        let client = match self.pulls.client(self.prepared, self.cx.publish) {
            Ok(client) => client?,
            Err(err) => {
                tracing::warn!(error = %chain(&err), number, "cannot ask GitHub about a closed promotion pull request");
                return None;
            }
        };
        match client.get(number).await {
            Ok(pr) => Some(pr.state),
            Err(err) => {
                tracing::warn!(error = %chain(&err), number, "cannot ask GitHub about a closed promotion pull request");
                None
            }
        }
    }

    /// Records a promotion found in Git without its record (a crash between the two).
    async fn heal(&mut self, plan: &ReleasePlan, env: &EnvPlan, d: &Decision) -> Result<(), ReconcileError> {
        let recorded = self.view.promotions(&env.name, &plan.model).iter().any(|r| {
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
        let tip = Oid::from_str(&self.prepared.commit).ok();
        let commit = tip
            .zip(decision.as_deref())
            .and_then(|(tip, dec)| promote::find_decision_commit(&self.git, tip, dec, 10_000))
            .map(|c| c.to_string())
            .unwrap_or_else(|| self.prepared.commit.clone());
        let mut record = records::promotion(plan, env, d, &commit, 0, true);
        if let Some(dec) = decision {
            record["decision"] = json!(dec);
        }
        self.record_promotion(plan, env, d, record).await?;
        self.actions.push(Action::Healed { release: plan.name.clone(), environment: env.name.clone() });
        Ok(())
    }
}

/// The tip of the proposal branch and the file's `auditSeq`, when its promotion file already
/// names this release, content and decision.
fn proposed_tip(git: &Repository, branch: &str, prefix: &str, path: &str, plan: &ReleasePlan, d: &Decision) -> Option<(Oid, u64)> {
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

/// The Promotion document written to `deploy/<env>/<model>.yaml`.
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
        "metadata": {"name": records::promotion_name(&env.name, &plan.model)},
        "spec": spec,
    })
}

/// The promotion commit's message, with the trailers that name the decision.
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
