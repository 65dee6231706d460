//! The HTTP side: the accept loop, one request's way through the checks GitHub makes (agent,
//! credentials, rate limit, contract), the routing to each concern's handlers and the answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::contract::Contract;
use crate::{Recorded, State, app, checks, comments, lock, pulls, rate, teams};

/// Serves `listener` on a thread of its own until the returned sender fires (or is dropped).
pub(crate) fn serve(listener: std::net::TcpListener, state: Arc<Mutex<State>>) -> anyhow::Result<tokio::sync::oneshot::Sender<()>> {
    let contract = Arc::new(Contract::load()?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("build the double's runtime")?;
    let handle = move |req| handle(state.clone(), contract.clone(), req);
    tollgate_test_support::http::serve_http1(listener, "github-double", rt, handle).context("start the double's thread")
}

/// What a handler answers: a status, a JSON body (none for `204 No Content`) and headers beyond
/// the ones every answer carries.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Reply {
        Reply { status, body: Some(body), headers: Vec::new() }
    }

    /// GitHub's error body: `{"message", "documentation_url"}`.
    pub(crate) fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "documentation_url": "https://docs.github.com/rest"}))
    }

    pub(crate) fn not_found() -> Reply {
        Reply::error(StatusCode::NOT_FOUND, "Not Found")
    }

    /// GitHub's 422 for a field that fails validation.
    pub(crate) fn validation(resource: &str, field: &str, code: &str, message: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Validation Failed", "errors": [{"resource": resource, "field": field, "code": code, "message": message}], "documentation_url": "https://docs.github.com/rest"}),
        )
    }

    pub(crate) fn no_content() -> Reply {
        Reply { status: StatusCode::NO_CONTENT, body: None, headers: Vec::new() }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// One request, as the handlers see it.
pub(crate) struct Call<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) template: &'a str,
    /// The operation of the description, to start answers from its examples.
    pub(crate) op: &'a Value,
    /// The path split at `/`, without the leading empty one: `["repos", owner, repo, …]`.
    pub(crate) segments: Vec<&'a str>,
    pub(crate) query: &'a HashMap<String, String>,
    pub(crate) body: Option<&'a Value>,
    pub(crate) authorization: Option<&'a str>,
}

impl Call<'_> {
    /// Path segment `i` as a number.
    pub(crate) fn number(&self, i: usize) -> Option<u64> {
        self.segments.get(i)?.parse().ok()
    }

    /// The request body, or `null`.
    pub(crate) fn body(&self) -> &Value {
        self.body.unwrap_or(&Value::Null)
    }

    /// A string field of the body.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.body().get(name).and_then(Value::as_str)
    }
}

async fn handle(state: Arc<Mutex<State>>, contract: Arc<Contract>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let has_agent = req.headers().contains_key("user-agent");
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok().or(Some(Value::Null)) };

    let mut st = lock(&state);
    let reply = respond(&mut st, &contract, &method, &path, &query, authorization.as_deref(), has_agent, body.as_ref());
    let limits = st.rate.count();
    st.requests.push(Recorded { method: method.to_string(), path, query, authorization, body, status: reply.status.as_u16() });
    drop(st);

    let text = reply.body.as_ref().map(Value::to_string).unwrap_or_default();
    let mut res = Response::new(Full::new(Bytes::from(text)));
    *res.status_mut() = reply.status;
    let headers = res.headers_mut();
    if reply.body.is_some() {
        headers.insert("content-type", hyper::header::HeaderValue::from_static("application/json; charset=utf-8"));
    }
    for (name, value) in limits.into_iter().chain(reply.headers) {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(res)
}

