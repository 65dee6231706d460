//! The dashboard at scale: `cargo bench -p tollgate-webhooks --bench dashboard`
//! (`TOLLGATE_BENCH_DOCS` documents, default 10,000: 5,998 releases on three environments,
//! 17,994 decisions; `TOLLGATE_BENCH_REQUESTS` per page, default 200).
//!
//! The generated config repo of the controller's benchmarks (`tollgate_test_support::generate`),
//! committed, served by `tollgate_webhooks::serve` on loopback (plain HTTP) with a SQLite store,
//! after the service's first prepare (as `tollgate serve` does at start). A signed-in person
//! asks for the matrix's first page, a filtered matrix, a later page and one decision's page,
//! one request at a time on a new connection each; time to first byte is from the request's
//! first byte written to the answer's first byte read. The service keeps decisions while the
//! commit, the store and the windows hold, and decides again only what a store change can move,
//! so the matrix is also asked for right after an approval is recorded. Beside them, in the same
//! run, an empty
//! axum handler on the same server stack: what the HTTP path alone costs. Prints p50/p99 of
//! time to first byte and each page's weight (the body's bytes).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

// The examples-based `common::service` is not used here.
#[allow(dead_code)]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tollgate_store::AuditLog;
use tollgate_webhooks::{AppState, Limits, Metrics};

async fn start(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(tollgate_webhooks::serve(listener, app, None, std::future::pending(), Duration::from_secs(1), Limits::default()));
    addr
}

/// One request on a new connection: time to first byte, the status and the whole answer.
async fn get(addr: &str, path: &str, cookie: &str) -> (Duration, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 1];
    s.read_exact(&mut first).await.unwrap();
    let ttfb = started.elapsed();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    let mut text = vec![first[0]];
    text.extend(rest);
    (ttfb, String::from_utf8_lossy(&text).into_owned())
}

/// The body's length of an answer (`Content-Length`, checked against what came).
fn weight(answer: &str) -> usize {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.len()
}

fn main() {
    let docs: usize = std::env::var("TOLLGATE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let n: usize = std::env::var("TOLLGATE_BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let files = tollgate_test_support::generate::generate(&root, docs);
        let who = ("bench", "bench@example.invalid");
        tollgate_test_support::git(&root, &["init", "-q", "-b", "main"], who);
        tollgate_test_support::git(&root, &["add", "-A"], who);
        tollgate_test_support::git(&root, &["commit", "-qm", "generated"], who);
        let (service, store) = common::service_over(root, dir.path()).await;
        let started = Instant::now();
        service.prepare().await.unwrap();
        let decisions = service.status(jiff::Timestamp::now(), None).await.unwrap().decisions.len();
        println!("{docs} documents in {} files, {decisions} decisions; first prepare {:.1} s", files.len(), started.elapsed().as_secs_f64());
        let token = tollgate_controller::service::create_token(&AuditLog::new(store.clone()), "bob", "bench").await.unwrap().token;
        let state = Arc::new(AppState {
            service,
            metrics: Metrics::new(),
            reconcile: None,
            github: None,
            admission: false,
            dashboard: tollgate_webhooks::dashboard::DashboardState::new(false),
        });
        let ours = start(tollgate_webhooks::router(state.clone())).await;
        let empty = start(axum::Router::new().route("/", axum::routing::get(|| async { "" }))).await;

        // Sign in as a person does: the form posts the token, the answer sets the cookie.
        let mut s = tokio::net::TcpStream::connect(&ours).await.unwrap();
        let body = format!("token={token}");
        let head = format!(
            "POST /signin HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(format!("{head}{body}").as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        let cookie = answer
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();

        let pages = [
            ("matrix, first page", "/".to_owned()),
            ("matrix, page 30", "/?page=30".to_owned()),
            ("matrix, filtered (q=r0012)", "/?q=r0012".to_owned()),
            ("matrix, Blocked only", "/?state=Blocked".to_owned()),
            ("one decision", "/releases/r00042/environments/staging".to_owned()),
        ];
        for (name, path) in &pages {
            let (_, warm) = get(&ours, path, &cookie).await;
            let bytes = weight(&warm);
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(get(&ours, path, &cookie).await.0);
            }
            common::summary(name, 28, &format!("requests, {:.1} KB", bytes as f64 / 1000.0), v);
        }
        // The first page after the store moved: an approval of r00042 into staging recorded (or
        // revoked) before each request, so that decision is made again.
        let mut v = Vec::with_capacity(n / 4);
        for i in 0..(n / 4).max(1) {
            if i % 2 == 0 {
                state.service.approve("bob", "r00042", "staging", None, tollgate_controller::service::Via::Api).await.unwrap();
            } else {
                state.service.revoke("bob", "r00042", "staging", None).await.unwrap();
            }
            v.push(get(&ours, "/", &cookie).await.0);
        }
        common::summary("matrix, after an approval", 28, "requests", v);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(get(&empty, "/", "").await.0);
        }
        common::summary("empty axum handler", 28, "requests", v);
    });
}
