//! GitHub's side of webhooks: example payloads with a test's facts written over them, signed and
//! delivered over HTTP with the headers GitHub sends.
//!
//! The payloads start from Octokit's `@octokit/webhooks-examples` (MIT, see
//! `fixtures/README.md`), so that tollgate's receiver reads what GitHub really sends. Deliveries
//! carry `X-Hub-Signature-256` only: the SHA-1 `X-Hub-Signature` GitHub also sends for old
//! receivers is left out, since tollgate must not trust it.

use anyhow::Context;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::random_hex;
use crate::server::set;

const PING: &str = include_str!("../fixtures/webhooks/ping.0.json");
const PR_OPENED: &str = include_str!("../fixtures/webhooks/pull_request.opened.0.json");
const PR_SYNCHRONIZE: &str = include_str!("../fixtures/webhooks/pull_request.synchronize.22.json");
const PR_REOPENED: &str = include_str!("../fixtures/webhooks/pull_request.reopened.18.json");
const PR_CLOSED: &str = include_str!("../fixtures/webhooks/pull_request.closed.3.json");
const REVIEW_SUBMITTED: &str = include_str!("../fixtures/webhooks/pull_request_review.submitted.0.json");
const REVIEW_DISMISSED: &str = include_str!("../fixtures/webhooks/pull_request_review.dismissed.1.json");
const PUSH: &str = include_str!("../fixtures/webhooks/push.0.json");
const CHECK_SUITE_REQUESTED: &str = include_str!("../fixtures/webhooks/check_suite.requested.4.json");
const CHECK_SUITE_REREQUESTED: &str = include_str!("../fixtures/webhooks/check_suite.rerequested.7.json");
const CHECK_RUN_REREQUESTED: &str = include_str!("../fixtures/webhooks/check_run.rerequested.7.json");
const INSTALLATION_CREATED: &str = include_str!("../fixtures/webhooks/installation.created.json");
const MERGE_GROUP: &str = include_str!("../fixtures/webhooks/merge_group.checks_requested.json");

/// Every embedded example, for the test that parses them all.
#[cfg(test)]
pub(crate) const EXAMPLES: &[&str] = &[
    PING,
    PR_OPENED,
    PR_SYNCHRONIZE,
    PR_REOPENED,
    PR_CLOSED,
    REVIEW_SUBMITTED,
    REVIEW_DISMISSED,
    PUSH,
    CHECK_SUITE_REQUESTED,
    CHECK_SUITE_REREQUESTED,
    CHECK_RUN_REREQUESTED,
    INSTALLATION_CREATED,
    MERGE_GROUP,
];

/// The id of the hook the double's deliveries come from (`X-GitHub-Hook-ID`).
const HOOK_ID: &str = "460890217";

/// The `X-Hub-Signature-256` of `body` under `secret`: `sha256=` and the hex HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC keys have no length limit"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The facts of a pull request that its events carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrFacts {
    /// The repository's owner.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
    /// Its head branch.
    pub head_ref: String,
    /// Its head commit.
    pub head_sha: String,
    /// Its base branch.
    pub base_ref: String,
    /// Its base commit.
    pub base_sha: String,
    /// Who opened it.
    pub author: String,
    /// Whether it was merged (with action `closed`).
    pub merged: bool,
    /// The App installation the delivery is for.
    pub installation_id: u64,
}

/// The facts of a review event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFacts {
    /// The pull request reviewed.
    pub pr: PrFacts,
    /// The review's id.
    pub review_id: u64,
    /// The reviewer's login.
    pub login: String,
    /// `approved`, `changes_requested`, `commented` or `dismissed` (webhooks write it in lower
    /// case, the REST API in upper case).
    pub state: String,
    /// The commit reviewed.
    pub commit_id: String,
}

fn example(text: &str) -> Value {
    // The examples are embedded and each is parsed by a unit test.
    serde_json::from_str(text).unwrap_or_else(|e| unreachable!("an embedded webhook example is not JSON: {e}"))
}

