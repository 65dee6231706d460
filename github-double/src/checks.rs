//! Check runs (with the annotations accumulated over their create and updates) and commit
//! statuses, the two ways tollgate reports a verdict on a commit.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::contract::Contract;
use crate::page::page;
use crate::pulls::CLIENT_LOGIN;
use crate::server::{Call, Reply, invalid, set};
use crate::{GitHubDouble, State, now_s, timestamp};

/// A check run held by the double.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    /// Its id.
    pub id: u64,
    /// Its name (the check's name on the pull request).
    pub name: String,
    /// The commit it reports on.
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// `success`, `failure`, `neutral`, … once completed.
    pub conclusion: Option<String>,
    /// The link the check's "Details" opens.
    pub details_url: Option<String>,
    /// The client's own reference for it.
    pub external_id: Option<String>,
    /// When it started.
    pub started_at: Option<String>,
    /// When it completed.
    pub completed_at: Option<String>,
    /// `output.title`.
    pub title: Option<String>,
    /// `output.summary`.
    pub summary: Option<String>,
    /// `output.text`.
    pub text: Option<String>,
    /// Every annotation given, in order: GitHub appends each request's `output.annotations` to
    /// the run's, on create and on every update.
    pub annotations: Vec<Value>,
}

/// The check runs and commit statuses of the repository.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    runs: Vec<CheckRun>,
    /// `(sha, status as answered)`, oldest first.
    statuses: Vec<(String, Value)>,
    /// The token may not write checks.
    forbidden: bool,
}

impl GitHubDouble {
    /// Every check run, oldest first.
    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.lock().checks.runs.clone()
    }

    /// Every commit status created, oldest first: `(sha, the status as answered)`.
    pub fn statuses(&self) -> Vec<(String, Value)> {
        self.lock().checks.statuses.clone()
    }

    /// From now on every write of a check run answers 403 "Resource not accessible by
    /// integration", as GitHub does for a token without the `checks: write` permission.
    pub fn forbid_checks(&self) {
        self.lock().checks.forbidden = true;
    }
}

fn forbidden() -> Reply {
    Reply::json(
        StatusCode::FORBIDDEN,
        json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run", "status": "403"}),
    )
}

/// The description's rule, stated in words on `conclusion`: "Required if you provide
/// `completed_at` or a `status` of `completed`".
fn completion_problem(call: &Call<'_>) -> Option<String> {
    let completing = call.field("status") == Some("completed") || call.body().get("completed_at").is_some();
    (completing && call.field("conclusion").is_none())
        .then(|| format!("{} {}: `conclusion` is required with `status: completed` or `completed_at`", call.method, call.template))
}

fn refuse(st: &mut State, problem: String) -> Reply {
    let reply = invalid(std::slice::from_ref(&problem));
    st.violations.push(problem);
    reply
}

/// The annotations a request gives (`output.annotations`).
fn given_annotations(call: &Call<'_>) -> Vec<Value> {
    call.body().pointer("/output/annotations").and_then(Value::as_array).cloned().unwrap_or_default()
}

pub(crate) fn create(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    if st.checks.forbidden {
        return forbidden();
    }
    if let Some(problem) = completion_problem(call) {
        return refuse(st, problem);
    }
    let conclusion = call.field("conclusion").map(str::to_owned);
    // A conclusion completes the run, whatever the status says.
    let status = if conclusion.is_some() { "completed" } else { call.field("status").unwrap_or("queued") }.to_owned();
    let now = timestamp(now_s());
    let completed_at = call.field("completed_at").map(str::to_owned).or_else(|| (status == "completed").then(|| now.clone()));
    let run = CheckRun {
        id: st.next_id(),
        name: call.field("name").unwrap_or_default().to_owned(),
        head_sha: call.field("head_sha").unwrap_or_default().to_owned(),
        status,
        conclusion,
        details_url: call.field("details_url").map(str::to_owned),
        external_id: call.field("external_id").map(str::to_owned),
        started_at: Some(call.field("started_at").map_or(now, str::to_owned)),
        completed_at,
        title: call.body().pointer("/output/title").and_then(Value::as_str).map(str::to_owned),
        summary: call.body().pointer("/output/summary").and_then(Value::as_str).map(str::to_owned),
        text: call.body().pointer("/output/text").and_then(Value::as_str).map(str::to_owned),
        annotations: given_annotations(call),
    };
    st.checks.runs.push(run.clone());
    Reply::json(StatusCode::CREATED, fill_run(st, contract.example(call.op, 201), &run))
}

