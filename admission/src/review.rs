//! The envelope: an `AdmissionReview` read from the API server's request body, and the
//! `AdmissionReview` answered, both through kube-core's types (never hand-written JSON).

use std::borrow::Cow;
use std::collections::HashMap;

use kube_core::admission::{AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND};
use kube_core::{DynamicObject, Status, TypeMeta};

use crate::verdict::{Outcome, Reason, Severity, Verdict};
use crate::wire::{self, Envelope};

/// The largest request body read, in bytes. The API server stores objects of at most 1.5 MiB
/// (etcd's default request limit) and an UPDATE's review carries two of them, with room for the
/// envelope; the HTTP layer should refuse a longer body before reading it.
pub const MAX_REVIEW_BYTES: usize = 4 << 20;

/// The most warnings a response carries; the API server may truncate beyond a few.
const MAX_WARNINGS: usize = 10;
/// The API server truncates a warning past 256 characters.
const MAX_WARNING_CHARS: usize = 256;
/// The most reasons spelled out in a denial's message.
const MAX_DENIAL_REASONS: usize = 5;

/// Why a request body is not an admission review tollgate can answer.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The body is longer than [`MAX_REVIEW_BYTES`].
    #[error("admission review of {size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The body is not JSON, or not shaped as an `AdmissionReview`.
    #[error("cannot read the admission review")]
    Json(#[source] serde_json::Error),
    /// Another API version or kind than `admission.k8s.io/v1` `AdmissionReview`.
    #[error("admission review is `{api_version}` `{kind}`, not `admission.k8s.io/v1` `AdmissionReview`")]
    Version { api_version: String, kind: String },
    /// The review has no `request` to answer.
    #[error("admission review has no `request`")]
    NoRequest,
}

impl tollgate_error::Hint for AdmissionError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            AdmissionError::TooLarge { .. } => None,
            AdmissionError::Json(_) | AdmissionError::NoRequest => {
                Some(Cow::Borrowed("point only the API server's admission webhook at this endpoint"))
            }
            AdmissionError::Version { .. } => {
                Some(Cow::Borrowed("set `admissionReviewVersions: [v1]` in the ValidatingWebhookConfiguration"))
            }
        }
    }
}

/// Reads an `AdmissionReview` (`admission.k8s.io/v1`) with its `request` from a request body.
/// The request's `types` are filled in from the envelope's.
///
/// # Errors
///
/// [`AdmissionError::TooLarge`] past [`MAX_REVIEW_BYTES`] (nothing is parsed then),
/// [`AdmissionError::Json`] with serde's line and column, [`AdmissionError::Version`] for
/// another version, [`AdmissionError::NoRequest`] without a request.
///
/// # Guarantees
///
/// Never panics, whatever the bytes (fuzzed: `fuzz/fuzz_targets/admission_review.rs`); nesting
/// is bounded by serde_json's recursion limit.
pub fn parse_review(body: &[u8]) -> Result<AdmissionReview<DynamicObject>, AdmissionError> {
    if body.len() > MAX_REVIEW_BYTES {
        return Err(AdmissionError::TooLarge { size: body.len(), limit: MAX_REVIEW_BYTES });
    }
    // kube-core's own `Deserialize` copies the review three times over (`crate::wire`).
    let envelope: Envelope = serde_json::from_slice(body).map_err(AdmissionError::Json)?;
    if envelope.api_version != META_API_VERSION_V1 || envelope.kind != META_KIND {
        return Err(AdmissionError::Version { api_version: envelope.api_version, kind: envelope.kind });
    }
    let types = TypeMeta { api_version: envelope.api_version, kind: envelope.kind };
    let mut request = wire::into_dynamic(envelope.request.ok_or(AdmissionError::NoRequest)?);
    request.types = types.clone();
    Ok(AdmissionReview { types, request: Some(request), response: None })
}