/// Writes the repository and the App installation an event is for over an example's:
/// `repository.name/full_name/owner.login` (and `organization.login` where there is one) and
/// `installation.id`.
pub fn in_repo(mut event: Value, owner: &str, repo: &str, installation_id: u64) -> Value {
    set(&mut event, "/repository/name", json!(repo));
    set(&mut event, "/repository/full_name", json!(format!("{owner}/{repo}")));
    set(&mut event, "/repository/owner/login", json!(owner));
    set(&mut event, "/organization/login", json!(owner));
    if let Some(o) = event.as_object_mut() {
        o.insert("installation".into(), json!({"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}));
    }
    event
}

/// Writes a pull request's facts over the `pull_request` of an event.
fn write_pull(v: &mut Value, f: &PrFacts, state: &str) {
    set(v, "/pull_request/number", json!(f.number));
    set(v, "/pull_request/state", json!(state));
    set(v, "/pull_request/user/login", json!(f.author));
    set(v, "/pull_request/head/ref", json!(f.head_ref));
    set(v, "/pull_request/head/sha", json!(f.head_sha));
    set(v, "/pull_request/head/label", json!(format!("{}:{}", f.owner, f.head_ref)));
    set(v, "/pull_request/base/ref", json!(f.base_ref));
    set(v, "/pull_request/base/sha", json!(f.base_sha));
    set(v, "/pull_request/base/label", json!(format!("{}:{}", f.owner, f.base_ref)));
    set(v, "/pull_request/merged", json!(f.merged));
    set(v, "/pull_request/merged_at", if f.merged { json!("2026-12-01T10:00:00Z") } else { Value::Null });
    for side in ["head", "base"] {
        set(v, &format!("/pull_request/{side}/repo/name"), json!(f.repo));
        set(v, &format!("/pull_request/{side}/repo/full_name"), json!(format!("{}/{}", f.owner, f.repo)));
        set(v, &format!("/pull_request/{side}/repo/owner/login"), json!(f.owner));
    }
}

/// A `pull_request` event: `opened`, `synchronize` (a push to the head: `after` is the head),
/// `reopened`, `closed` (merged or not, as `f.merged` says) or any other action over the
/// `opened` example.
pub fn pull_request_event(action: &str, f: &PrFacts) -> Value {
    let mut v = example(match action {
        "synchronize" => PR_SYNCHRONIZE,
        "reopened" => PR_REOPENED,
        "closed" => PR_CLOSED,
        _ => PR_OPENED,
    });
    set(&mut v, "/action", json!(action));
    set(&mut v, "/number", json!(f.number));
    set(&mut v, "/after", json!(f.head_sha));
    write_pull(&mut v, f, if action == "closed" { "closed" } else { "open" });
    in_repo(v, &f.owner, &f.repo, f.installation_id)
}

/// A `pull_request_review` event: `submitted`, `dismissed` or any other action over the
/// `submitted` example.
pub fn review_event(action: &str, f: &ReviewFacts) -> Value {
    let mut v = example(if action == "dismissed" { REVIEW_DISMISSED } else { REVIEW_SUBMITTED });
    set(&mut v, "/action", json!(action));
    set(&mut v, "/review/id", json!(f.review_id));
    set(&mut v, "/review/user/login", json!(f.login));
    set(&mut v, "/review/state", json!(f.state));
    set(&mut v, "/review/commit_id", json!(f.commit_id));
    write_pull(&mut v, &f.pr, "open");
    in_repo(v, &f.pr.owner, &f.pr.repo, f.pr.installation_id)
}

/// A `push` event moving `git_ref` (`refs/heads/main`) from `before` to `after`, over the
/// example's repository (write yours with [`in_repo`]).
pub fn push_event(git_ref: &str, before: &str, after: &str) -> Value {
    let mut v = example(PUSH);
    set(&mut v, "/ref", json!(git_ref));
    set(&mut v, "/before", json!(before));
    set(&mut v, "/after", json!(after));
    set(&mut v, "/head_commit/id", json!(after));
    v
}

/// A `merge_group` event (action `checks_requested` or `destroyed`) for the merge queue's
/// commit `head_sha` on `head_ref`, made on `base_sha` of `base_ref`.
pub fn merge_group_event(action: &str, head_sha: &str, head_ref: &str, base_sha: &str, base_ref: &str) -> Value {
    let mut v = example(MERGE_GROUP);
    set(&mut v, "/action", json!(action));
    set(&mut v, "/merge_group/head_sha", json!(head_sha));
    set(&mut v, "/merge_group/head_ref", json!(head_ref));
    set(&mut v, "/merge_group/base_sha", json!(base_sha));
    set(&mut v, "/merge_group/base_ref", json!(base_ref));
    set(&mut v, "/merge_group/head_commit/id", json!(head_sha));
    v
}

/// A `check_suite` event (`requested`, `rerequested`) for commit `head_sha`.
pub fn check_suite_event(action: &str, head_sha: &str) -> Value {
    let mut v = example(if action == "rerequested" { CHECK_SUITE_REREQUESTED } else { CHECK_SUITE_REQUESTED });
    set(&mut v, "/action", json!(action));
    set(&mut v, "/check_suite/head_sha", json!(head_sha));
    set(&mut v, "/check_suite/after", json!(head_sha));
    v
}

/// A `check_run` event (`rerequested`, …) for run `name` on commit `head_sha` of pull request
/// `pull_number`.
pub fn check_run_event(action: &str, name: &str, head_sha: &str, pull_number: u64) -> Value {
    let mut v = example(CHECK_RUN_REREQUESTED);
    set(&mut v, "/action", json!(action));
    set(&mut v, "/check_run/name", json!(name));
    set(&mut v, "/check_run/head_sha", json!(head_sha));
    set(&mut v, "/check_run/check_suite/head_sha", json!(head_sha));
    let repo = json!({
        "id": v.pointer("/repository/id").cloned().unwrap_or(json!(1)),
        "url": v.pointer("/repository/url").cloned().unwrap_or(json!("")),
        "name": v.pointer("/repository/name").cloned().unwrap_or(json!("")),
    });
    let url = format!("{}/pulls/{pull_number}", v.pointer("/repository/url").and_then(Value::as_str).unwrap_or_default());
    let pull = json!({"url": url, "id": 1000 + pull_number, "number": pull_number, "head": {"ref": "", "sha": head_sha, "repo": repo}, "base": {"ref": "", "sha": "", "repo": repo}});
    set(&mut v, "/check_run/pull_requests", json!([pull]));
    set(&mut v, "/check_run/check_suite/pull_requests", json!([pull]));
    v
}

/// The `ping` GitHub sends when a hook is made.
pub fn ping_event() -> Value {
    example(PING)
}

/// An `installation` event (`created`, `deleted`, …) of App installation 1.
pub fn installation_event(action: &str) -> Value {
    let mut v = example(INSTALLATION_CREATED);
    set(&mut v, "/action", json!(action));
    v
}

/// One delivery: the event name, the delivery's GUID and the exact body (what is signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event (`X-GitHub-Event`): `pull_request`, `push`, …
    pub event: String,
    /// The delivery's GUID (`X-GitHub-Delivery`).
    pub id: String,
    /// The JSON body as sent.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A delivery of `payload` as event `event`, with a fresh GUID.
    pub fn new(event: &str, payload: &Value) -> Delivery {
        let hex = random_hex(16);
        let id = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
        Delivery { event: event.to_owned(), id, body: payload.to_string().into_bytes() }
    }
}

/// POSTs `d` to `url` (plain HTTP, `http://host:port/path`) signed with `secret`, with GitHub's
/// headers; returns the receiver's status and body. Synchronous: it runs on a thread of its own,
/// so sync and async tests alike can call it.
///
/// # Errors
///
/// When the URL is not `http://…`, the receiver cannot be reached or does not answer within 30
/// seconds.
pub fn deliver(url: &str, secret: &[u8], d: &Delivery) -> anyhow::Result<(u16, String)> {
    deliver_with_signature(url, &sign(secret, &d.body), d)
}

/// [`deliver`] with `signature_header` as `X-Hub-Signature-256` (a wrong one, for the tests of
/// refusals).
///
/// # Errors
///
/// As [`deliver`].
pub fn deliver_with_signature(url: &str, signature_header: &str, d: &Delivery) -> anyhow::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").with_context(|| format!("`{url}` is not a plain http:// URL"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let target = serde_json::from_slice::<Value>(&d.body).ok().and_then(|v| v.pointer("/repository/id").cloned());
    let mut request = hyper::Request::post(path)
        .header("host", authority)
        .header("x-github-event", &d.event)
        .header("x-github-delivery", &d.id)
        .header("x-github-hook-id", HOOK_ID)
        .header("x-github-hook-installation-target-type", "repository")
        .header("x-hub-signature-256", signature_header)
        .header("user-agent", "GitHub-Hookshot/abc1234")
        .header("content-type", "application/json");
    if let Some(target) = target {
        request = request.header("x-github-hook-installation-target-id", target.to_string());
    }
    let request = request.body(Full::new(Bytes::from(d.body.clone()))).context("build the delivery request")?;
    let authority = authority.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("build the delivery's runtime")?;
        rt.block_on(async move {
            tokio::time::timeout(std::time::Duration::from_secs(30), post(&authority, request))
                .await
                .with_context(|| format!("`{authority}` did not answer the delivery within 30 s"))?
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the delivery's thread panicked"))?
}

async fn post(authority: &str, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(authority).await.with_context(|| format!("connect to `{authority}`"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.context("start HTTP/1.1")?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.context("send the delivery")?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.context("read the receiver's answer")?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
