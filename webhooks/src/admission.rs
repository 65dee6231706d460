//! `POST /admission`: Kubernetes' `AdmissionReview` (`admission.k8s.io/v1`), answered from the
//! index in memory (`tollgate_controller::service::Service::admitter`): no Git, no database and
//! no network on the way to the answer, but for the audit record of a denial, a warning or a
//! break-glass admission, which is durable before the answer goes out.
//!
//! Served over TLS only (the API server sends reviews over HTTPS; the route answers 503 on a
//! plain-HTTP server). A body that is not JSON is 415; over [`tollgate_admission::MAX_REVIEW_BYTES`]
//! 413; a review that cannot be read is answered 400 with an `AdmissionReview` whose response
//! refuses (the API server then applies the webhook's `failurePolicy`, `Fail`). Before the first
//! index is published every review is refused, saying so.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_admission::{Outcome, Verdict};

use crate::AppState;
use crate::error::ApiError;

pub(crate) async fn review(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    if !state.admission {
        state.metrics.admission_review("not_served", false);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_served",
            "admission reviews are served over TLS only",
            Some("start `tollgate serve` with `--tls-cert` and `--tls-key`".into()),
        )
        .into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            state.metrics.admission_review("too_large", false);
            let message = format!("an admission review is at most {} bytes", tollgate_admission::MAX_REVIEW_BYTES);
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message, None).into_response();
        }
        Err(rejection) => return ApiError::bad_request(rejection.body_text(), None).into_response(),
    };
    if !crate::is_json(&headers) {
        state.metrics.admission_review("unsupported_media_type", false);
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "an admission review must be `application/json`",
            Some("the API server sends JSON; check what is calling this webhook".into()),
        )
        .into_response();
    }
    let answer = state.service.admitter().review(&body, jiff::Timestamp::now());
    let verdict = match answer.verdict {
        Ok(v) => v,
        Err(err) => {
            tracing::warn!(error = %err, "refused an admission review that cannot be read");
            state.metrics.admission_review("invalid", false);
            return json_response(StatusCode::BAD_REQUEST, &answer.review);
        }
    };
    let mut review = answer.review;
    if verdict.audit_event().is_some() {
        // The record is durable before the answer: a crash after answering loses nothing.
        if let Err(err) = state.service.record_admission(&verdict).await {
            tracing::error!(uid = %verdict.uid, error = %tollgate_error::chain(&err), "cannot record an admission verdict");
            if verdict.allowed() {
                // What cannot be recorded is not admitted (fail closed).
                review = tollgate_admission::respond(&unrecorded(verdict.clone()));
                state.metrics.admission_review("unrecorded", verdict.dry_run);
                return json_response(StatusCode::OK, &review);
            }
        }
    }
    let outcome = match (&verdict.break_glass, verdict.outcome) {
        (Some(_), _) => "break_glass",
        (None, Outcome::Allowed) => "allowed",
        (None, Outcome::Warned) => "warned",
        (None, Outcome::Denied) => "denied",
    };
    state.metrics.admission_review(outcome, verdict.dry_run);
    json_response(StatusCode::OK, &review)
}

/// `verdict`, refused because its record could not be written.
fn unrecorded(mut verdict: Verdict) -> Verdict {
    verdict.outcome = Outcome::Denied;
    verdict.break_glass = None;
    verdict.reasons.insert(
        0,
        tollgate_admission::Reason {
            id: "admission-unrecorded".into(),
            severity: tollgate_admission::Severity::Deny,
            message: "tollgate could not record this admission in its audit trail, so it does not admit it".into(),
            hint: Some("retry; if it persists, check the store (tollgate's logs and /readyz)".into()),
        },
    );
    verdict
}

fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