fn review_types() -> TypeMeta {
    TypeMeta { api_version: META_API_VERSION_V1.to_owned(), kind: META_KIND.to_owned() }
}

/// The `AdmissionReview` answering `verdict`: its uid, `allowed`, and for a denial a `403
/// Forbidden` status whose message lists the denying reasons (at most five) and their hints;
/// the other reasons become `warnings` (at most ten, each within the API server's 256
/// characters). An admission that was not judged carries the verdict's note as its status
/// message, for logs. A break-glass admission says so in the first warning and in the audit
/// annotation `break-glass` (the API server prefixes it with the webhook's name).
pub fn respond(verdict: &Verdict) -> AdmissionReview<DynamicObject> {
    let denied = verdict.outcome == Outcome::Denied;
    let mut response = AdmissionResponse::invalid("");
    response.types = review_types();
    response.uid.clone_from(&verdict.uid);
    response.allowed = !denied;
    response.result = if denied {
        Status::failure(&denial_message(verdict), "Forbidden").with_code(403)
    } else {
        // Not consulted by the API server when allowed, but logged with the response: why a
        // review was not judged (not a workload kind, a namespace of no environment, ...).
        let mut status = Status::success();
        if let Some(note) = &verdict.note {
            status.message = note.to_string();
        }
        status
    };
    let mut warnings = Vec::new();
    if let Some(b) = &verdict.break_glass {
        let whose = if b.inherited { "its owner's break glass, carried down by" } else { "break glass, asked by" };
        warnings.push(format!("tollgate: admitted by {whose} `{}` for `{}`; recorded, expires {}", b.user, b.reason, b.expires));
        let mut annotations = HashMap::new();
        annotations.insert("break-glass".to_owned(), format!("{} ({}) until {}", b.reason, b.user, b.expires));
        response.audit_annotations = annotations;
    }
    let warned: Vec<&Reason> = verdict.reasons.iter().filter(|r| !denied || r.severity == Severity::Warn).collect();
    let shown = warned.len().min(MAX_WARNINGS.saturating_sub(warnings.len() + 1));
    for r in &warned[..shown] {
        warnings.push(format!("tollgate: {}", r.message));
    }
    if warned.len() > shown {
        warnings.push(format!("tollgate: and {} more", warned.len() - shown));
    }
    if !warnings.is_empty() {
        response.warnings = Some(warnings.into_iter().map(|w| truncate(w, MAX_WARNING_CHARS)).collect());
    }
    response.into_review()
}

/// The answer to a body that is not a review tollgate can read: refused, with the error. Its
/// uid is empty (the request's could not be read), which the API server treats as a failed
/// call: the webhook's `failurePolicy: Fail` refuses the request.
pub fn respond_invalid(error: &AdmissionError) -> AdmissionReview<DynamicObject> {
    let mut response = AdmissionResponse::invalid(tollgate_error::chain(error));
    response.result.code = 400;
    response.into_review()
}

/// The denying reasons, one per line, then their distinct hints, each on a `hint:` line.
fn denial_message(verdict: &Verdict) -> String {
    let denials: Vec<&Reason> = verdict.denials().collect();
    let mut out = String::new();
    for r in denials.iter().take(MAX_DENIAL_REASONS) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&r.message);
    }
    if denials.len() > MAX_DENIAL_REASONS {
        out.push_str(&format!("\nand {} more", denials.len() - MAX_DENIAL_REASONS));
    }
    let mut hints: Vec<&str> = Vec::new();
    for h in denials.iter().take(MAX_DENIAL_REASONS).filter_map(|r| r.hint.as_deref()) {
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    for h in hints {
        out.push_str("\nhint: ");
        out.push_str(h);
    }
    out
}

/// `text` cut to `max` characters, the last one `…` when cut.
pub(crate) fn truncate(text: String, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().count() > 1 => {
            let mut cut = text[..at].to_owned();
            cut.push('…');
            cut
        }
        _ => text,
    }
}
