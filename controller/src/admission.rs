//! The admission webhook's index, built from a prepared commit: which namespaces belong to which
//! environment and in what mode, what is promoted there (the Promotion documents in Git, their
//! serving images and model digests, and the Model versions' artifact URIs), who may break the
//! glass, and the compiled policy bundle the commit was checked with.
//!
//! Deciding is `tollgate-admission`'s, with no IO; this module only gathers its inputs. The
//! [`tollgate_admission::Admitter`] the service holds is given a new index each time a commit is
//! prepared, and answers reviews from memory.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use tollgate_admission::{BreakGlassPolicy, Index, Mode, Policies, Promoted};
use tollgate_decision::approvals::ApprovalPolicy;
use tollgate_spec::{ConfigRepo, Document, Kind};

use crate::reconcile::{GitPromotion, Prepared};

/// How long a break-glass admission stands when the Environment does not say.
pub const DEFAULT_BREAK_GLASS: Duration = Duration::from_secs(4 * 3600);

/// An environment's `spec.admission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionEnv {
    /// The environment.
    pub name: String,
    /// `enforce` or `warn`.
    pub mode: Mode,
    /// Its namespaces.
    pub namespaces: Vec<String>,
    /// Who may break the glass, and for how long.
    pub break_glass: Option<BreakGlassPolicy>,
    /// The platform's images (`platformImages`): repositories or single images by digest.
    pub platform_images: Vec<String>,
    /// Who reviews a break-glass admission after the fact: the environment's approvers, with
    /// separation of duties always on (whoever broke the glass may not review it).
    pub reviewers: ApprovalPolicy,
}

/// What the index is built from at a commit, but the promotions (which [`Prepared`] holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionPlan {
    /// The environments with `spec.admission`, in the repo's order.
    pub environments: Vec<AdmissionEnv>,
    /// Each Model version's artifact URI, by (model, version).
    pub model_uris: HashMap<(String, String), String>,
    /// Default-library rule ids switched off in `tollgate.yaml`.
    pub disabled: Vec<String>,
}

impl AdmissionPlan {
    /// Reads the Environments' `spec.admission`, the Models' artifact URIs and the disabled rules.
    /// What the schema refuses (an unknown mode, a bad duration) is a finding of the check;
    /// here such an environment is left out (its namespaces are then not judged) or takes the
    /// default, and it is logged.
    pub fn of(repo: &ConfigRepo) -> AdmissionPlan {
        let environments = repo.of_kind(Kind::Environment).filter_map(environment).collect();
        let model_uris = repo.of_kind(Kind::Model).flat_map(model_uris).collect();
        AdmissionPlan { environments, model_uris, disabled: repo.settings.disabled_rules.clone() }
    }

    /// This plan after a change that loaded `changed` (the Environment and Model documents of
    /// the files it touched, as they are now) and deleted `deleted`: an incremental prepare's.
    pub fn updated<'d>(&self, changed: impl IntoIterator<Item = &'d Document>, deleted: &HashSet<(Kind, String)>) -> AdmissionPlan {
        let mut plan = self.clone();
        let gone = |kind: Kind, name: &str| deleted.contains(&(kind, name.to_owned()));
        plan.environments.retain(|e| !gone(Kind::Environment, &e.name));
        plan.model_uris.retain(|(model, _), _| !gone(Kind::Model, model));
        for doc in changed {
            match doc.kind {
                Kind::Environment => {
                    plan.environments.retain(|e| e.name != doc.name);
                    plan.environments.extend(environment(doc));
                }
                Kind::Model => {
                    plan.model_uris.retain(|(model, _), _| *model != doc.name);
                    plan.model_uris.extend(model_uris(doc));
                }
                _ => {}
            }
        }
        plan
    }
}

/// An Environment's `spec.admission`, if it has one that can be used.
fn environment(env: &Document) -> Option<AdmissionEnv> {
    let spec = env.spec().get("admission")?;
    let Some(mode) = spec.get("mode").and_then(Value::as_str).map_or(Some(Mode::Enforce), Mode::parse) else {
        tracing::warn!(environment = %env.name, "admission: an unknown mode; the environment's namespaces are not judged");
        return None;
    };
    let break_glass = spec.get("breakGlass").map(|bg| {
        let max_duration = bg
            .get("maxDuration")
            .and_then(Value::as_str)
            .and_then(|d| tollgate_spec::time::parse_duration(d).ok())
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or(DEFAULT_BREAK_GLASS);
        BreakGlassPolicy { users: strings(bg.get("users")), groups: strings(bg.get("groups")), max_duration }
    });
    let reviewers = ApprovalPolicy { separation_of_duties: true, ..ApprovalPolicy::from_environment(env) };
    Some(AdmissionEnv {
        name: env.name.clone(),
        mode,
        namespaces: strings(spec.get("namespaces")),
        break_glass,
        platform_images: strings(spec.get("platformImages")),
        reviewers,
    })
}

