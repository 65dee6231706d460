//! The JSON API under `/api/v1` (documented in `docs/api.md`).
//!
//! | Method and path                                              | Needs            |
//! |--------------------------------------------------------------|------------------|
//! | `GET /whoami`                                                | any role         |
//! | `GET /status[?at=TIME]`                                      | any role         |
//! | `GET /releases/{release}/environments/{env}[?at=TIME]`       | any role         |
//! | `GET /releases/{release}/environments/{env}/approvals`       | any role         |
//! | `POST /releases/{release}/environments/{env}/approvals`      | may approve      |
//! | `DELETE /releases/{release}/environments/{env}/approvals`    | approver / admin |
//! | `POST /reconcile`                                            | any role         |
//! | `GET /break-glass`                                           | any role         |
//! | `POST /break-glass/{seq}/review`                             | env's approvers  |
//!
//! Errors are `{"error": {"status", "code", "message", "hint"}}` with the matching status: 400 bad
//! input, 401 no or a bad token, 403 not allowed, 404 no such release or environment on its path,
//! 409 the release changed since the caller reviewed it, 413 a body too large, 415 a body that is
//! not JSON, 503 the config repo or store failed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_controller::service::{Approved, ServiceError, Via};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// The `/api/v1` routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/status", get(status))
        .route("/releases/{release}/environments/{env}", get(explain))
        .route("/releases/{release}/environments/{env}/approvals", get(list_approvals).post(approve).delete(revoke))
        .route("/reconcile", post(reconcile))
        .route("/break-glass", get(list_break_glass))
        .route("/break-glass/{seq}/review", post(review_break_glass))
}

/// `?at=TIME` on reads: what would be decided then.
#[derive(Debug, Deserialize)]
struct AtQuery {
    at: Option<String>,
}

impl AtQuery {
    fn clock(&self) -> Result<jiff::Timestamp, ApiError> {
        match self.at.as_deref() {
            None => Ok(jiff::Timestamp::now()),
            Some(s) => {
                tollgate_spec::time::parse_at(s).map_err(|e| ApiError::bad_request(format!("invalid `at`: {e}"), Some(e.hint().to_owned())))
            }
        }
    }
}

/// A query string, or a 400 saying what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request(e.body_text(), Some("see docs/api.md for the parameters".into())))
}

#[derive(Debug, Serialize)]
struct WhoAmI {
    user: String,
    email: Option<String>,
    roles: Vec<tollgate_decision::approvals::Role>,
}

async fn whoami(State(state): State<Arc<AppState>>, Caller(user): Caller) -> Result<Json<WhoAmI>, ApiError> {
    let u = state.service.reader(&user).await?;
    Ok(Json(WhoAmI { user: u.name, email: u.email, roles: u.roles.into_iter().collect() }))
}

async fn status(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let at = query(q)?;
    let now = at.clock()?;
    Ok(Json(state.service.status(now, Some(&user)).await?).into_response())
}

async fn explain(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    Path((release, env)): Path<(String, String)>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let at = query(q)?;
    let now = at.clock()?;
    Ok(Json(state.service.explain(&release, &env, now, Some(&user)).await?).into_response())
}

async fn list_approvals(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    Path((release, env)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(state.service.approvals(&release, &env, Some(&user)).await?).into_response())
}

/// The body of an approval (optional: an empty body approves what is there now).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApproveBody {
    /// The content digest the approver reviewed; the approval is refused (409) if the release
    /// has changed since.
    content_digest: Option<String>,
}

async fn approve(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    Path((release, env)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ApproveBody = optional_json_body(&headers, body, APPROVE_BODY_HINT)?;
    let result = state.service.approve(&user, &release, &env, body.content_digest.as_deref(), Via::Api).await;
    count_approval(&state, &result);
    let approved = result?;
    if approved.recorded {
        wake(&state);
    }
    let status = if approved.recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(approved)).into_response())
}

