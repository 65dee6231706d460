//! `POST /webhooks/github`: GitHub's deliveries, acknowledged at once and kept in the store's
//! inbox for the controller's worker (`tollgate_controller::pulls`), so that GitHub's 10-second
//! limit is met and a crash after the answer loses nothing.
//!
//! In order, before anything is parsed or stored: the body is at most GitHub's 25 MB (413),
//! JSON (415 otherwise: set the webhook's content type to `application/json`), and signed by a
//! secret in force (401, nothing recorded). Then an event tollgate does not subscribe to is
//! answered 204; a delivery id seen before is a no-op 200; a new one is stored durably and
//! answered 202, and the worker is woken.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Notify;
use tollgate_controller::pulls::SOURCE;
use tollgate_github::webhook::{self, Secrets};
use tollgate_store::{Enqueued, NewDelivery};

use crate::AppState;
use crate::error::ApiError;

/// What the GitHub route needs: the secrets in force and the worker to wake.
#[derive(Debug)]
pub struct GitHubHook {
    /// The webhook secrets (current, and previous while rotating).
    pub secrets: Secrets,
    /// Wakes the worker that processes the inbox.
    pub wake: Arc<Notify>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A delivery id as GitHub makes them (a GUID): bounded, and nothing a log or a key could
/// misread.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(crate) async fn receive(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let answer = handle(&state, &headers, body).await;
    let outcome = match &answer {
        Ok((_, outcome, _)) => *outcome,
        Err((_, outcome)) => outcome,
    };
    let event = header(&headers, "x-github-event");
    state.metrics.github_delivery(webhook::EVENTS.iter().copied().find(|e| Some(*e) == event).unwrap_or("other"), outcome);
    match answer {
        Ok((status, _, body)) => (status, Json(body)).into_response(),
        Err((err, _)) => err.into_response(),
    }
}

type Answer = Result<(StatusCode, &'static str, serde_json::Value), (ApiError, &'static str)>;

async fn handle(state: &AppState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Answer {
    let Some(hook) = &state.github else {
        return Err((
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                "GitHub webhooks are not configured on this server",
                Some("set the webhook secret in the variable `tollgate serve --github-webhook-secret-env` names".into()),
            ),
            "not_configured",
        ));
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err((
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a delivery is at most {} bytes", webhook::MAX_BODY),
                    None,
                ),
                "too_large",
            ));
        }
        Err(rejection) => return Err((ApiError::bad_request(rejection.body_text(), None), "bad_request")),
    };
    if !crate::is_json(headers) {
        return Err((
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "a delivery must be `application/json`",
                Some("set the webhook's content type to application/json in GitHub's settings".into()),
            ),
            "unsupported_media_type",
        ));
    }
    if let Err(e) = hook.secrets.verify(headers.get("x-hub-signature-256").map(|v| v.as_bytes()), &body) {
        tracing::warn!(delivery = header(headers, "x-github-delivery").filter(|d| valid_id(d)), error = %e, "refused a GitHub delivery");
        return Err((
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                e.to_string(),
                Some("the webhook's secret in GitHub must be the one in tollgate's secret variable".into()),
            ),
            "bad_signature",
        ));
    }
    let (Some(event), Some(id)) = (header(headers, "x-github-event"), header(headers, "x-github-delivery")) else {
        return Err((ApiError::bad_request("a delivery has `X-GitHub-Event` and `X-GitHub-Delivery` headers", None), "bad_request"));
    };
    if !valid_id(id) {
        return Err((ApiError::bad_request("`X-GitHub-Delivery` is not a delivery id", None), "bad_request"));
    }
    if !webhook::EVENTS.contains(&event) {
        return Ok((StatusCode::NO_CONTENT, "ignored", serde_json::Value::Null));
    }
    let delivery = NewDelivery { source: SOURCE, id, event, body: &body, received_at_ms: jiff::Timestamp::now().as_millisecond() };
    match state.service.store().enqueue_delivery(&delivery).await {
        Ok(Enqueued::Queued) => {
            hook.wake.notify_one();
            tracing::info!(delivery = id, event, "queued a GitHub delivery");
            Ok((StatusCode::ACCEPTED, "queued", json!({"delivery": id, "queued": true})))
        }
        Ok(Enqueued::Duplicate) => Ok((StatusCode::OK, "duplicate", json!({"delivery": id, "queued": false, "duplicate": true}))),
        Err(e) => {
            tracing::error!(delivery = id, error = %tollgate_error::chain(&e), "could not store a GitHub delivery");
            Err((ApiError::from(tollgate_controller::service::ServiceError::Store(e)), "error"))
        }
    }
}
