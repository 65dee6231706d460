//! A prepared plan and a store view into decisions: the inputs of [`tollgate_decision::decide`].

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::ReconcileError;
use super::plan::{EnvPlan, GitPromotion, Prepared, ReleasePlan};
use super::records::promotion_subject;
use super::view::StoreView;
use tollgate_decision::approvals;
use tollgate_decision::{Decision, DecisionInputs, GateInput, PromotedInput, PullRequestInput};
use tollgate_store::Store;

fn gate_input(plan: &ReleasePlan, env: &EnvPlan) -> GateInput {
    if env.required_gates.is_empty() {
        return GateInput::NotRequired;
    }
    match &plan.gates {
        None => GateInput::Results {
            digest: String::new(),
            required: env.required_gates.iter().map(|c| (c.clone(), None)).collect(),
            failures: vec![],
        },
        Some(g) => match (&g.error, &g.digest) {
            (Some(e), _) => GateInput::Unavailable { reason: e.clone() },
            (None, None) => GateInput::Unavailable { reason: "no results".into() },
            (None, Some(d)) => GateInput::Results {
                digest: d.clone(),
                required: env.required_gates.iter().map(|c| (c.clone(), g.categories.get(c).copied())).collect(),
                failures: g.failures.clone(),
            },
        },
    }
}

/// Whether release `a` is a newer request than `b` (later change, then later name).
fn newer(a: &ReleasePlan, b: &ReleasePlan) -> bool {
    (a.changed_at, &a.name) > (b.changed_at, &b.name)
}

/// Decisions and what they were decided from: the commit (the preparation of it, whose gate
/// results they used), the store view's sequence number and each environment's windows. A
/// decision depends on nothing else (the clock's instant only moves windows, and is stored in
/// `inputs.now` without being read), and of the store only on the approvals of its (release,
/// environment) and the promotions and pull requests of its slot (environment, model). So while
/// the commit and the windows hold, deciding again gives the decisions kept here (but for
/// `inputs.now`), with those whose subjects the store changed since made again
/// ([`Settled::update`]).
#[derive(Debug, Clone)]
pub struct Settled {
    commit: String,
    /// [`Prepared::preparation`]: the same commit prepared again may have other gate results.
    preparation: u64,
    seq: u64,
    windows: Vec<(String, tollgate_decision::WindowInput)>,
    /// The decisions, in [`decide_with`]'s order.
    pub decisions: Arc<[Arc<Decision>]>,
}

impl Settled {
    /// Decides `prepared` against `view`.
    pub fn decide(prepared: &Prepared, view: &StoreView) -> Settled {
        Settled::new(prepared, view, decide_with(view, prepared).into_iter().map(Arc::new).collect::<Vec<_>>())
    }

    /// `decisions`, decided from `prepared` and `view` as they are now.
    pub fn new(prepared: &Prepared, view: &StoreView, decisions: impl Into<Arc<[Arc<Decision>]>>) -> Settled {
        Settled {
            commit: prepared.commit.clone(),
            preparation: prepared.preparation,
            seq: view.seq(),
            windows: prepared.windows().into_iter().map(|(name, w)| (name.to_owned(), w.clone())).collect(),
            decisions: decisions.into(),
        }
    }

    fn same_pass(&self, prepared: &Prepared) -> bool {
        let windows = prepared.windows();
        self.commit == prepared.commit
            && self.preparation == prepared.preparation
            && self.windows.len() == windows.len()
            && self.windows.iter().zip(&windows).all(|((n, w), (name, window))| n == name && w == *window)
    }

    /// Whether deciding `prepared` against `view` would give these decisions again.
    pub fn holds(&self, prepared: &Prepared, view: &StoreView) -> bool {
        self.same_pass(prepared) && self.seq == view.seq()
    }

    /// Brings the decisions up to `view`, deciding again only those whose approvals, promotions
    /// or pull requests the store changed since; `false` (nothing changed) when the commit or a
    /// window moved, and everything must be decided again.
    pub fn update(&mut self, prepared: &Prepared, view: &StoreView) -> bool {
        if !self.same_pass(prepared) {
            return false;
        }
        if self.seq == view.seq() {
            return true;
        }
        let touched = view.changed_since(self.seq);
        if !touched.is_empty() {
            let mut decisions: Option<Vec<Arc<Decision>>> = None;
            let pairs = prepared.releases.iter().flat_map(|plan| plan.path.iter().map(move |env| (plan, env)));
            for (i, (plan, env)) in pairs.enumerate() {
                let reads = |subject: String| touched.contains(subject.as_str());
                if reads(approvals::subject(&plan.name, &env.name)) || reads(promotion_subject(&env.name, &plan.model)) {
                    let d = Arc::new(decide_for(view, prepared, plan, env));
                    match decisions.get_or_insert_with(|| self.decisions.to_vec()).get_mut(i) {
                        Some(slot) => *slot = d,
                        None => return false,
                    }
                }
            }
            if let Some(d) = decisions {
                self.decisions = d.into();
            }
        }
        self.seq = view.seq();
        true
    }
}

