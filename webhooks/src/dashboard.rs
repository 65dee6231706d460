//! The dashboard's routes (`/`, `/releases/{release}/environments/{env}`, `/audit`, sign-in and
//! sign-out, the approve action): sessions and CSRF here, the data from the same
//! [`Service`](tollgate_controller::service::Service) the API uses, the HTML from
//! [`tollgate_dashboard`]. Every page is sent with a Content-Security-Policy that allows no
//! script at all, `nosniff`, no framing and no caching. See docs/dashboard.md.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;
use tollgate_controller::service::{ServiceError, Via};
use tollgate_dashboard::{Dashboard, Message, Viewer, audit, decision, matrix};
use tollgate_decision::approvals::Role;
use tollgate_store::RecordKind;

use crate::AppState;
use crate::error::ApiError;
use crate::session::{self, Session, Sessions};

/// What the dashboard keeps: the sessions and the page renderer.
#[derive(Debug)]
pub struct DashboardState {
    /// Signed-in people.
    sessions: Sessions,
    pages: Dashboard,
}

impl DashboardState {
    /// No one signed in; cookies marked `Secure` when the server speaks TLS (`secure`).
    pub fn new(secure: bool) -> DashboardState {
        DashboardState { sessions: Sessions::new(secure), pages: Dashboard::new() }
    }
}

/// The dashboard's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(matrix_page))
        .route("/releases/{release}/environments/{env}", get(decision_page))
        .route("/releases/{release}/environments/{env}/approve", post(approve))
        .route("/audit", get(audit_page))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .layer(axum::middleware::from_fn(page_headers))
}

/// The policy every page is sent with: no script from anywhere, styles only inline (the one
/// stylesheet is inlined), forms only to this server, never in a frame.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], body).into_response()
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A rendered page, or a plain 500 when a template fails (a bug, logged).
fn rendered(status: StatusCode, page: Result<String, tollgate_render::RenderError>) -> Response {
    match page {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %tollgate_error::chain(&e), "dashboard page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered\n").into_response()
        }
    }
}

fn message(
    state: &AppState,
    status: StatusCode,
    viewer: Option<&Viewer>,
    heading: &str,
    text: String,
    hint: Option<String>,
    back: &str,
) -> Response {
    let m = Message { heading: heading.to_owned(), text, hint, back: back.to_owned() };
    rendered(status, state.dashboard.pages.message(viewer, &m))
}

/// The signed-in person of a request: a live session whose token is not revoked, and who holds
/// a role in `tollgate.yaml` at the current commit (checked by the service, as for the API).
enum Signed {
    In(Session, Viewer),
    /// No session (or an expired or revoked one): sign in.
    Out,
    /// Signed in, and refused or failed: the page to send.
    Refused(Response),
}

async fn signed(state: &AppState, headers: &HeaderMap) -> Signed {
    let Some(id) = session::cookie_value(headers) else { return Signed::Out };
    let s = match state.dashboard.sessions.get(state.service.store(), &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Signed::Out,
        Err(e) => return Signed::Refused(service_error(state, None, ServiceError::Store(e), "/")),
    };
    match state.service.store().token(&s.token_id).await {
        Ok(Some(row)) if row.revoked_at.is_none() => {}
        Ok(_) => return Signed::Out,
        Err(e) => return Signed::Refused(service_error(state, None, ServiceError::Store(e), "/")),
    }
    match state.service.reader(&s.user).await {
        Ok(user) => {
            let roles = user.roles.iter().map(|r| role_name(*r).to_owned()).collect();
            let viewer = Viewer { user: s.user.clone(), roles, csrf: s.csrf.clone() };
            Signed::In(s, viewer)
        }
        Err(e) => Signed::Refused(service_error(state, None, e, "/signin")),
    }
}

/// A service error as a page with the status the API would answer.
fn service_error(state: &AppState, viewer: Option<&Viewer>, err: ServiceError, back: &str) -> Response {
    let heading = match &err {
        ServiceError::Refused { .. } | ServiceError::Forbidden { .. } => "Not allowed",
        ServiceError::ContentChanged { .. } => "The release changed",
        ServiceError::NoSuchRelease { .. } | ServiceError::NotOnPath { .. } => "Not found",
        _ => "Unavailable",
    };
    let api = ApiError::from(err);
    message(state, api.status(), viewer, heading, api.message().to_owned(), api.hint().map(str::to_owned), back)
}

#[derive(Debug, Deserialize)]
struct MatrixQuery {
    q: Option<String>,
    state: Option<String>,
    page: Option<String>,
}

