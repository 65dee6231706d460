//! A double of the GitHub REST API for tests: a real HTTP server on loopback that holds to
//! GitHub's published contract, so that tollgate's real client (octocrab) is exercised against
//! it end to end.
//!
//! The contract is `fixtures/api-subset.openapi.json`, the OpenAPI description of api.github.com
//! published by the Octokit project (MIT, see `fixtures/README.md`). Every request body is
//! validated against its operation's request schema, and every response body the double sends
//! is first validated against the response schema of its status; a request that breaks the
//! contract is answered as GitHub would (422) and listed in [`GitHubDouble::violations`], which
//! tests assert to be empty. Requests without the expected token are answered 401 (GitHub's
//! "Bad credentials"), without a `User-Agent` 403, as GitHub does.
//!
//! Pull requests live in memory. As on GitHub, one repository holds at most one open pull
//! request per (head, base): a second `POST /pulls` for the same pair is refused with GitHub's
//! own 422 ("A pull request already exists for …").
//!
//! The server runs on its own thread with its own Tokio runtime, so that synchronous tests, async
//! tests and tests of the real binary can all use it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

/// The OpenAPI description the double holds to (loaded at compile time: tests never read files
/// outside the project).
const SPEC: &str = include_str!("../fixtures/api-subset.openapi.json");

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: HashMap<String, String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

/// A pull request held by the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// The head branch (without the `owner:` prefix).
    pub head: String,
    /// The base branch.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Its body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
}

#[derive(Debug)]
struct State {
    owner: String,
    repo: String,
    token: String,
    pulls: Vec<Pull>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    base_url: String,
    /// Answer the next request of this method with this status (a GitHub outage, or a process
    /// that died before it read the answer).
    fail_next: Option<(String, u16)>,
}

/// The running double. Dropping it stops the server.
#[derive(Debug)]
pub struct GitHubDouble {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl GitHubDouble {
    /// Starts a double serving repository `owner/repo`, accepting `token`.
    ///
    /// # Errors
    ///
    /// When the loopback socket or the runtime cannot be made.
    pub fn start(owner: &str, repo: &str, token: &str) -> anyhow::Result<GitHubDouble> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
        listener.set_nonblocking(true).context("make the socket non-blocking")?;
        let addr = listener.local_addr().context("read the bound address")?;
        let state = Arc::new(Mutex::new(State {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token: token.to_owned(),
            pulls: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            base_url: format!("http://{addr}"),
            fail_next: None,
        }));
        let contract = Arc::new(Contract::load()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("build the double's runtime")?;
        let served = state.clone();
        std::thread::Builder::new()
            .name("github-double".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    let mut stopped = stopped;
                    loop {
                        let accepted = tokio::select! {
                            a = listener.accept() => a,
                            _ = &mut stopped => return,
                        };
                        let Ok((stream, _)) = accepted else { continue };
                        let (state, contract) = (served.clone(), contract.clone());
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| handle(state.clone(), contract.clone(), req));
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                        });
                    }
                });
            })
            .context("start the double's thread")?;
        Ok(GitHubDouble { addr, state, stop: Some(stop) })
    }

    /// `http://127.0.0.1:PORT`: the API base URL to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every pull request, by number.
    pub fn pulls(&self) -> Vec<Pull> {
        self.lock().pulls.clone()
    }

    /// Requests that broke GitHub's published contract (empty when the client held to it).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Closes pull request `number` without merging it, as a reviewer would.
    pub fn close(&self, number: u64) {
        if let Some(p) = self.lock().pulls.iter_mut().find(|p| p.number == number) {
            p.state = "closed".into();
        }
    }

    /// Marks pull request `number` merged (the test merges the branch in the Git remote).
    pub fn mark_merged(&self, number: u64) {
        if let Some(p) = self.lock().pulls.iter_mut().find(|p| p.number == number) {
            p.state = "closed".into();
            p.merged = true;
        }
    }

    /// Answers the next `method` request with `status` and GitHub's error body, doing nothing.
    pub fn fail_next(&self, method: &str, status: u16) {
        self.lock().fail_next = Some((method.to_owned(), status));
    }

    /// Opens a pull request as another writer would (an earlier tollgate that died before it
    /// recorded it, or a person); returns its number.
    pub fn open_pull(&self, head: &str, base: &str, title: &str, body: &str) -> u64 {
        let mut st = self.lock();
        let number = st.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        st.pulls.push(Pull {
            number,
            head: head.into(),
            base: base.into(),
            title: title.into(),
            body: body.into(),
            state: "open".into(),
            merged: false,
        });
        number
    }

    /// Reopens pull request `number`.
    pub fn reopen(&self, number: u64) {
        if let Some(p) = self.lock().pulls.iter_mut().find(|p| p.number == number) {
            p.state = "open".into();
        }
    }
}