/// A Model's versions' artifact URIs, by (model, version).
fn model_uris(model: &Document) -> Vec<((String, String), String)> {
    let versions = model.spec().get("versions").and_then(Value::as_array).into_iter().flatten();
    versions
        .filter_map(|v| {
            let (version, uri) = (v.get("version").and_then(Value::as_str)?, v.pointer("/artifact/uri").and_then(Value::as_str)?);
            Some(((model.name.clone(), version.to_owned()), uri.to_owned()))
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The index for `prepared`: its environments' admission settings, what its Promotion documents
/// promote there, and its policy bundle. An input the index refuses (a promoted image not pinned
/// by digest, a namespace two environments claim) is left out and logged; the rest stands.
pub fn index(prepared: &Prepared) -> Index {
    let plan = &prepared.admission;
    let mut builder = Index::builder();
    builder.source(&prepared.commit);
    for env in &plan.environments {
        if let Err(e) = builder.environment(&env.name, env.mode, env.namespaces.iter().map(String::as_str)) {
            tracing::warn!(error = %e, "admission: an environment is left out of the index");
            continue;
        }
        if let Some(bg) = &env.break_glass
            && let Err(e) = builder.break_glass(&env.name, bg.clone())
        {
            tracing::warn!(error = %e, "admission: break glass is off");
        }
        if let Err(e) = builder.platform_images(&env.name, env.platform_images.iter().map(String::as_str)) {
            tracing::warn!(error = %e, "admission: no platform image is admitted without a release");
        }
    }
    let mut promoted: Vec<(&(String, String), &GitPromotion)> = prepared.promotions.iter().collect();
    promoted.sort_by(|a, b| a.0.cmp(b.0));
    for ((env, model), p) in promoted {
        if !plan.environments.iter().any(|e| &e.name == env) {
            continue;
        }
        let Some(image) = p.image.as_deref() else {
            tracing::warn!(environment = %env, release = %p.release, "admission: a promotion names no serving image; nothing of it is admitted");
            continue;
        };
        let model_uri = p.model_version.as_ref().and_then(|v| plan.model_uris.get(&(model.clone(), v.clone()))).map(String::as_str);
        let release = Promoted { release: &p.release, image, model_sha256: p.model_sha256.as_deref(), model_uri };
        if let Err(e) = builder.promoted(env, release) {
            tracing::warn!(error = %e, "admission: a promotion is left out of the index");
        }
    }
    if let Some(bundle) = &prepared.bundle {
        builder.policies(Policies::new(bundle.clone(), plan.disabled.iter().cloned()));
    }
    builder.build()
}

/// Why a verdict could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The verdict does not make an audit event (its payload or names).
    #[error("an admission verdict cannot be made an audit event")]
    Event(#[source] tollgate_audit::event::EventError),
    /// The audit trail refused the batch it was in.
    #[error("the audit trail did not take the admission verdict: {0}")]
    Append(String),
    /// The recorder stopped (the process is shutting down).
    #[error("the admission recorder stopped")]
    Stopped,
}

/// A verdict waiting to be written, and who waits for it.
#[derive(Debug)]
struct Pending {
    event: tollgate_audit::event::NewEvent,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
}

/// The most verdicts written in one append.
const BATCH: usize = 256;

/// Writes admission verdicts to the audit trail in batches (a group commit): each caller waits
/// until its verdict is durable, and the verdicts that arrive while one append runs go together
/// in the next, so a burst of denials costs one append per batch, not one each.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

impl Recorder {
    /// Starts the writer on the current tokio runtime.
    pub fn spawn(log: tollgate_store::AuditLog) -> Recorder {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let (events, waiting): (Vec<_>, Vec<_>) = batch.drain(..).map(|p| (p.event, p.done)).unzip();
                match log.append(&events).await {
                    Ok(stored) => {
                        for (w, e) in waiting.into_iter().zip(stored) {
                            let _ = w.send(Ok(e.seq));
                        }
                    }
                    Err(err) => {
                        let why = tollgate_error::chain(&err);
                        for w in waiting {
                            let _ = w.send(Err(why.clone()));
                        }
                    }
                }
            }
        });
        Recorder { tx }
    }

    /// Records `verdict` as its audit event (`admission.denied`, `admission.warned`,
    /// `admission.break_glass`) and returns its sequence number once it is durable; `None` for
    /// a verdict that records nothing (an admission without remarks, a dry run).
    ///
    /// # Errors
    ///
    /// [`RecordError`].
    pub async fn record(&self, verdict: &tollgate_admission::Verdict) -> Result<Option<u64>, RecordError> {
        let Some(action) = verdict.audit_event() else { return Ok(None) };
        let subject = format!(
            "admission/{}/{}/{}/{}",
            verdict.environment.as_deref().unwrap_or("-"),
            verdict.namespace.as_deref().unwrap_or("-"),
            verdict.kind,
            if verdict.name.is_empty() { "-" } else { &verdict.name }
        );
        let payload = serde_json::to_value(verdict).unwrap_or(Value::Null);
        let actor = if verdict.user.is_empty() { "kubernetes" } else { &verdict.user };
        let event = tollgate_audit::event::NewEvent::new(actor, action, subject, payload).map_err(RecordError::Event)?;
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send(Pending { event, done }).await.map_err(|_| RecordError::Stopped)?;
        match wait.await {
            Ok(Ok(seq)) => Ok(Some(seq)),
            Ok(Err(why)) => Err(RecordError::Append(why)),
            Err(_) => Err(RecordError::Stopped),
        }
    }
}
