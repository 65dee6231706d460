//! tollgate's HTTP server (`tollgate serve`): the JSON API people and tools use to read
//! decisions and give approvals, `/healthz`, `/readyz` and Prometheus `/metrics`, over plain HTTP
//! or TLS. See `docs/api.md` for the routes and `docs/adr/0040-*.md` for the choices.
//!
//! Every `/api` call is authenticated with an API token (`Authorization: Bearer tg_…`); reads need
//! any role in `tollgate.yaml`, approvals what the environment asks. The work is done by
//! [`tollgate_controller::service::Service`], which `tollgate approve`, `status` and `explain`
//! use too, so the CLI and the API cannot disagree.

mod admission;
pub mod api;
mod auth;
pub mod client;
pub mod dashboard;
pub mod error;
pub mod github;
pub mod metrics;
mod server;
mod session;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tollgate_controller::git::FetchTrigger;
use tollgate_controller::service::Service;

pub use metrics::Metrics;
pub use server::{Limits, serve};

/// The largest request body accepted (approvals carry at most a digest).
pub const MAX_BODY: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Reads the config repo and the store, records approvals.
    pub service: Service,
    /// Counters and histograms served at `/metrics`.
    pub metrics: Metrics,
    /// Asks this process's reconcile loop for a pass now (`tollgate serve --reconcile`); `None`
    /// when it does not reconcile.
    pub reconcile: Option<FetchTrigger>,
    /// GitHub's webhook deliveries (`POST /webhooks/github`); `None`: no secret is configured,
    /// and deliveries are refused (503).
    pub github: Option<github::GitHubHook>,
    /// Whether `POST /admission` answers reviews (only over TLS; 503 otherwise).
    pub admission: bool,
    /// The dashboard's sessions and pages (`/`, see [`dashboard`]).
    pub dashboard: dashboard::DashboardState,
}

/// The whole application: the dashboard, the API, health, readiness and metrics.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .nest("/api/v1", api::routes())
        .merge(dashboard::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::serve))
        .route("/webhooks/github", post(github::receive).layer(DefaultBodyLimit::max(tollgate_github::webhook::MAX_BODY)))
        .route("/admission", post(admission::review).layer(DefaultBodyLimit::max(tollgate_admission::MAX_REVIEW_BYTES)))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Whether a request says its body is JSON (`application/json`, parameters allowed): the
/// webhooks parse nothing else.
pub(crate) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let index = state.service.admitter().index();
    let admission = serde_json::json!({
        "served": state.admission,
        "index": index.as_deref().and_then(tollgate_admission::Index::source),
        "ageSeconds": state.service.admission_index_age().map(|a| a.as_secs()),
    });
    match state.service.ready().await {
        Ok(commit) => axum::Json(serde_json::json!({"ready": true, "commit": commit, "admission": admission})).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"ready": false, "error": err.to_string()}))).into_response()
        }
    }
}