impl Drop for GitHubDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The compiled request and response schemas of the spec's operations.
struct Contract {
    spec: Value,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Contract {
    fn load() -> anyhow::Result<Contract> {
        let spec: Value = serde_json::from_str(SPEC).context("parse the OpenAPI description")?;
        Ok(Contract { spec, cache: Mutex::new(HashMap::new()) })
    }

    /// The operation and its path template for `method` on `path`.
    fn operation(&self, method: &Method, path: &str) -> Option<(String, &Value)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.spec.get("paths")?.as_object()?;
        paths.iter().find_map(|(template, item)| {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            let fits = t.len() == segments.len() && t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
            let op = item.get(method.as_str().to_ascii_lowercase())?;
            fits.then(|| (template.clone(), op))
        })
    }

    fn validator(&self, key: &str, schema: &Value) -> anyhow::Result<Arc<jsonschema::Validator>> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = cache.get(key) {
            return Ok(v.clone());
        }
        let v = Arc::new(jsonschema::validator_for(&openapi_to_json_schema(schema)).map_err(|e| anyhow::anyhow!("{e}"))?);
        cache.insert(key.to_owned(), v.clone());
        Ok(v)
    }

    /// Problems of `body` against the operation's request schema.
    fn check_request(&self, template: &str, method: &Method, op: &Value, body: Option<&Value>) -> Vec<String> {
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else { return Vec::new() };
        let required = op.pointer("/requestBody/required").and_then(Value::as_bool).unwrap_or(false);
        let Some(body) = body else {
            return if required { vec![format!("{method} {template}: the request body is required")] } else { Vec::new() };
        };
        match self.validator(&format!("req {method} {template}"), schema) {
            Ok(v) => v.iter_errors(body).map(|e| format!("{method} {template}: request body at `{}`: {e}", e.instance_path())).collect(),
            Err(e) => vec![format!("{method} {template}: request schema does not compile: {e}")],
        }
    }

    /// The example body of a response, to start answers from.
    fn example(&self, op: &Value, status: u16) -> Option<Value> {
        let content = op.pointer(&format!("/responses/{status}/content/application~1json"))?;
        content.pointer("/examples/default/value").or_else(|| content.get("example")).cloned()
    }

    /// Problems of `body` against the response schema of `status`.
    fn check_response(&self, template: &str, method: &Method, op: &Value, status: u16, body: &Value) -> Vec<String> {
        let Some(schema) = op.pointer(&format!("/responses/{status}/content/application~1json/schema")) else {
            return Vec::new();
        };
        match self.validator(&format!("res {status} {method} {template}"), schema) {
            Ok(v) => v
                .iter_errors(body)
                .map(|e| format!("{method} {template} {status}: response body at `{}`: {e}", e.instance_path()))
                .collect(),
            Err(e) => vec![format!("{method} {template}: response schema does not compile: {e}")],
        }
    }
}

/// OpenAPI 3.0 schemas are JSON Schema but for `nullable: true`, which JSON Schema writes as a
/// union with `null`.
fn openapi_to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            let mut nullable = false;
            for (k, val) in map {
                match k.as_str() {
                    "nullable" => nullable = val.as_bool().unwrap_or(false),
                    // Properties are names, not schemas: keep their keys, convert their values.
                    "properties" => {
                        let props = val.as_object().map(|p| p.iter().map(|(n, s)| (n.clone(), openapi_to_json_schema(s))).collect());
                        out.insert(k.clone(), props.map_or(Value::Null, Value::Object));
                    }
                    "example" | "examples" => {}
                    _ => {
                        out.insert(k.clone(), openapi_to_json_schema(val));
                    }
                }
            }
            let schema = Value::Object(out);
            if nullable { json!({"anyOf": [schema, {"type": "null"}]}) } else { schema }
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: &Value) -> Answer {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json; charset=utf-8"));
    res
}

