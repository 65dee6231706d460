//! The dashboard in a real browser: headless Chromium (Debian's, through chromedriver) against
//! the server on a loopback port. Asserts what a person sees, and saves a screenshot of each
//! page under `$TOLLGATE_ARTEFACTS/dashboard/` (default `target/tmp/…`).

use std::path::PathBuf;

use serde_json::Value;
use tollgate_test_support::{CAROL, git};

use super::Server;
use super::webdriver::{Browser, Driver};

fn artefacts() -> PathBuf {
    std::env::var_os("TOLLGATE_ARTEFACTS")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artefacts"), PathBuf::from)
        .join("dashboard")
}

/// Signs `b` in with `token` through the form, as a person would.
async fn sign_in(b: &Browser<'_>, base: &str, token: &str) {
    b.goto(&format!("{base}/signin")).await;
    let field = b.find("#token").await;
    b.type_into(&field, token).await;
    let button = b.find("#signin").await;
    b.click_and_wait(&button).await;
}

/// The decisions the API reports, as (release, environment, state, first reason).
async fn decisions(server: &Server, token: &str) -> Vec<(String, String, String, String)> {
    let status = server.client(token).get("status").await.expect("status");
    assert_eq!(status.status, 200, "{}", status.body);
    status.body["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&d["release"]), s(&d["environment"]), s(&d["state"]), s(&d["reasons"][0]["message"]))
        })
        .collect()
}

/// The approve action of churn-v3 into staging.
const APPROVE: &str = "/releases/churn-v3/environments/staging/approve";

fn cell(release: &str, env: &str) -> String {
    format!(r#"tr[data-release="{release}"] td[data-env="{env}"]"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_and_approves_in_a_real_browser() {
    let server = Server::start(false).await;
    let (bob, alice, vera) = (server.token("bob").await, server.token("alice").await, server.token("vera").await);
    let base = server.base.clone();
    let shots = artefacts();
    let driver = Driver::start().await;
    let b = driver.session().await;

    // Nobody signed in: every page sends them to sign in, with the focus in the token field.
    b.goto(&format!("{base}/")).await;
    assert_eq!(b.url().await, format!("{base}/signin"));
    assert_eq!(b.title().await, "Sign in · tollgate");
    let focused = b.active().await;
    assert_eq!(b.attribute(&focused, "id").await.as_deref(), Some("token"), "the token field has the focus");
    b.screenshot(&shots, "01-sign-in").await;

    // A wrong token is refused on the page, and no cookie is set.
    sign_in(&b, &base, "tg_000000000000_0000000000000000000000000000000000000000000000000000000000000000").await;
    assert_eq!(b.text_of("#error").await, "that token is not valid (unknown, revoked or mistyped)");
    assert!(b.cookies().await.as_array().is_some_and(Vec::is_empty), "{}", b.cookies().await);
    b.screenshot(&shots, "02-sign-in-refused").await;

    // Vera, a viewer, signs in: an HTTP-only, SameSite=Strict cookie that is not her token.
    sign_in(&b, &base, &vera).await;
    assert_eq!(b.url().await, format!("{base}/"));
    assert_eq!(b.text_of("#whoami").await, "vera");
    let cookies = b.cookies().await;
    let c = &cookies[0];
    assert_eq!(
        (c["name"].as_str(), c["httpOnly"].as_bool(), c["sameSite"].as_str()),
        (Some("tollgate_session"), Some(true), Some("Strict")),
        "{cookies}"
    );
    assert!(!vera.contains(c["value"].as_str().unwrap_or("?")), "the cookie is not the token");

    // The matrix: every cell says what the API says.
    let all = decisions(&server, &vera).await;
    assert!(!all.is_empty());
    for (release, env, state, why) in &all {
        let css = cell(release, env);
        assert_eq!(&b.text_of(&format!("{css} .state")).await, state, "{release} -> {env}");
        if !why.is_empty() {
            let shown = b.text_of(&format!("{css} .why")).await;
            assert!(why.starts_with(shown.trim_end_matches('…')), "{release} -> {env}: `{shown}` is not the start of `{why}`");
        }
    }
    b.screenshot(&shots, "03-matrix").await;

    // Keyboard: Tab from the top reaches the skip link, then the navigation, in order.
    b.goto(&format!("{base}/")).await;
    b.tab().await;
    let first = b.active().await;
    assert_eq!(b.text(&first).await, "Skip to content");
    b.tab().await;
    assert_eq!(b.text(&b.active().await).await, "tollgate");
    b.tab().await;
    assert_eq!(b.text(&b.active().await).await, "Releases");
    b.tab().await;
    assert_eq!(b.text(&b.active().await).await, "Audit trail");

    // A viewer sees no approve button, and a forged POST is refused by the service (403).
    b.goto(&format!("{base}/releases/churn-v3/environments/staging")).await;
    assert!(b.try_find("#approve").await.is_none(), "a viewer has no approve button");
    let session = cookies[0]["value"].as_str().expect("session").to_owned();
    let csrf = b.attribute(&b.find("input[name=csrf]").await, "value").await.expect("csrf");
    let forged = raw_post(&server, APPROVE, &format!("csrf={csrf}"), Some(&session)).await;
    assert_eq!(forged.0, 403, "{}", forged.1);
    assert!(forged.1.contains("vera does not have the approver role"), "{}", forged.1);
    // Without the session's CSRF token, or without a session, nothing is done either.
    let no_csrf = raw_post(&server, APPROVE, "csrf=0123", Some(&session)).await;
    assert_eq!(no_csrf.0, 403);
    assert!(no_csrf.1.contains("the form&#x27;s CSRF token is missing or wrong"), "{}", no_csrf.1);
    let no_session = raw_post(&server, APPROVE, &format!("csrf={csrf}"), None).await;
    assert_eq!(no_session.0, 403);
    assert!(no_session.1.contains("sign in to approve"), "{}", no_session.1);
    b.screenshot(&shots, "04-decision-viewer").await;

    // Bob, an approver, signs in in a fresh browser session.
    b.clear_cookies().await;
    sign_in(&b, &base, &bob).await;
    assert_eq!(b.text_of("#whoami").await, "bob");
    b.goto(&format!("{base}/releases/churn-v3/environments/staging")).await;
    let before = b.text_of("#state").await;
    let digest = b.text_of("#digest").await;
    assert_eq!(digest.len(), 64);
    assert!(b.text_of("#approvals").await.contains("Approvals"));
    b.screenshot(&shots, "05-decision-before-approval").await;
    let approve = b.find("#approve").await;
    b.click_and_wait(&approve).await;
    // Back on the decision page: Bob's approval is listed, bound to the digest, and counted.
    assert_eq!(b.url().await, format!("{base}/releases/churn-v3/environments/staging"));
    let approvals = b.text_of("#approval-list").await;
    assert!(
        approvals.contains("bob") && approvals.contains("dashboard") && approvals.contains(&digest[..12]) && approvals.contains("counted"),
        "{approvals}"
    );
    let after = b.text_of("#state").await;
    b.screenshot(&shots, "06-decision-approved").await;
    // And in the audit trail, which verifies.
    b.goto(&format!("{base}/audit?q=approval")).await;
    assert!(b.text_of("#chain").await.starts_with("Chain verified"), "{}", b.text_of("#chain").await);
    let timeline = b.text_of("#timeline").await;
    assert!(timeline.contains("approval.recorded") && timeline.contains("release/churn-v3@staging"), "{timeline}");
    b.screenshot(&shots, "07-audit").await;
    let api = decisions(&server, &bob).await;
    let now = api.iter().find(|d| d.0 == "churn-v3" && d.1 == "staging").expect("decision");
    assert_eq!(now.2, after, "the page says what the API says (before: {before})");

    // Alice authored the release: her approval is refused, and the page says why.
    b.clear_cookies().await;
    sign_in(&b, &base, &alice).await;
    b.goto(&format!("{base}/releases/churn-v3/environments/staging")).await;
    let approve = b.find("#approve").await;
    b.click_and_wait(&approve).await;
    assert_eq!(b.text_of("h1").await, "Not allowed");
    assert_eq!(b.text_of("#message").await, "alice authored the change (separation of duties)");
    b.screenshot(&shots, "08-approval-refused").await;

    // A change in Git voids Bob's approval; the page says why it no longer counts.
    let path = server.repo.join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&path).expect("release");
    std::fs::write(&path, text.replacen("description:", "description: (edited)", 1)).expect("edit");
    git(&server.repo, &["commit", "-q", "-am", "churn-v3: edited"], CAROL);
    b.goto(&format!("{base}/releases/churn-v3/environments/staging")).await;
    let approvals = b.text_of("#approval-list").await;
    assert!(approvals.contains("approved other content") && approvals.contains("the release changed since"), "{approvals}");

    b.close().await;
    server.stop().await;
}