async fn matrix_page(State(state): State<Arc<AppState>>, headers: HeaderMap, q: Result<Query<MatrixQuery>, QueryRejection>) -> Response {
    let (_, viewer) = match signed(&state, &headers).await {
        Signed::In(s, v) => (s, v),
        Signed::Out => return see_other("/signin"),
        Signed::Refused(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or(MatrixQuery { q: None, state: None, page: None });
    let query = matrix::Query {
        q: q.q.unwrap_or_default(),
        state: q.state.unwrap_or_default(),
        page: q.page.and_then(|p| p.parse().ok()).unwrap_or(1),
    };
    match state.service.shared_status(jiff::Timestamp::now(), Some(&viewer.user)).await {
        Ok(report) => rendered(StatusCode::OK, state.dashboard.pages.matrix(&viewer, &matrix::build(&report, &query))),
        Err(e) => service_error(&state, Some(&viewer), e, "/"),
    }
}

async fn decision_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path((release, env)): Path<(String, String)>) -> Response {
    let viewer = match signed(&state, &headers).await {
        Signed::In(_, v) => v,
        Signed::Out => return see_other("/signin"),
        Signed::Refused(r) => return r,
    };
    let service = &state.service;
    let explained = service.explain(&release, &env, jiff::Timestamp::now(), Some(&viewer.user)).await;
    let e = match explained {
        Ok(e) => e,
        Err(e) => return service_error(&state, Some(&viewer), e, "/"),
    };
    let approvals = match service.approvals(&release, &env, Some(&viewer.user)).await {
        Ok(a) => a,
        Err(e) => return service_error(&state, Some(&viewer), e, "/"),
    };
    let gates = match service.store().latest_record(RecordKind::GateResult, &format!("release/{release}")).await {
        Ok(r) => r.map(|r| r.doc),
        Err(e) => return service_error(&state, Some(&viewer), ServiceError::Store(e), "/"),
    };
    let can_approve = viewer.roles.iter().any(|r| r == "approver");
    let page = decision::build(&e, &approvals, gates.as_ref(), can_approve);
    rendered(StatusCode::OK, state.dashboard.pages.decision(&viewer, &page))
}

#[derive(Debug, Deserialize)]
struct ApproveForm {
    csrf: Option<String>,
    content_digest: Option<String>,
}

/// The CSRF refusal: the same page for a missing and a wrong token.
fn csrf_refused(state: &AppState, viewer: Option<&Viewer>) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        viewer,
        "Not allowed",
        "the form's CSRF token is missing or wrong, so nothing was done".into(),
        Some("reload the page and submit the form again".into()),
        "/",
    )
}

async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((release, env)): Path<(String, String)>,
    form: Result<Form<ApproveForm>, FormRejection>,
) -> Response {
    let (s, viewer) = match signed(&state, &headers).await {
        Signed::In(s, v) => (s, v),
        Signed::Out => {
            return message(&state, StatusCode::FORBIDDEN, None, "Not signed in", "sign in to approve".into(), None, "/signin");
        }
        Signed::Refused(r) => return r,
    };
    let Ok(Form(form)) = form else { return csrf_refused(&state, Some(&viewer)) };
    if !session::csrf_ok(&s, form.csrf.as_deref()) {
        return csrf_refused(&state, Some(&viewer));
    }
    let digest = form.content_digest.as_deref().filter(|d| !d.is_empty());
    let result = state.service.approve(&s.user, &release, &env, digest, Via::Dashboard).await;
    crate::api::count_approval(&state, &result);
    match result {
        Ok(approved) => {
            if approved.recorded {
                crate::api::wake(&state);
            }
            see_other(&tollgate_dashboard::decision_href(&release, &env))
        }
        Err(e) => service_error(&state, Some(&viewer), e, &tollgate_dashboard::decision_href(&release, &env)),
    }
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    q: Option<String>,
    seq: Option<u64>,
    before: Option<u64>,
}

