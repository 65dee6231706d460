//! The double driven over real HTTP, as octocrab drives it: a small HTTP/1.1 client written on a
//! `TcpStream`, so that what is tested is what goes over the wire.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::webhook::{self, Delivery, PrFacts, ReviewFacts};
use crate::{GitHubDouble, RateLimit, TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY, now_s};

const TOKEN: &str = "Bearer t0ken";

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Parses an HTTP/1.1 message: the start line, the headers (names lower-cased) and the body.
fn parse(raw: &str) -> (String, Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    (start, headers, body.to_owned())
}

fn send(d: &GitHubDouble, method: &str, path: &str, authorization: Option<&str>, body: Option<&Value>) -> Answer {
    let mut stream = TcpStream::connect(d.url().trim_start_matches("http://")).expect("connect to the double");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: api.github.test\r\nUser-Agent: tollgate-tests\r\nAccept: application/vnd.github+json\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = authorization {
        request.push_str(&format!("Authorization: {a}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (start, headers, body) = parse(&raw);
    let status = start.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, headers, body }
}

fn get(d: &GitHubDouble, path: &str) -> Answer {
    send(d, "GET", path, Some(TOKEN), None)
}

fn double() -> GitHubDouble {
    GitHubDouble::start("o", "r", "t0ken").expect("start the double")
}

fn annotations(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"path": "policies/release.rego", "start_line": i + 1, "end_line": i + 1, "annotation_level": "failure", "message": format!("finding {i}")}))
        .collect()
}

