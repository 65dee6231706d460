//! How long GitHub waits for `POST /webhooks/github` to answer, against an empty handler on the
//! same server stack, in the same run: `cargo bench -p tollgate-webhooks --bench github_ack`.
//!
//! Both servers are `tollgate_webhooks::serve` on loopback (plain HTTP/1.1, keep-alive), each
//! asked by one client in turn, in alternating rounds. tollgate's route does everything it does
//! for GitHub: checks the size and the content type, verifies the HMAC over a real
//! `pull_request` delivery (about 20 KB), and stores the delivery durably in a SQLite inbox
//! (a new delivery id every time) before the 202. The empty handler reads the same body and
//! answers 202. Printed: p50, p99 and mean per side, and the ratios.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_github_double::webhook::{PrFacts, pull_request_event, sign};
use tollgate_webhooks::{AppState, Limits, Metrics};

const SECRET: &[u8] = b"bench-secret";
const ROUNDS: usize = 6;
const PER_ROUND: usize = 500;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn start(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tollgate_webhooks::serve(listener, app, None, std::future::pending(), Duration::from_secs(1), Limits::default()));
    format!("http://{addr}/webhooks/github")
}

async fn post(client: &Http, url: &str, id: &str, body: &Bytes, signature: &str) -> Duration {
    let request = Request::post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", signature)
        .body(Full::new(body.clone()))
        .unwrap();
    let start = Instant::now();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await.unwrap();
    let took = start.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED);
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let (service, store) = common::service(tmp.path(), |_| {}).await;
        let github = Some(tollgate_webhooks::github::GitHubHook {
            secrets: tollgate_github::webhook::Secrets::new(SECRET, None).unwrap(),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        let state = Arc::new(AppState {
            service,
            metrics: Metrics::new(),
            reconcile: None,
            github,
            admission: false,
            dashboard: tollgate_webhooks::dashboard::DashboardState::new(false),
        });
        let tollgate = start(tollgate_webhooks::router(state)).await;
        let empty = start(axum::Router::new().route(
            "/webhooks/github",
            axum::routing::post(|body: Bytes| async move {
                std::hint::black_box(body);
                StatusCode::ACCEPTED
            }),
        ))
        .await;

        let facts = PrFacts {
            owner: "acme".into(),
            repo: "ml-config".into(),
            number: 7,
            head_ref: "feature".into(),
            head_sha: "a".repeat(40),
            base_ref: "main".into(),
            base_sha: "b".repeat(40),
            author: "dave".into(),
            merged: false,
            installation_id: 1,
        };
        let body = Bytes::from(serde_json::to_vec(&pull_request_event("synchronize", &facts)).unwrap());
        let signature = sign(SECRET, &body);
        let client: Http = Client::builder(TokioExecutor::new()).build_http();
        println!("delivery body: {} bytes; {ROUNDS} alternating rounds of {PER_ROUND} requests per side", body.len());

        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut n = 0u64;
        for round in 0..=ROUNDS {
            for _ in 0..PER_ROUND {
                n += 1;
                let id = format!("bench-{n:012}");
                let a = post(&client, &tollgate, &id, &body, &signature).await;
                let b = post(&client, &empty, &id, &body, &signature).await;
                // Round 0 warms connections, caches and the database.
                if round > 0 {
                    ours.push(a);
                    theirs.push(b);
                }
            }
        }
        let (p50, p99) = common::summary("tollgate POST /webhooks/github", 34, "requests", ours);
        let (e50, e99) = common::summary("empty axum handler, same stack", 34, "requests", theirs);
        println!("ratio: p50 {:.1}x, p99 {:.1}x the empty handler", p50 / e50, p99 / e99);
        let queued = store.inbox_counts().await.unwrap().queued;
        println!("inbox: {queued} deliveries stored");
    });
}
