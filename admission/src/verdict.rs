//! The [`Verdict`]: what was decided about one review and why, for the response, the logs and
//! the audit trail.

use std::borrow::Cow;

use jiff::Timestamp;
use kube_core::admission::Operation;
use serde::Serialize;

use crate::digest::Digest;
use crate::index::Mode;

/// Admitted, admitted with warnings, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Admitted, nothing to say to the client.
    Allowed,
    /// Admitted with warnings: `warn` mode, a policy's `warn`, or a break-glass admission.
    Warned,
    /// Refused.
    Denied,
}

/// How much a [`Reason`] weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Refuses the workload in `enforce` mode (warns in `warn` mode).
    Deny,
    /// Never refuses: a warning to the client.
    Warn,
}

/// One reason of a verdict, like a `tollgate check` finding: a stable id, a message (lower
/// case, values in backticks) and, separately, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// `image-not-pinned`, `image-not-promoted`, `model-not-promoted`, ..., or a policy rule's
    /// id (`k8s-privileged`).
    pub id: Cow<'static, str>,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Reason {
    pub(crate) fn deny(id: &'static str, message: String, hint: Option<String>) -> Reason {
        Reason { id: Cow::Borrowed(id), severity: Severity::Deny, message, hint }
    }
}

/// An image of the workload and what the index says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageCheck {
    /// `containers`, `initContainers`, `ephemeralContainers`, `volumes`, `predictor.model`, ...
    pub field: &'static str,
    /// The container's (or volume's) name.
    pub name: String,
    pub image: String,
    /// Its digest, when pinned by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The releases promoted to the environment that serve this digest.
    pub releases: Vec<String>,
    /// The platform's image (`spec.admission.platformImages`), admitted without a release.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub platform: bool,
}

/// A model reference of the workload and what the index says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCheck {
    /// `annotation` (`tollgate.dev/model-digest`) or the field of a `storageUri`.
    pub source: String,
    /// The digest or URI as written.
    pub reference: String,
    /// The releases promoted to the environment with this model.
    pub releases: Vec<String>,
}

/// A break-glass admission: the caller records it loudly and acts on its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlass {
    /// The annotation's value.
    pub reason: String,
    /// Who asked: the request's user.
    pub user: String,
    /// The review's time plus the environment's maximum duration.
    pub expires: Timestamp,
    /// The request came from a workload controller carrying its parent's annotation down (a
    /// ReplicaSet of a Deployment, a Pod of a ReplicaSet); the parent's admission was the
    /// break-glass decision.
    pub inherited: bool,
}

/// The decision on one review, serializable as the audit event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub outcome: Outcome,
    /// `request.uid`: the API server matches the response to it.
    pub uid: String,
    pub operation: Operation,
    /// The object's group (empty for the core group), version and kind.
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name (`prefix*` for a `generateName` the server has yet to fill in).
    pub name: String,
    pub user: String,
    pub groups: Vec<String>,
    /// The request will not be persisted: answer the same, record nothing.
    pub dry_run: bool,
    /// The environment the namespace belongs to, when it is mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Why the review was not judged (not a workload, namespace not mapped, ...), for logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Cow<'static, str>>,
    pub reasons: Vec<Reason>,
    pub images: Vec<ImageCheck>,
    pub models: Vec<ModelCheck>,
    /// `predictor.model.runtime` of an InferenceService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
    /// What the index was built from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The digest of the policy bundle evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
    pub decided_at: Timestamp,
}

impl Verdict {
    /// Whether the API server may go on.
    pub fn allowed(&self) -> bool {
        self.outcome != Outcome::Denied
    }

    /// The audit event to record: `admission.break_glass`, `admission.denied` or
    /// `admission.warned`; `None` for a plain admission, and for a dry run (record nothing).
    pub fn audit_event(&self) -> Option<&'static str> {
        if self.dry_run {
            return None;
        }
        match (self.break_glass.is_some(), self.outcome) {
            (true, _) => Some("admission.break_glass"),
            (false, Outcome::Denied) => Some("admission.denied"),
            (false, Outcome::Warned) => Some("admission.warned"),
            (false, Outcome::Allowed) => None,
        }
    }

    /// The reasons that refuse (in `enforce` mode).
    pub fn denials(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| r.severity == Severity::Deny)
    }
}