fn github_error(message: &str) -> Value {
    json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
}

async fn handle(state: Arc<Mutex<State>>, contract: Arc<Contract>, req: Request<Incoming>) -> Result<Answer, Infallible> {
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

    let mut st = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (status, out) = respond(&mut st, &contract, &method, &path, &query, authorization.as_deref(), has_agent, body.as_ref());
    st.requests.push(Recorded { method: method.to_string(), path, query, authorization, body, status: status.as_u16() });
    Ok(answer(status, &out))
}

fn decode(s: &str) -> String {
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
) -> (StatusCode, Value) {
    if !has_agent {
        return (
            StatusCode::FORBIDDEN,
            github_error("Request forbidden by administrative rules. Please make sure your request has a User-Agent header"),
        );
    }
    let token_ok =
        authorization.and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("token "))).is_some_and(|t| t == st.token);
    if !token_ok {
        return (
            StatusCode::UNAUTHORIZED,
            github_error(if authorization.is_some() { "Bad credentials" } else { "Requires authentication" }),
        );
    }
    if st.fail_next.as_ref().is_some_and(|(m, _)| m == method.as_str()) {
        let (_, status) = st.fail_next.take().unwrap_or_default();
        return (StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), github_error("Service Unavailable"));
    }
    let Some((template, op)) = contract.operation(method, path) else {
        return (StatusCode::NOT_FOUND, github_error("Not Found"));
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.get(1) != Some(&st.owner.as_str()) || segments.get(2) != Some(&st.repo.as_str()) {
        return (StatusCode::NOT_FOUND, github_error("Not Found"));
    }
    let problems = contract.check_request(&template, method, op, body);
    if !problems.is_empty() {
        st.violations.extend(problems.iter().cloned());
        let errors: Vec<Value> = problems.iter().map(|p| json!({"code": "invalid", "message": p})).collect();
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Invalid request.", "documentation_url": "https://docs.github.com/rest", "errors": errors}),
        );
    }
    let (status, out) = match (method.as_str(), template.as_str()) {
        ("GET", "/repos/{owner}/{repo}/pulls") => list(st, contract, op, query),
        ("POST", "/repos/{owner}/{repo}/pulls") => create(st, contract, op, body.unwrap_or(&Value::Null)),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}") => match pull_index(st, segments.get(4)) {
            Some(i) => (StatusCode::OK, full_pull(st, contract, op, 200, &st.pulls[i])),
            None => (StatusCode::NOT_FOUND, github_error("Not Found")),
        },
        ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}") => match pull_index(st, segments.get(4)) {
            Some(i) => {
                let b = body.unwrap_or(&Value::Null);
                let p = &mut st.pulls[i];
                if let Some(t) = b.get("title").and_then(Value::as_str) {
                    p.title = t.to_owned();
                }
                if let Some(t) = b.get("body").and_then(Value::as_str) {
                    p.body = t.to_owned();
                }
                if let Some(t) = b.get("state").and_then(Value::as_str) {
                    p.state = t.to_owned();
                }
                if let Some(t) = b.get("base").and_then(Value::as_str) {
                    p.base = t.to_owned();
                }
                (StatusCode::OK, full_pull(st, contract, op, 200, &st.pulls[i]))
            }
            None => (StatusCode::NOT_FOUND, github_error("Not Found")),
        },
        _ => (StatusCode::NOT_FOUND, github_error("Not Found")),
    };
    // What the double answers holds to the contract too; a failure here is a bug in the double.
    let problems = contract.check_response(&template, method, op, status.as_u16(), &out);
    if !problems.is_empty() {
        st.violations.extend(problems.iter().map(|p| format!("the double itself: {p}")));
        let first = problems.first().cloned().unwrap_or_default();
        return (StatusCode::INTERNAL_SERVER_ERROR, github_error(&format!("the double broke the response contract: {first}")));
    }
    (status, out)
}

fn pull_index(st: &State, segment: Option<&&str>) -> Option<usize> {
    let n: u64 = segment?.parse().ok()?;
    st.pulls.iter().position(|p| p.number == n)
}