async fn audit_page(State(state): State<Arc<AppState>>, headers: HeaderMap, q: Result<Query<AuditQuery>, QueryRejection>) -> Response {
    let viewer = match signed(&state, &headers).await {
        Signed::In(_, v) => v,
        Signed::Out => return see_other("/signin"),
        Signed::Refused(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or(AuditQuery { q: None, seq: None, before: None });
    let search = q.seq.map(|s| s.to_string()).or(q.q).unwrap_or_default();
    match timeline(&state, &search, q.before).await {
        Ok(t) => rendered(StatusCode::OK, state.dashboard.pages.audit(&viewer, &t)),
        Err(e) => service_error(&state, Some(&viewer), ServiceError::Store(e), "/"),
    }
}

/// The newest events matching `search` before seq `before`, read backwards in chunks, and the
/// chain's verification.
async fn timeline(state: &AppState, search: &str, before: Option<u64>) -> Result<audit::Timeline, tollgate_store::StoreError> {
    const CHUNK: u64 = 2_000;
    let store = state.service.store();
    let total = store.head().await?.size;
    let mut end = before.map_or(total, |b| b.saturating_sub(1).min(total));
    let mut events = Vec::new();
    let mut matching = 0;
    while end > 0 && events.len() <= audit::PAGE_SIZE {
        let start = end.saturating_sub(CHUNK - 1).max(1);
        let mut chunk = Vec::new();
        let mut stream = store.events(start, end);
        while let Some(e) = stream.next().await {
            let e = e?;
            if audit::matches(search, e.seq, &e.actor, &e.action, &e.subject) {
                chunk.push(e);
            }
        }
        matching += chunk.len();
        for e in chunk.into_iter().rev() {
            events.push(audit::Event {
                seq: e.seq,
                time: e.time,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                body: tollgate_dashboard::cut(&String::from_utf8_lossy(&e.body), 600),
            });
        }
        end = start - 1;
    }
    let older = (events.len() > audit::PAGE_SIZE).then(|| audit::older_link(search, events[audit::PAGE_SIZE - 1].seq));
    events.truncate(audit::PAGE_SIZE);
    let report = tollgate_store::verify_store(store, &[], &Default::default()).await?;
    Ok(audit::Timeline {
        q: search.to_owned(),
        events,
        total,
        matching,
        verification: audit::Verification {
            ok: report.problem.is_none(),
            events: report.events,
            problem: report.problem.map(|p| p.to_string()),
        },
        older,
    })
}

async fn signin_form(State(state): State<Arc<AppState>>) -> Response {
    rendered(StatusCode::OK, state.dashboard.pages.signin(None))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    token: Option<String>,
}

async fn signin(State(state): State<Arc<AppState>>, form: Result<Form<SignInForm>, FormRejection>) -> Response {
    let token = form.ok().and_then(|Form(f)| f.token).unwrap_or_default();
    let refused = |state: &AppState, why: &str| rendered(StatusCode::UNAUTHORIZED, state.dashboard.pages.signin(Some(why)));
    let user = match state.service.authenticate(token.trim()).await {
        Ok(user) => user,
        Err(ServiceError::Unauthenticated(_)) => {
            // Never the token itself: only that one was refused.
            tracing::info!("dashboard sign-in refused");
            state.metrics.auth_failure("invalid");
            return refused(&state, "that token is not valid (unknown, revoked or mistyped)");
        }
        Err(e) => return service_error(&state, None, e, "/signin"),
    };
    if let Err(e) = state.service.reader(&user).await {
        return service_error(&state, None, e, "/signin");
    }
    let token_id = tollgate_decision::approvals::parse_token(token.trim()).map(|(id, _)| id.to_owned()).unwrap_or_default();
    match state.dashboard.sessions.start(state.service.store(), &user, &token_id).await {
        Ok(id) => {
            tracing::info!(user, "dashboard sign-in");
            let mut r = see_other("/");
            if let Ok(v) = HeaderValue::from_str(&state.dashboard.sessions.cookie(&id)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(session::SessionError::Store(e)) => service_error(&state, None, ServiceError::Store(e), "/signin"),
        Err(e @ session::SessionError::NoRandom) => {
            message(&state, StatusCode::SERVICE_UNAVAILABLE, None, "Unavailable", e.to_string(), None, "/signin")
        }
    }
}

#[derive(Debug, Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
}

async fn signout(State(state): State<Arc<AppState>>, headers: HeaderMap, form: Result<Form<SignOutForm>, FormRejection>) -> Response {
    let Some(id) = session::cookie_value(&headers) else { return see_other("/signin") };
    let s = match state.dashboard.sessions.get(state.service.store(), &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/signin"),
        Err(e) => return service_error(&state, None, ServiceError::Store(e), "/signin"),
    };
    let posted = form.ok().and_then(|Form(f)| f.csrf);
    if !session::csrf_ok(&s, posted.as_deref()) {
        return csrf_refused(&state, None);
    }
    if let Err(e) = state.dashboard.sessions.end(state.service.store(), &id).await {
        return service_error(&state, None, ServiceError::Store(e), "/signin");
    }
    let mut r = see_other("/signin");
    if let Ok(v) = HeaderValue::from_str(&state.dashboard.sessions.removal()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Roles as `tollgate.yaml` writes them.
fn role_name(r: Role) -> &'static str {
    match r {
        Role::Viewer => "viewer",
        Role::Approver => "approver",
        Role::Admin => "admin",
    }
}