/// Decides every (release, environment) of a prepared pass, reading approvals and promotion
/// history from the store.
///
/// # Errors
///
/// [`ReconcileError::Store`].
pub async fn decide_all(store: &Store, prepared: &Prepared) -> Result<Vec<Decision>, ReconcileError> {
    let mut view = StoreView::default();
    view.refresh(store).await?;
    Ok(decide_with(&view, prepared))
}

/// Decides every (release, environment) of a prepared pass against a store view the caller
/// keeps up to date (see [`StoreView::refresh`]).
pub fn decide_with(view: &StoreView, prepared: &Prepared) -> Vec<Decision> {
    prepared.releases.iter().flat_map(|plan| plan.path.iter().map(move |env| decide_for(view, prepared, plan, env))).collect()
}

/// Decides one release into one environment on its path.
pub fn decide_for(view: &StoreView, prepared: &Prepared, plan: &ReleasePlan, env: &EnvPlan) -> Decision {
    decide_one(view, prepared, plan, env, &prepared.promotions)
}

pub(super) fn decide_one(
    view: &StoreView,
    prepared: &Prepared,
    plan: &ReleasePlan,
    env: &EnvPlan,
    promotions: &HashMap<(String, String), GitPromotion>,
) -> Decision {
    let records = view.approvals.get(&approvals::subject(&plan.name, &env.name)).map_or(&[][..], Vec::as_slice);
    let live = approvals::live_approvals(records.iter().map(|(seq, doc)| (*seq, doc)));
    let status = approvals::evaluate(&env.approvals, &prepared.directory, &live, &plan.content_digest, &env.authors);
    let slot = (env.name.clone(), plan.model.clone());
    let git = promotions.get(&slot);
    let history = view.promotions(&env.name, &plan.model);
    let release_of = |r: &Value| r.get("release").and_then(Value::as_str).map(str::to_owned);
    let promoted_before = history.iter().any(|r| {
        r.get("release").and_then(Value::as_str) == Some(plan.name.as_str())
            && r.get("contentDigest").and_then(Value::as_str) == Some(plan.content_digest.as_str())
    });
    let latest_is_git = history.last().and_then(release_of).is_some_and(|r| git.is_some_and(|g| g.release == r));
    let superseded_by = prepared
        .by_model
        .get(&plan.model)
        .into_iter()
        .flatten()
        .map(|&i| &prepared.releases[i])
        .filter(|other| newer(other, plan))
        .find(|other| {
            git.is_some_and(|g| g.release == other.name) || history.iter().any(|r| release_of(r).as_deref() == Some(other.name.as_str()))
        })
        .map(|other| other.name.clone());
    let promoted = match git {
        None => PromotedInput::Nothing,
        Some(g) if g.release == plan.name => PromotedInput::This { content_digest: g.content_digest.clone(), decision: g.decision.clone() },
        Some(g) => PromotedInput::Other { release: g.release.clone(), by_tollgate: g.decision.is_some() && latest_is_git },
    };
    let previous = env.promotes_from.as_ref().map(|prev| {
        let there = promotions.get(&(prev.clone(), plan.model.clone()));
        let ok = there.is_some_and(|g| g.release == plan.name && g.content_digest.as_deref() == Some(plan.content_digest.as_str()));
        (prev.clone(), ok)
    });
    let closed_pull_request =
        view.pull_request(&env.name, plan).filter(|p| p.get("state").and_then(Value::as_str) == Some("closed")).map(|p| PullRequestInput {
            number: p.get("number").and_then(Value::as_u64).unwrap_or_default(),
            url: p.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
        });
    let mut findings = prepared.fatal.clone();
    findings.extend(plan.findings.iter().cloned());
    findings.dedup();
    let inputs = DecisionInputs {
        release: plan.name.clone(),
        environment: env.name.clone(),
        commit: Some(prepared.commit.clone()),
        policy_digest: prepared.policy_digest.clone(),
        content_digest: plan.content_digest.clone(),
        model: json!({"name": plan.model, "version": plan.version, "sha256": plan.model_sha256}),
        image: plan.image.clone(),
        previous,
        findings,
        gates: gate_input(plan, env),
        approvals: status,
        window: env.window.clone(),
        promoted,
        promoted_before,
        superseded_by,
        now: prepared.now.to_string(),
        closed_pull_request,
    };
    tollgate_decision::decide(&inputs)
}