/// `head` as the API takes it: `branch` or `owner:branch`.
fn head_branch<'a>(st: &State, head: &'a str) -> Option<&'a str> {
    match head.split_once(':') {
        Some((owner, branch)) => (owner == st.owner).then_some(branch),
        None => Some(head),
    }
}

fn list(st: &State, contract: &Contract, op: &Value, query: &HashMap<String, String>) -> (StatusCode, Value) {
    let state = query.get("state").map_or("open", String::as_str);
    let head = query.get("head").map(|h| head_branch(st, h));
    let items: Vec<Value> = st
        .pulls
        .iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| head.is_none_or(|h| h == Some(p.head.as_str())))
        .filter(|p| query.get("base").is_none_or(|b| *b == p.base))
        .map(|p| {
            let template = contract.example(op, 200).and_then(|v| v.get(0).cloned()).unwrap_or_else(|| json!({}));
            fill(st, template, p)
        })
        .collect();
    (StatusCode::OK, Value::Array(items))
}

fn create(st: &mut State, contract: &Contract, op: &Value, body: &Value) -> (StatusCode, Value) {
    let head = body.get("head").and_then(Value::as_str).unwrap_or_default();
    let base = body.get("base").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(branch) = head_branch(st, head).map(str::to_owned) else {
        return validation("head", "invalid", "head must be a branch of this repository");
    };
    if body.get("title").and_then(Value::as_str).is_none_or(str::is_empty) {
        return validation("title", "missing_field", "title is required");
    }
    if st.pulls.iter().any(|p| p.state == "open" && p.head == branch && p.base == base) {
        let message = format!("A pull request already exists for {}:{branch}.", st.owner);
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": message}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
        );
    }
    let number = st.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
    let pull = Pull {
        number,
        head: branch,
        base,
        title: body.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
        body: body.get("body").and_then(Value::as_str).unwrap_or_default().to_owned(),
        state: "open".into(),
        merged: false,
    };
    st.pulls.push(pull.clone());
    (StatusCode::CREATED, full_pull(st, contract, op, 201, &pull))
}

fn validation(field: &str, code: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": field, "code": code, "message": message}], "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn full_pull(st: &State, contract: &Contract, op: &Value, status: u16, p: &Pull) -> Value {
    fill(st, contract.example(op, status).unwrap_or_else(|| json!({})), p)
}

/// The spec's example of a pull request with this one's facts written over it.
fn fill(st: &State, mut v: Value, p: &Pull) -> Value {
    let api = format!("{}/repos/{}/{}", st.base_url, st.owner, st.repo);
    let html = format!("https://github.example/{}/{}/pull/{}", st.owner, st.repo, p.number);
    let set = |v: &mut Value, ptr: &str, val: Value| {
        if let Some(slot) = v.pointer_mut(ptr) {
            *slot = val;
        }
    };
    // tollgate's pull requests have no reviewers, teams, labels, assignees or milestone (and
    // the description's own example of `requested_teams` misses a required `type`).
    for list in ["/requested_teams", "/requested_reviewers", "/labels", "/assignees"] {
        set(&mut v, list, json!([]));
    }
    for none in ["/assignee", "/milestone", "/auto_merge", "/merged_by"] {
        set(&mut v, none, Value::Null);
    }
    set(&mut v, "/id", json!(1000 + p.number));
    set(&mut v, "/number", json!(p.number));
    set(&mut v, "/url", json!(format!("{api}/pulls/{}", p.number)));
    set(&mut v, "/html_url", json!(html));
    set(&mut v, "/state", json!(p.state));
    set(&mut v, "/title", json!(p.title));
    set(&mut v, "/body", json!(p.body));
    set(&mut v, "/head/ref", json!(p.head));
    set(&mut v, "/head/label", json!(format!("{}:{}", st.owner, p.head)));
    set(&mut v, "/base/ref", json!(p.base));
    set(&mut v, "/base/label", json!(format!("{}:{}", st.owner, p.base)));
    set(&mut v, "/merged", json!(p.merged));
    let closed = p.state == "closed";
    set(&mut v, "/closed_at", if closed { json!("2026-12-01T10:00:00Z") } else { Value::Null });
    set(&mut v, "/merged_at", if p.merged { json!("2026-12-01T10:00:00Z") } else { Value::Null });
    v
}