pub(crate) fn update(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    if st.checks.forbidden {
        return forbidden();
    }
    let Some(i) = call.number(4).and_then(|id| st.checks.runs.iter().position(|r| r.id == id)) else { return Reply::not_found() };
    if let Some(problem) = completion_problem(call) {
        return refuse(st, problem);
    }
    let now = timestamp(now_s());
    let run = &mut st.checks.runs[i];
    let text = |ptr: &str| call.body().pointer(ptr).and_then(Value::as_str).map(str::to_owned);
    for (ptr, slot) in
        [("/details_url", &mut run.details_url), ("/external_id", &mut run.external_id), ("/started_at", &mut run.started_at)]
    {
        if let Some(value) = text(ptr) {
            *slot = Some(value);
        }
    }
    for (ptr, slot) in [("/output/title", &mut run.title), ("/output/summary", &mut run.summary), ("/output/text", &mut run.text)] {
        if let Some(value) = text(ptr) {
            *slot = Some(value);
        }
    }
    if let Some(name) = call.field("name") {
        name.clone_into(&mut run.name);
    }
    if let Some(status) = call.field("status") {
        status.clone_into(&mut run.status);
    }
    if let Some(conclusion) = call.field("conclusion") {
        run.conclusion = Some(conclusion.to_owned());
        run.status = "completed".into();
    }
    if run.status == "completed" {
        run.completed_at = Some(text("/completed_at").or_else(|| run.completed_at.clone()).unwrap_or(now));
    }
    run.annotations.extend(given_annotations(call));
    let run = run.clone();
    Reply::json(StatusCode::OK, fill_run(st, contract.example(call.op, 200), &run))
}

