//! The one error shape of the API, `{"error": {"status", "code", "message", "hint"}}`, and how
//! a service error maps to it. Its own module, so that the routes (`api`) and the token
//! extractor (`auth`) both use it without depending on each other.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_controller::service::ServiceError;

/// An API error: a status and a JSON body saying what and what to do.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: Option<String>) -> ApiError {
        ApiError { status, code, message: message.into(), hint }
    }

    /// The status it is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// What to do about it.
    pub(crate) fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub(crate) fn unauthenticated(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            message,
            Some("create a token with `tollgate token create --user NAME`".into()),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>, hint: Option<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        let (status, code) = match &err {
            ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ServiceError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::Refused { .. } => (StatusCode::FORBIDDEN, "refused"),
            ServiceError::NoSuchRelease { .. } => (StatusCode::NOT_FOUND, "no_such_release"),
            ServiceError::NoSuchBreakGlass { .. } => (StatusCode::NOT_FOUND, "no_such_break_glass"),
            ServiceError::NotOnPath { .. } => (StatusCode::NOT_FOUND, "not_on_path"),
            ServiceError::ContentChanged { .. } => (StatusCode::CONFLICT, "content_changed"),
            ServiceError::Reconcile(_)
            | ServiceError::Fetch(_)
            | ServiceError::GitHub(_)
            | ServiceError::Store(_)
            | ServiceError::Audit(_)
            | ServiceError::NotReady { .. }
            | ServiceError::NotRevoked { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let hint = tollgate_controller::hint_of(&err);
        // Causes name files and commits, never secrets; the whole chain helps whoever operates it.
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %err, "api call failed");
            tollgate_error::chain(&err)
        } else {
            err.to_string()
        };
        ApiError::new(status, code, message, hint)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "code": self.code, "message": self.message, "hint": self.hint}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tollgate\""));
        }
        response
    }
}