/// A POST written by hand (a forged form), with an optional cookie: status and body.
async fn raw_post(server: &Server, path: &str, body: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie.map(|c| format!("Cookie: tollgate_session={c}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{cookie}Connection: close\r\n\r\n",
        body.len()
    );
    super::raw(server, &request, body.as_bytes()).await
}

/// One request written by hand; the whole answer, head and body.
async fn raw_full(server: &Server, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_allow_no_script_no_framing_and_no_sniffing() {
    let server = Server::start(false).await;
    let answer = raw_full(&server, "GET /signin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let head = answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-security-policy: {}", tollgate_webhooks::dashboard::CSP.to_ascii_lowercase())), "{head}");
    assert!(
        !tollgate_webhooks::dashboard::CSP.contains("script-src") && tollgate_webhooks::dashboard::CSP.starts_with("default-src 'none'")
    );
    assert!(tollgate_webhooks::dashboard::CSP.contains("frame-ancestors 'none'"));
    for h in
        ["x-content-type-options: nosniff", "x-frame-options: deny", "cache-control: no-store", "content-type: text/html; charset=utf-8"]
    {
        assert!(head.contains(h), "{h}: {head}");
    }
    // Not signed in: a page is a redirect to sign in, never data.
    let answer = raw_full(&server, "GET /audit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 303") && answer.to_ascii_lowercase().contains("location: /signin"), "{answer}");
    // Signing in sets the cookie: HttpOnly, SameSite=Strict, Path=/, no Secure over plain HTTP.
    let vera = server.token("vera").await;
    let body = format!("token={vera}");
    let answer = raw_full(
        &server,
        &format!(
            "POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("set-cookie");
    assert!(cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800"), "{cookie}");
    assert!(!cookie.contains(&vera[16..]), "the cookie never holds the token");
    server.stop().await;
}