pub(crate) fn get(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    match call.number(4).and_then(|id| st.checks.runs.iter().find(|r| r.id == id)) {
        Some(run) => Reply::json(StatusCode::OK, fill_run(st, contract.example(call.op, 200), run)),
        None => Reply::not_found(),
    }
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`: the runs on a commit, newest first;
/// with `filter=latest` (the default) only the newest run of each name.
pub(crate) fn for_ref(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let sha = resolve(st, call.segments.get(4).copied().unwrap_or_default());
    let latest = call.query.get("filter").is_none_or(|f| f == "latest");
    let mut runs: Vec<&CheckRun> = st
        .checks
        .runs
        .iter()
        .rev()
        .filter(|r| r.head_sha == sha)
        .filter(|r| call.query.get("check_name").is_none_or(|n| *n == r.name))
        .filter(|r| call.query.get("status").is_none_or(|s| *s == r.status))
        .collect();
    if latest {
        let mut seen = std::collections::HashSet::new();
        runs.retain(|r| seen.insert(r.name.clone()));
    }
    let total = runs.len();
    let example = contract.example(call.op, 200);
    let item = example.pointer("/check_runs/0").cloned().unwrap_or_else(|| json!({}));
    let (runs, link) = page(runs, call, &st.base_url);
    let check_runs: Vec<Value> = runs.into_iter().map(|r| fill_run(st, item.clone(), r)).collect();
    let reply = Reply::json(StatusCode::OK, json!({"total_count": total, "check_runs": check_runs}));
    match link {
        Some(link) => reply.with_header("link", link),
        None => reply,
    }
}

/// The commit a `{ref}` names: a sha as it is, a branch of a pull request its head.
fn resolve(st: &State, reference: &str) -> String {
    let pulls = st.pulls.all();
    let branch = reference.strip_prefix("refs/heads/").unwrap_or(reference);
    let by_head = pulls.iter().rev().find(|p| p.head == branch).map(|p| p.head_sha.clone());
    by_head.unwrap_or_else(|| reference.to_owned())
}

/// The spec's example of a check run with this one's facts written over it.
fn fill_run(st: &State, mut v: Value, r: &CheckRun) -> Value {
    let api = st.api();
    set(&mut v, "/id", json!(r.id));
    set(&mut v, "/name", json!(r.name));
    set(&mut v, "/head_sha", json!(r.head_sha));
    set(&mut v, "/url", json!(format!("{api}/check-runs/{}", r.id)));
    set(&mut v, "/html_url", json!(format!("{}/runs/{}", st.html(), r.id)));
    set(&mut v, "/details_url", json!(r.details_url));
    set(&mut v, "/external_id", json!(r.external_id));
    set(&mut v, "/status", json!(r.status));
    set(&mut v, "/conclusion", json!(r.conclusion));
    set(&mut v, "/started_at", json!(r.started_at));
    set(&mut v, "/completed_at", json!(r.completed_at));
    set(&mut v, "/output/title", json!(r.title));
    set(&mut v, "/output/summary", json!(r.summary));
    set(&mut v, "/output/text", json!(r.text));
    set(&mut v, "/output/annotations_count", json!(r.annotations.len()));
    set(&mut v, "/output/annotations_url", json!(format!("{api}/check-runs/{}/annotations", r.id)));
    // The open pull requests whose head is the run's commit, as GitHub lists them.
    let repo = json!({"id": 1, "url": api, "name": st.repo});
    let pulls: Vec<Value> = st
        .pulls
        .all()
        .iter()
        .filter(|p| p.state == "open" && p.head_sha == r.head_sha)
        .map(|p| {
            json!({
                "id": 1000 + p.number, "number": p.number, "url": format!("{api}/pulls/{}", p.number),
                "head": {"ref": p.head, "sha": p.head_sha, "repo": repo},
                "base": {"ref": p.base, "sha": p.base_sha, "repo": repo},
            })
        })
        .collect();
    set(&mut v, "/pull_requests", Value::Array(pulls));
    if let Some(output) = v.get_mut("output").and_then(Value::as_object_mut) {
        output.remove("annotations");
    }
    v
}

pub(crate) fn create_status(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let sha = call.segments.get(4).copied().unwrap_or_default().to_owned();
    let id = st.next_id();
    let now = timestamp(now_s());
    let mut v = contract.example(call.op, 201);
    set(&mut v, "/url", json!(format!("{}/statuses/{sha}", st.api())));
    set(&mut v, "/id", json!(id));
    set(&mut v, "/state", json!(call.field("state")));
    set(&mut v, "/description", json!(call.field("description")));
    set(&mut v, "/target_url", json!(call.field("target_url")));
    set(&mut v, "/context", json!(call.field("context").unwrap_or("default")));
    set(&mut v, "/created_at", json!(now));
    set(&mut v, "/updated_at", json!(now));
    set(&mut v, "/creator/login", json!(CLIENT_LOGIN));
    st.checks.statuses.push((sha, v.clone()));
    Reply::json(StatusCode::CREATED, v)
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/status`: the newest status of each context, and
/// their combined state as GitHub combines them.
pub(crate) fn combined_status(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let sha = resolve(st, call.segments.get(4).copied().unwrap_or_default());
    let mut seen = std::collections::HashSet::new();
    let statuses: Vec<Value> = st
        .checks
        .statuses
        .iter()
        .rev()
        .filter(|(s, _)| *s == sha)
        .filter(|(_, v)| seen.insert(v.get("context").and_then(Value::as_str).unwrap_or_default().to_owned()))
        .map(|(_, v)| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("creator");
            }
            v
        })
        .collect();
    let states: Vec<&str> = statuses.iter().filter_map(|v| v.get("state").and_then(Value::as_str)).collect();
    let state = if states.iter().any(|s| *s == "error" || *s == "failure") {
        "failure"
    } else if states.is_empty() || states.contains(&"pending") {
        "pending"
    } else {
        "success"
    };
    let api = st.api();
    let mut v = contract.example(call.op, 200);
    set(&mut v, "/state", json!(state));
    set(&mut v, "/sha", json!(sha));
    set(&mut v, "/total_count", json!(statuses.len()));
    set(&mut v, "/statuses", Value::Array(statuses));
    set(&mut v, "/commit_url", json!(format!("{api}/commits/{sha}")));
    set(&mut v, "/url", json!(format!("{api}/commits/{sha}/status")));
    set(&mut v, "/repository/name", json!(st.repo));
    set(&mut v, "/repository/full_name", json!(format!("{}/{}", st.owner, st.repo)));
    set(&mut v, "/repository/owner/login", json!(st.owner));
    set(&mut v, "/repository/url", json!(api));
    Reply::json(StatusCode::OK, v)
}