/// `a%20b+c` → `a b c`.
pub(crate) fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The inverse of [`decode`] for query values: everything but RFC 3986's unreserved characters
/// is percent-encoded.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn respond(
    st: &mut State,
    contract: &Contract,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    authorization: Option<&str>,
    has_agent: bool,
    body: Option<&Value>,
) -> Reply {
    if !has_agent {
        return Reply::error(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    // The App's own endpoints take the App's JWT, checked by its handler; all others a token.
    let app_endpoint = path.starts_with("/app/");
    if !app_endpoint && !app::token_accepted(st, authorization) {
        return Reply::error(StatusCode::UNAUTHORIZED, if authorization.is_some() { "Bad credentials" } else { "Requires authentication" });
    }
    if let Some(limited) = rate::limited(st, authorization) {
        return limited;
    }
    if st.fail_next.as_ref().is_some_and(|(m, _)| m == method.as_str()) {
        let (_, status) = st.fail_next.take().unwrap_or_default();
        return Reply::error(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), "Service Unavailable");
    }
    let Some((template, op)) = contract.operation(method, path) else { return Reply::not_found() };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let in_repo = segments.first() == Some(&"repos");
    if in_repo && (segments.get(1) != Some(&st.owner.as_str()) || segments.get(2) != Some(&st.repo.as_str())) {
        return Reply::not_found();
    }
    let problems = contract.check_request(&template, method, op, body);
    if !problems.is_empty() {
        st.violations.extend(problems.iter().cloned());
        return invalid(&problems);
    }
    let call = Call { method, path, template: &template, op, segments, query, body, authorization };
    let reply = route(st, contract, &call);
    // What the double answers holds to the contract too; a failure here is a bug in the double.
    if let Some(out) = &reply.body {
        let problems = contract.check_response(&template, method, op, reply.status.as_u16(), out);
        if !problems.is_empty() {
            st.violations.extend(problems.iter().map(|p| format!("the double itself: {p}")));
            let first = problems.first().cloned().unwrap_or_default();
            return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("the double broke the response contract: {first}"));
        }
    }
    reply
}

/// GitHub's 422 for a body that breaks the operation's schema (or a rule its description
/// states in words).
pub(crate) fn invalid(problems: &[String]) -> Reply {
    let errors: Vec<Value> = problems.iter().map(|p| json!({"code": "invalid", "message": p})).collect();
    Reply::json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Invalid request.", "documentation_url": "https://docs.github.com/rest", "errors": errors}),
    )
}

fn route(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    const REPO: &str = "/repos/{owner}/{repo}";
    let Some(rest) = call.template.strip_prefix(REPO) else {
        return match (call.method.as_str(), call.template) {
            ("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}") => teams::membership(st, contract, call),
            ("POST", "/app/installations/{installation_id}/access_tokens") => app::access_token(st, contract, call),
            _ => Reply::not_found(),
        };
    };
    match (call.method.as_str(), rest) {
        ("GET", "/pulls") => pulls::list(st, contract, call),
        ("POST", "/pulls") => pulls::create(st, contract, call),
        ("GET", "/pulls/{pull_number}") => pulls::get(st, contract, call),
        ("PATCH", "/pulls/{pull_number}") => pulls::update(st, contract, call),
        ("GET", "/pulls/{pull_number}/reviews") => pulls::reviews(st, contract, call),
        ("GET", "/pulls/{pull_number}/files") => pulls::files(st, contract, call),
        ("POST", "/check-runs") => checks::create(st, contract, call),
        ("PATCH", "/check-runs/{check_run_id}") => checks::update(st, contract, call),
        ("GET", "/check-runs/{check_run_id}") => checks::get(st, contract, call),
        ("GET", "/commits/{ref}/check-runs") => checks::for_ref(st, contract, call),
        ("POST", "/statuses/{sha}") => checks::create_status(st, contract, call),
        ("GET", "/commits/{ref}/status") => checks::combined_status(st, contract, call),
        ("GET", "/issues/{issue_number}/comments") => comments::list(st, contract, call),
        ("POST", "/issues/{issue_number}/comments") => comments::create(st, contract, call),
        ("GET", "/issues/comments/{comment_id}") => comments::get(st, contract, call),
        ("PATCH", "/issues/comments/{comment_id}") => comments::update(st, contract, call),
        ("DELETE", "/issues/comments/{comment_id}") => comments::delete(st, call),
        _ => Reply::not_found(),
    }
}

/// Writes `val` at `ptr` when the example has that field (answers keep the example's shape).
pub(crate) fn set(v: &mut Value, ptr: &str, val: Value) {
    if let Some(slot) = v.pointer_mut(ptr) {
        *slot = val;
    }
}