#[test]
fn a_check_run_with_more_than_fifty_annotations_is_refused() {
    let d = double();
    let run = |n| json!({"name": "tollgate", "head_sha": "a".repeat(40), "output": {"title": "t", "summary": "s", "annotations": annotations(n)}});
    let refused = send(&d, "POST", "/repos/o/r/check-runs", Some(TOKEN), Some(&run(51)));
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["message"], "Invalid request.");
    assert!(d.check_runs().is_empty());
    assert_eq!(d.violations().len(), 1, "{:?}", d.violations());
    assert!(d.violations()[0].contains("/output/annotations"), "{:?}", d.violations());

    let d = double();
    assert_eq!(send(&d, "POST", "/repos/o/r/check-runs", Some(TOKEN), Some(&run(50))).status, 201);
    assert_eq!(d.check_runs()[0].annotations.len(), 50);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn annotations_accumulate_over_a_check_runs_updates() {
    let d = double();
    let sha = "b".repeat(40);
    let created = send(
        &d,
        "POST",
        "/repos/o/r/check-runs",
        Some(TOKEN),
        Some(
            &json!({"name": "tollgate", "head_sha": sha, "status": "in_progress", "external_id": "release-7", "output": {"title": "Evaluating", "summary": "…", "annotations": annotations(2)}}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_u64().expect("an id");
    let path = format!("/repos/o/r/check-runs/{id}");
    let more = json!({"output": {"title": "Evaluating", "summary": "…", "annotations": annotations(3)}});
    assert_eq!(send(&d, "PATCH", &path, Some(TOKEN), Some(&more)).status, 200);
    let done = json!({"conclusion": "failure", "output": {"title": "2 findings", "summary": "Denied", "annotations": annotations(1)}});
    let patched = send(&d, "PATCH", &path, Some(TOKEN), Some(&done));
    assert_eq!(patched.status, 200, "{}", patched.body);

    let runs = d.check_runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.annotations.len(), 6);
    assert_eq!((run.status.as_str(), run.conclusion.as_deref()), ("completed", Some("failure")));
    assert_eq!((run.title.as_deref(), run.summary.as_deref()), (Some("2 findings"), Some("Denied")));
    assert_eq!(run.external_id.as_deref(), Some("release-7"));
    let fetched = get(&d, &path).json();
    assert_eq!(fetched["output"]["annotations_count"], 6);
    assert_eq!(fetched["conclusion"], "failure");
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn completing_a_check_run_without_a_conclusion_is_refused() {
    let d = double();
    let body = json!({"name": "tollgate", "head_sha": "c".repeat(40), "status": "completed"});
    assert_eq!(send(&d, "POST", "/repos/o/r/check-runs", Some(TOKEN), Some(&body)).status, 422);
    assert!(d.check_runs().is_empty());
    assert_eq!(d.violations().len(), 1);
}

#[test]
fn check_runs_of_a_commit_are_filtered_by_name_and_the_latest_kept() {
    let d = double();
    let sha = "d".repeat(40);
    for name in ["tollgate", "tollgate", "lint"] {
        let body = json!({"name": name, "head_sha": sha, "conclusion": "success"});
        assert_eq!(send(&d, "POST", "/repos/o/r/check-runs", Some(TOKEN), Some(&body)).status, 201);
    }
    let newest = d.check_runs()[1].id;
    let listed = get(&d, &format!("/repos/o/r/commits/{sha}/check-runs?check_name=tollgate")).json();
    assert_eq!(listed["total_count"], 1);
    assert_eq!(listed["check_runs"][0]["id"], newest);
    let all = get(&d, &format!("/repos/o/r/commits/{sha}/check-runs?filter=all")).json();
    assert_eq!(all["total_count"], 3);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn a_token_that_cannot_write_checks_is_answered_403() {
    let d = double();
    d.forbid_checks();
    let body = json!({"name": "tollgate", "head_sha": "e".repeat(40)});
    let answer = send(&d, "POST", "/repos/o/r/check-runs", Some(TOKEN), Some(&body));
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["message"], "Resource not accessible by integration");
    assert!(d.check_runs().is_empty());
}

#[test]
fn the_combined_status_keeps_the_newest_of_each_context() {
    let d = double();
    let sha = "f".repeat(40);
    for (state, context) in [("pending", "tollgate"), ("success", "tollgate"), ("failure", "ci")] {
        let body = json!({"state": state, "context": context, "description": "d"});
        assert_eq!(send(&d, "POST", &format!("/repos/o/r/statuses/{sha}"), Some(TOKEN), Some(&body)).status, 201);
    }
    assert_eq!(d.statuses().len(), 3);
    let combined = get(&d, &format!("/repos/o/r/commits/{sha}/status")).json();
    assert_eq!(combined["state"], "failure");
    assert_eq!(combined["total_count"], 2);
    assert_eq!(combined["statuses"][0]["context"], "ci");
    assert_eq!(combined["statuses"][1]["state"], "success");
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn comments_are_paginated_with_githubs_link_header() {
    let d = double();
    let number = d.open_pull("feature", "main", "t", "b");
    for i in 0..70 {
        d.add_comment(number, "octocat", &format!("comment {i}"));
    }
    let base = format!("{}/repos/o/r/issues/{number}/comments", d.url());
    let first = get(&d, &format!("/repos/o/r/issues/{number}/comments?per_page=30"));
    assert_eq!(first.json().as_array().map(Vec::len), Some(30));
    assert_eq!(
        first.header("link"),
        Some(format!("<{base}?per_page=30&page=2>; rel=\"next\", <{base}?per_page=30&page=3>; rel=\"last\"").as_str())
    );
    let second = get(&d, &format!("/repos/o/r/issues/{number}/comments?per_page=30&page=2"));
    assert_eq!(second.json()[0]["body"], "comment 30");
    assert_eq!(
        second.header("link"),
        Some(
            format!(
                "<{base}?per_page=30&page=1>; rel=\"prev\", <{base}?per_page=30&page=3>; rel=\"next\", <{base}?per_page=30&page=3>; rel=\"last\", <{base}?per_page=30&page=1>; rel=\"first\""
            )
            .as_str()
        )
    );
    let last = get(&d, &format!("/repos/o/r/issues/{number}/comments?per_page=30&page=3"));
    assert_eq!(last.json().as_array().map(Vec::len), Some(10));
    assert_eq!(
        last.header("link"),
        Some(format!("<{base}?per_page=30&page=2>; rel=\"prev\", <{base}?per_page=30&page=1>; rel=\"first\"").as_str())
    );
    // Without `per_page`, GitHub's 30; a page that holds all has no `Link`.
    assert_eq!(get(&d, &format!("/repos/o/r/issues/{number}/comments")).json().as_array().map(Vec::len), Some(30));
    assert_eq!(get(&d, &format!("/repos/o/r/issues/{number}/comments?per_page=100")).header("link"), None);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn a_comment_over_65536_characters_is_refused() {
    let d = double();
    let number = d.open_pull("feature", "main", "t", "b");
    let path = format!("/repos/o/r/issues/{number}/comments");
    let longest = json!({"body": "é".repeat(65_536)});
    let created = send(&d, "POST", &path, Some(TOKEN), Some(&longest));
    assert_eq!(created.status, 201, "{}", created.body);
    let refused = send(&d, "POST", &path, Some(TOKEN), Some(&json!({"body": "x".repeat(65_537)})));
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["errors"][0]["message"], "body is too long (maximum is 65536 characters)");
    let id = created.json()["id"].as_u64().expect("an id");
    let edit = send(&d, "PATCH", &format!("/repos/o/r/issues/comments/{id}"), Some(TOKEN), Some(&json!({"body": "y".repeat(65_537)})));
    assert_eq!(edit.status, 422);
    assert_eq!(d.comments(number).len(), 1);
    // A long report is the client's to shorten, not a break of the contract.
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn comments_are_edited_and_deleted() {
    let d = double();
    let number = d.open_pull("feature", "main", "t", "b");
    let created = send(&d, "POST", &format!("/repos/o/r/issues/{number}/comments"), Some(TOKEN), Some(&json!({"body": "first"})));
    assert_eq!(created.json()["user"]["login"], "tollgate[bot]");
    let path = format!("/repos/o/r/issues/comments/{}", created.json()["id"]);
    assert_eq!(send(&d, "PATCH", &path, Some(TOKEN), Some(&json!({"body": "second"}))).json()["body"], "second");
    assert_eq!(get(&d, &path).json()["body"], "second");
    assert_eq!(send(&d, "DELETE", &path, Some(TOKEN), None).status, 204);
    assert_eq!(get(&d, &path).status, 404);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn pull_requests_carry_their_commits_and_author() {
    let d = double();
    let (head, base) = ("1".repeat(40), "2".repeat(40));
    let number = d.open_pull_at("feature", "main", &head, &base, "alice", "Release", "body");
    let pull = get(&d, &format!("/repos/o/r/pulls/{number}")).json();
    assert_eq!((pull["head"]["sha"].as_str(), pull["base"]["sha"].as_str()), (Some(head.as_str()), Some(base.as_str())));
    assert_eq!(pull["user"]["login"], "alice");
    assert_eq!(pull["merge_commit_sha"], Value::Null);
    d.set_head(number, &"3".repeat(40));
    d.mark_merged_as(number, &"4".repeat(40));
    let pull = get(&d, &format!("/repos/o/r/pulls/{number}")).json();
    assert_eq!(pull["head"]["sha"], "3".repeat(40));
    assert_eq!((pull["merged"].as_bool(), pull["merge_commit_sha"].as_str()), (Some(true), Some("4".repeat(40).as_str())));
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn reviews_and_files_are_listed() {
    let d = double();
    let number = d.open_pull("feature", "main", "t", "b");
    let sha = d.pulls()[0].head_sha.clone();
    let approval = d.add_review(number, "bob", "APPROVED", &sha);
    d.add_review(number, "carol", "CHANGES_REQUESTED", &sha);
    d.dismiss_review(number, approval);
    let reviews = get(&d, &format!("/repos/o/r/pulls/{number}/reviews")).json();
    assert_eq!(reviews[0]["state"], "DISMISSED");
    assert_eq!((reviews[1]["user"]["login"].as_str(), reviews[1]["commit_id"].as_str()), (Some("carol"), Some(sha.as_str())));
    d.set_files(number, &[("models/a.yaml", "modified"), ("policies/p.rego", "added")]);
    let files = get(&d, &format!("/repos/o/r/pulls/{number}/files?per_page=1"));
    assert_eq!(files.json()[0]["filename"], "models/a.yaml");
    assert!(files.header("link").is_some_and(|l| l.contains("rel=\"last\"")));
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn team_memberships_answer_200_or_404() {
    let d = double();
    d.add_team_member("acme", "release-managers", "bob");
    let member = get(&d, "/orgs/acme/teams/release-managers/memberships/bob");
    assert_eq!(member.status, 200);
    assert_eq!((member.json()["state"].as_str(), member.json()["role"].as_str()), (Some("active"), Some("member")));
    assert_eq!(get(&d, "/orgs/acme/teams/release-managers/memberships/mallory").status, 404);
    assert_eq!(d.violations(), Vec::<String>::new());
}

/// A JWT for App 7 signed with the test key, issued `iat_ago` seconds ago and living `life` s.
fn jwt(iat_ago: u64, life: u64) -> String {
    let der = pem::parse(TEST_APP_PRIVATE_KEY).expect("the test key's PEM").into_contents();
    let key = ring::signature::RsaKeyPair::from_der(&der).expect("a PKCS#1 RSA key");
    let iat = now_s() - iat_ago;
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let claims = URL_SAFE_NO_PAD.encode(json!({"iat": iat, "exp": iat + life, "iss": "7"}).to_string());
    let input = format!("{header}.{claims}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), input.as_bytes(), &mut signature).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[test]
fn an_app_jwt_buys_an_installation_token_that_the_repository_accepts() {
    let d = double();
    d.configure_app(7, 42, TEST_APP_PUBLIC_KEY).expect("configure the App");
    let path = "/app/installations/42/access_tokens";
    let answer = send(&d, "POST", path, Some(&format!("Bearer {}", jwt(60, 540))), None);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let token = answer.json()["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    assert!(answer.json()["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')));
    assert_eq!(d.installation_tokens_issued(), 1);
    assert_eq!(send(&d, "GET", "/repos/o/r/pulls", Some(&format!("token {token}")), None).status, 200);
    assert_eq!(send(&d, "GET", "/repos/o/r/pulls", Some("token ghs_forged"), None).status, 401);
    assert_eq!(send(&d, "POST", "/app/installations/43/access_tokens", Some(&format!("Bearer {}", jwt(60, 540))), None).status, 404);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn bad_app_jwts_are_answered_401() {
    let d = double();
    d.configure_app(7, 42, TEST_APP_PUBLIC_KEY).expect("configure the App");
    let path = "/app/installations/42/access_tokens";
    let expired = send(&d, "POST", path, Some(&format!("Bearer {}", jwt(700, 600))), None);
    assert_eq!(expired.status, 401);
    assert!(expired.json()["message"].as_str().is_some_and(|m| m.starts_with("'Expiration time' claim ('exp')")), "{}", expired.body);
    assert_eq!(send(&d, "POST", path, Some(&format!("Bearer {}", jwt(0, 601))), None).status, 401);
    // Another payload under the same signature.
    let good = jwt(60, 540);
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(json!({"iat": now_s() - 60, "exp": now_s() + 540, "iss": 8}).to_string());
    parts[1] = &forged;
    let answer = send(&d, "POST", path, Some(&format!("Bearer {}", parts.join("."))), None);
    assert_eq!((answer.status, answer.json()["message"].as_str()), (401, Some("A JSON web token could not be decoded")));
    assert_eq!(send(&d, "POST", path, Some(TOKEN), None).status, 401);
    assert_eq!(d.installation_tokens_issued(), 0);
}

#[test]
fn an_expired_installation_token_is_refused() {
    let d = double();
    d.configure_app(7, 42, TEST_APP_PUBLIC_KEY).expect("configure the App");
    d.set_installation_token_lifetime(Duration::ZERO);
    let answer = send(&d, "POST", "/app/installations/42/access_tokens", Some(&format!("Bearer {}", jwt(60, 540))), None);
    let token = answer.json()["token"].as_str().expect("a token").to_owned();
    let refused = send(&d, "GET", "/repos/o/r/pulls", Some(&format!("token {token}")), None);
    assert_eq!((refused.status, refused.json()["message"].as_str()), (401, Some("Bad credentials")));
}

#[test]
fn every_answer_carries_rate_limit_headers_and_limits_trip_on_demand() {
    let d = double();
    let first = get(&d, "/repos/o/r/pulls");
    assert_eq!(first.header("x-ratelimit-limit"), Some("5000"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("4999"));
    assert_eq!(first.header("x-ratelimit-used"), Some("1"));
    assert_eq!(first.header("x-ratelimit-resource"), Some("core"));
    assert!(first.header("x-ratelimit-reset").and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r > now_s()));
    assert_eq!(send(&d, "GET", "/repos/o/r/pulls", None, None).header("x-ratelimit-used"), Some("2"));

    d.rate_limit_next(RateLimit::Primary);
    let limited = send(&d, "POST", "/repos/o/r/pulls", Some(TOKEN), Some(&json!({"head": "f", "base": "main", "title": "t"})));
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(limited.header("x-ratelimit-reset").and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r <= now_s() + 1));
    assert!(limited.json()["message"].as_str().is_some_and(|m| m.starts_with("API rate limit exceeded for ")));
    assert!(d.pulls().is_empty());
    assert_eq!(d.requests().last().map(|r| r.status), Some(403));

    d.rate_limit_next(RateLimit::Secondary { retry_after_s: 7 });
    let limited = get(&d, "/repos/o/r/pulls");
    assert_eq!((limited.status, limited.header("retry-after")), (403, Some("7")));
    assert!(limited.json()["message"].as_str().is_some_and(|m| m.starts_with("You have exceeded a secondary rate limit")));
    assert_eq!(get(&d, "/repos/o/r/pulls").status, 200);
}

#[test]
fn the_signature_is_githubs_documented_example() {
    // https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
    assert_eq!(
        webhook::sign(b"It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn the_embedded_webhook_examples_are_json() {
    for text in webhook::EXAMPLES {
        assert!(serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()));
    }
}

fn facts() -> PrFacts {
    PrFacts {
        owner: "acme".into(),
        repo: "releases".into(),
        number: 12,
        head_ref: "promote/model-7".into(),
        head_sha: "5".repeat(40),
        base_ref: "main".into(),
        base_sha: "6".repeat(40),
        author: "alice".into(),
        merged: true,
        installation_id: 42,
    }
}

#[test]
fn event_builders_write_the_facts_over_the_examples() {
    let closed = webhook::pull_request_event("closed", &facts());
    for (ptr, want) in [
        ("/action", json!("closed")),
        ("/number", json!(12)),
        ("/repository/full_name", json!("acme/releases")),
        ("/repository/owner/login", json!("acme")),
        ("/installation/id", json!(42)),
        ("/pull_request/number", json!(12)),
        ("/pull_request/state", json!("closed")),
        ("/pull_request/merged", json!(true)),
        ("/pull_request/head/sha", json!("5".repeat(40))),
        ("/pull_request/head/ref", json!("promote/model-7")),
        ("/pull_request/base/sha", json!("6".repeat(40))),
        ("/pull_request/user/login", json!("alice")),
    ] {
        assert_eq!(closed.pointer(ptr), Some(&want), "{ptr}");
    }
    let review = webhook::review_event(
        "submitted",
        &ReviewFacts { pr: facts(), review_id: 9, login: "bob".into(), state: "approved".into(), commit_id: "5".repeat(40) },
    );
    assert_eq!(review.pointer("/review/user/login"), Some(&json!("bob")));
    assert_eq!(review.pointer("/review/state"), Some(&json!("approved")));
    assert_eq!(review.pointer("/pull_request/head/sha"), Some(&json!("5".repeat(40))));
    let run = webhook::check_run_event("rerequested", "tollgate", &"7".repeat(40), 12);
    assert_eq!(run.pointer("/check_run/pull_requests/0/number"), Some(&json!(12)));
    let group = webhook::merge_group_event(
        "checks_requested",
        &"8".repeat(40),
        "refs/heads/gh-readonly-queue/main/pr-12",
        &"6".repeat(40),
        "refs/heads/main",
    );
    assert_eq!(group.pointer("/merge_group/head_sha"), Some(&json!("8".repeat(40))));
    let push = webhook::in_repo(webhook::push_event("refs/heads/main", &"6".repeat(40), &"9".repeat(40)), "acme", "releases", 42);
    assert_eq!((push.pointer("/after"), push.pointer("/repository/name")), (Some(&json!("9".repeat(40))), Some(&json!("releases"))));
    assert_eq!(webhook::check_suite_event("requested", &"7".repeat(40)).pointer("/check_suite/head_sha"), Some(&json!("7".repeat(40))));
    assert_eq!(webhook::installation_event("deleted").pointer("/action"), Some(&json!("deleted")));
    assert!(webhook::ping_event().get("zen").is_some());
}

/// Accepts one request on a loopback port, answers `202 ok` and hands back the raw request.
fn capture_one() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/github", listener.local_addr().expect("address"));
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut raw = Vec::new();
        let mut buf = [0; 8192];
        loop {
            let n = stream.read(&mut buf).expect("read");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (_, headers, body) = parse(&text);
            let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
            if n == 0 || (text.contains("\r\n\r\n") && length.is_some_and(|l| body.len() >= l)) {
                break;
            }
        }
        stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").expect("answer");
        String::from_utf8_lossy(&raw).into_owned()
    });
    (url, server)
}

#[test]
fn a_delivery_arrives_signed_with_githubs_headers() {
    let (url, server) = capture_one();
    let delivery = Delivery::new("pull_request", &webhook::pull_request_event("opened", &facts()));
    let answer = webhook::deliver(&url, b"s3cret", &delivery).expect("deliver");
    assert_eq!(answer, (202, "ok".to_owned()));
    let (start, headers, body) = parse(&server.join().expect("the capturing thread"));
    assert_eq!(start, "POST /hooks/github HTTP/1.1");
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header("x-github-event").as_deref(), Some("pull_request"));
    assert_eq!(header("x-github-delivery"), Some(delivery.id.clone()));
    assert_eq!(header("x-hub-signature-256"), Some(webhook::sign(b"s3cret", &delivery.body)));
    assert_eq!(header("x-hub-signature"), None);
    assert_eq!(header("x-github-hook-installation-target-type").as_deref(), Some("repository"));
    assert!(header("x-github-hook-id").is_some());
    assert_eq!(header("user-agent").as_deref(), Some("GitHub-Hookshot/abc1234"));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(body.as_bytes(), delivery.body.as_slice());
    let id = &delivery.id;
    assert!(id.len() == 36 && id.split('-').map(str::len).eq([8, 4, 4, 4, 12]), "{id}");
}

#[test]
fn a_delivery_can_carry_a_wrong_signature() {
    let (url, server) = capture_one();
    let delivery = Delivery::new("ping", &webhook::ping_event());
    webhook::deliver_with_signature(&url, "sha256=00", &delivery).expect("deliver");
    let (_, headers, _) = parse(&server.join().expect("the capturing thread"));
    assert!(headers.contains(&("x-hub-signature-256".to_owned(), "sha256=00".to_owned())));
}