/// Counts an approval's outcome (the API's and the dashboard's alike).
pub(crate) fn count_approval(state: &AppState, result: &Result<Approved, ServiceError>) {
    state.metrics.approval(match result {
        Ok(a) if a.recorded => "recorded",
        Ok(_) => "duplicate",
        Err(ServiceError::Refused { .. }) => "refused",
        Err(ServiceError::ContentChanged { .. }) => "content_changed",
        Err(_) => "error",
    });
}

/// What to send instead of a body the API cannot read.
const APPROVE_BODY_HINT: &str = r#"send `{"contentDigest": "<sha256 from explain>"}` with `Content-Type: application/json`, or no body"#;

/// An optional JSON body (an approval's, a review's): none at all, or JSON said to be JSON. Any
/// other body is refused (415) rather than read as empty, which would drop what it carries (an
/// approval's digest: approving what is there now instead of what the caller reviewed).
fn optional_json_body<T: Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    hint: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                e.body_text(),
                Some(format!("bodies are at most {} bytes", crate::MAX_BODY)),
            )
        } else {
            ApiError::bad_request(e.body_text(), Some(hint.into()))
        }
    })?;
    match headers.get(header::CONTENT_TYPE) {
        None if body.is_empty() => Ok(T::default()),
        Some(value) if is_json(value) => {
            Json::<T>::from_bytes(&body).map(|Json(b)| b).map_err(|e| ApiError::bad_request(e.body_text(), Some(hint.into())))
        }
        content_type => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            match content_type.and_then(|v| v.to_str().ok()) {
                Some(t) => format!("a request body must be JSON, not `{t}`"),
                None => "a request body must be JSON, and this one has no `Content-Type`".to_owned(),
            },
            Some(hint.into()),
        )),
    }
}

/// `application/json` or `application/<something>+json`, with or without parameters, as axum's
/// `Json` extractor reads them.
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(text) = content_type.to_str() else { return false };
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.strip_prefix("application/").is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// `?user=NAME`: whose approvals to withdraw (admins only; default: the caller's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeQuery {
    user: Option<String>,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    Path((release, env)): Path<(String, String)>,
    q: Result<Query<RevokeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let revoked = state.service.revoke(&user, &release, &env, q.user.as_deref()).await?;
    for _ in &revoked.revoked {
        state.metrics.approval("revoked");
    }
    if !revoked.revoked.is_empty() {
        wake(&state);
    }
    Ok(Json(revoked).into_response())
}

async fn list_break_glass(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let now = query(q)?.clock()?;
    Ok(Json(state.service.break_glass(now, Some(&user)).await?).into_response())
}

/// The body of a break-glass review (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// What the reviewer found.
    #[serde(default)]
    note: String,
}

const REVIEW_BODY_HINT: &str = r#"send `{"note": "..."}` with `Content-Type: application/json`, or no body"#;

async fn review_break_glass(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    seq: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(seq) =
        seq.map_err(|e| ApiError::bad_request(e.body_text(), Some("name the admission by its audit sequence number".into())))?;
    let body: ReviewBody = optional_json_body(&headers, body, REVIEW_BODY_HINT)?;
    let (entry, recorded) = state.service.review_break_glass(&user, seq, &body.note).await?;
    let status = if recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(entry)).into_response())
}

/// Asks this process's reconcile loop for a pass now, if it runs one: an approval or a
/// revocation takes effect at once instead of at the next interval.
pub(crate) fn wake(state: &AppState) {
    if let Some(trigger) = &state.reconcile {
        trigger.fetch_now();
    }
}

/// `POST /reconcile`: fetch the config repo and run a pass now (a CI job after a merge, a push
/// webhook). Requests made while a pass runs merge into one more pass.
async fn reconcile(State(state): State<Arc<AppState>>, Caller(user): Caller) -> Result<Response, ApiError> {
    state.service.reader(&user).await?;
    let Some(trigger) = &state.reconcile else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_reconciling",
            "this server does not reconcile",
            Some("start it with `tollgate serve --reconcile`, or run `tollgate reconcile` next to it".into()),
        ));
    };
    trigger.fetch_now();
    tracing::info!(user, "pass requested");
    Ok((StatusCode::ACCEPTED, Json(json!({"requested": true}))).into_response())
}
