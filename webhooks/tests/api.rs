//! The API over real loopback HTTP and TLS: a committed copy of `examples/`, a SQLite store, API
//! tokens in it, the server on an ephemeral port and the crate's own client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_controller::git::{FetchTrigger, Fetcher, Wake};
use tollgate_controller::reconcile::{GateSettings, Options};
use tollgate_controller::service::Service;
use tollgate_store::AuditLog;
use tollgate_store::Store;
use tollgate_test_support::{CAROL, commit_examples, git};
use tollgate_webhooks::client::{Answer, Client};
use tollgate_webhooks::{AppState, Metrics};

/// A token for `user`, made as `tollgate token create` makes it.
async fn token(store: &Store, user: &str) -> String {
    tollgate_controller::service::create_token(&AuditLog::new(store.clone()), user, "test").await.expect("token").token
}

/// What a server serves, without the server: `examples/` committed by Alice, with a viewer
/// (`vera`) added, and a SQLite store.
struct App {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    store: Store,
    state: Arc<AppState>,
}

impl App {
    async fn new(reconcile: Option<FetchTrigger>) -> App {
        App::new_with(reconcile, None).await
    }

    /// As [`App::new`], taking GitHub's deliveries signed with one of `secrets` (current, previous).
    async fn new_with(reconcile: Option<FetchTrigger>, secrets: Option<(&[u8], Option<&[u8]>)>) -> App {
        App::build(reconcile, secrets, Metrics::new()).await
    }

    /// As [`App::new_with`], counting into `metrics`.
    async fn build(reconcile: Option<FetchTrigger>, secrets: Option<(&[u8], Option<&[u8]>)>, metrics: Metrics) -> App {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("config");
        commit_examples(&repo, |dir| {
            let config = dir.join("tollgate.yaml");
            let text = std::fs::read_to_string(&config).expect("tollgate.yaml");
            let users = "  users:\n";
            assert!(text.contains(users));
            let vera = "  users:\n    - name: vera\n      email: vera@acme.example\n      roles: [viewer]\n";
            std::fs::write(&config, text.replacen(users, vera, 1)).expect("write");
        });

        let url = format!("sqlite://{}", tmp.path().join("tollgate.db").display());
        let store = Store::open(&url).await.expect("store");
        let opts = Options {
            repo: repo.clone(),
            rev: "HEAD".into(),
            now: jiff::Timestamp::now(),
            release: None,
            gates: GateSettings {
                cache_dir: Some(tmp.path().join("gates")),
                device: tollgate_controller::reconcile::Device::Cpu,
                kubernetes: None,
            },
            bot: ("tollgate".into(), "bot@acme.example".into()),
            jobs: 1,
        };
        let service = Service::new(AuditLog::new(store.clone()), opts, None, Duration::ZERO);
        // As `tollgate serve` does at start, so that the server is ready.
        service.prepare().await.expect("prepare");
        let github = secrets.map(|(current, previous)| tollgate_webhooks::github::GitHubHook {
            secrets: tollgate_github::webhook::Secrets::new(current, previous).expect("secrets"),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        let state = Arc::new(AppState {
            service,
            metrics,
            reconcile,
            github,
            admission: true,
            dashboard: tollgate_webhooks::dashboard::DashboardState::new(false),
        });
        App { tmp, repo, store, state }
    }

    /// A token for `user`, made as `tollgate token create` makes it.
    async fn token(&self, user: &str) -> String {
        token(&self.store, user).await
    }
}

/// A running server and what the tests need to talk to it.
struct Server {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    base: String,
    ca: Option<PathBuf>,
    store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// `examples/` committed by Alice, with a viewer (`vera`) added, served over TLS or not.
    async fn start(tls: bool) -> Server {
        Server::start_with(tls, None).await
    }

    /// As [`Server::start`], with a reconcile loop's trigger.
    async fn start_with(tls: bool, reconcile: Option<FetchTrigger>) -> Server {
        Server::start_limited(tls, reconcile, tollgate_webhooks::Limits::default()).await
    }

    /// As [`Server::start_with`], held to `limits`.
    async fn start_limited(tls: bool, reconcile: Option<FetchTrigger>, limits: tollgate_webhooks::Limits) -> Server {
        Server::serve(App::new(reconcile).await, tls, limits).await
    }

    async fn serve(app: App, tls: bool, limits: tollgate_webhooks::Limits) -> Server {
        let App { tmp, repo, store, state } = app;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (config, ca) = if tls {
            let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).expect("cert");
            let (cert, pkey, ca) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"), tmp.path().join("ca.pem"));
            std::fs::write(&cert, key.cert.pem()).expect("write");
            std::fs::write(&ca, key.cert.pem()).expect("write");
            std::fs::write(&pkey, key.signing_key.serialize_pem()).expect("write");
            (Some(tollgate_webhooks::tls::server_config(&cert, &pkey).expect("tls config")), Some(ca))
        } else {
            (None, None)
        };
        let base = format!("{}://{addr}", if tls { "https" } else { "http" });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let app = tollgate_webhooks::router(state);
        let task = tokio::spawn(tollgate_webhooks::serve(
            listener,
            app,
            config,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
            limits,
        ));
        Server { _tmp: tmp, repo, base, ca, store, stop: Some(stop), task }
    }

    /// A token for `user`, made as `tollgate token create` makes it.
    async fn token(&self, user: &str) -> String {
        token(&self.store, user).await
    }

    fn client(&self, token: &str) -> Client {
        Client::new(&self.base, token, self.ca.as_deref()).expect("client")
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.expect("server task").expect("server");
    }
}

fn message(a: &Answer) -> String {
    a.error().map(|(m, h)| format!("{m} (hint: {})", h.unwrap_or_default())).unwrap_or_else(|| a.body.to_string())
}

const EXPLAIN: &str = "releases/churn-v3/environments/staging";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_over_tls_bind_to_content_and_people() {
    let server = Server::start(true).await;
    let (alice, bob, carol, vera, mallory) = (
        server.token("alice").await,
        server.token("bob").await,
        server.token("carol").await,
        server.token("vera").await,
        server.token("mallory").await,
    );

    // Health and readiness need no token; readiness names the commit it read.
    let anon = server.client("none");
    let ready = anon.get("/readyz").await.expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["commit"].as_str().map(str::len), Some(40));

    // Without a token, with a malformed one, a forged one or one of nobody in tollgate.yaml.
    let a = anon.get("status").await.expect("status");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{}", a.body);
    let forged = format!("{}{}", &bob[..bob.len() - 1], if bob.ends_with('0') { '1' } else { '0' });
    let a = server.client(&forged).get("status").await.expect("status");
    assert_eq!(a.status, 401);
    assert!(!a.body.to_string().contains(&bob[16..]), "errors never echo a token");
    let a = server.client(&mallory).get("status").await.expect("status");
    assert_eq!(a.status, 403, "a token of someone not in tollgate.yaml reads nothing: {}", a.body);

    // A viewer reads decisions and explanations but may not approve.
    let v = server.client(&vera);
    let who = v.get("whoami").await.expect("whoami");
    assert_eq!((who.status, who.body["roles"].clone()), (200, serde_json::json!(["viewer"])));
    let status = v.get("status").await.expect("status");
    assert_eq!(status.status, 200);
    assert!(status.body["decisions"].as_array().is_some_and(|d| d.iter().any(|d| d["release"] == "churn-v3")), "{}", status.body);
    let explain = v.get(EXPLAIN).await.expect("explain");
    assert_eq!(explain.status, 200, "{}", explain.body);
    let digest = explain.body["decision"]["inputs"]["contentDigest"].as_str().expect("digest").to_owned();
    let a = v.approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("refused")), "{}", a.body);
    assert!(message(&a).contains("does not have the approver role"), "{}", message(&a));

    // Alice authored the release: separation of duties. Carol is not an ML lead.
    let a = server.client(&alice).approve("churn-v3", "staging", Some(&digest)).await.expect("approve");
    assert_eq!(a.status, 403);
    assert!(message(&a).contains("alice authored the change"), "{}", message(&a));
    let a = server.client(&carol).approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!(a.status, 403);
    assert!(message(&a).contains("none of the groups ml-leads"), "{}", message(&a));

    // Bob approves what he reviewed: a digest that is not the release's is a conflict.
    let b = server.client(&bob);
    let a = b.approve("churn-v3", "staging", Some(&"0".repeat(64))).await.expect("approve");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("content_changed")), "{}", a.body);
    let a = b.approve("churn-v3", "staging", Some(&digest)).await.expect("approve");
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["recorded"], true);
    assert_eq!(a.body["approval"]["via"], "api");
    assert_eq!(a.body["approval"]["contentDigest"], digest.as_str());
    assert_eq!(a.body["status"]["satisfied"], true, "staging needs one ML lead: {}", a.body);
    let seq = a.body["approval"]["seq"].as_u64().expect("seq");
    // Twice is once.
    let again = b.approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!(
        (again.status, again.body["recorded"].clone(), again.body["approval"]["seq"].as_u64()),
        (200, Value::Bool(false), Some(seq))
    );
    let list = v.get(&tollgate_webhooks::client::approvals_path("churn-v3", "staging", None)).await.expect("list");
    assert_eq!(list.body["status"]["counted"].as_array().map(Vec::len), Some(1), "{}", list.body);
    let explain = v.get(EXPLAIN).await.expect("explain");
    let counted = &explain.body["decision"]["inputs"]["approvals"]["counted"];
    assert_eq!(counted[0]["user"], "bob", "{}", explain.body);

    // A change to the release in Git voids it.
    let path = server.repo.join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&path).expect("release");
    std::fs::write(&path, text.replacen("description:", "description: (edited)", 1)).expect("edit");
    git(&server.repo, &["commit", "-q", "-am", "churn-v3: edited"], CAROL);
    let list = v.get(&tollgate_webhooks::client::approvals_path("churn-v3", "staging", None)).await.expect("list");
    assert_ne!(list.body["contentDigest"], digest.as_str(), "{}", list.body);
    assert_eq!(list.body["status"]["satisfied"], false, "{}", list.body);
    assert_eq!(list.body["status"]["ignored"][0][1]["reason"], "voided", "{}", list.body);
    // The old digest is now a conflict. Carol's commit on top does not make the change hers
    // alone (issue #12 item 4): Alice still authored it and is still refused; Bob approves.
    let a = b.approve("churn-v3", "staging", Some(&digest)).await.expect("approve");
    assert_eq!(a.status, 409);
    let a = server.client(&alice).approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(message(&a).contains("alice authored the change"), "{}", message(&a));
    let a = b.approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!(a.status, 201, "{}", a.body);

    // Only an admin revokes someone else's approval (Carol may not); Bob, an admin, revokes his.
    let a = server.client(&carol).revoke("churn-v3", "staging", Some("bob")).await.expect("revoke");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("forbidden")), "{}", a.body);
    let a = b.revoke("churn-v3", "staging", Some("bob")).await.expect("revoke");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["revoked"][0]["user"], "bob");
    // His approval of the earlier content, voided by the change, is withdrawn with it.
    assert_eq!(a.body["revoked"].as_array().map(Vec::len), Some(2), "{}", a.body);
    assert_eq!(a.body["status"]["counted"].as_array().map(Vec::len), Some(0));

    // Every approval and revocation is in the audit chain, which verifies.
    let report = tollgate_store::verify_store(&server.store, &[], &Default::default()).await.expect("verify");
    assert!(report.problem.is_none() && report.events == 5 + 4, "five tokens, Bob's two approvals, both revoked: {report:?}");

    // Metrics count by route pattern, never by release.
    let (code, text) = anon.get_text("/metrics").await.expect("metrics");
    assert_eq!(code, 200);
    assert!(text.contains(r#"tollgate_api_approvals_total{outcome="recorded"} 2"#), "{text}");
    assert!(text.contains(r#"tollgate_api_approvals_total{outcome="refused"} 4"#), "{text}");
    assert!(text.contains(r#"tollgate_api_auth_failures_total{reason="invalid"} 2"#), "{text}");
    assert!(text.contains(r#"route="/api/v1/releases/{release}/environments/{env}/approvals""#), "{text}");
    assert!(!text.contains("churn-v3"), "{text}");
    server.stop().await;
}

/// One HTTP/1.1 request written by hand (for bodies the client would never send): status and body.
async fn raw(server: &Server, request: &str, body: &[u8]) -> (u16, String) {
    raw_with(server, request, body, false).await
}

/// As [`raw`]; `eof` closes the sending side after the request, so a request cut short ends
/// instead of waiting for the rest.
async fn raw_with(server: &Server, request: &str, body: &[u8], eof: bool) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    // The server may answer (413) before the whole body is sent, and close.
    let _ = s.write_all(body).await;
    if eof {
        let _ = s.shutdown().await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let server = Server::start(false).await;
    let bob = server.token("bob").await;
    let b = server.client(&bob);

    let (code, text) = b.get_text("/healthz").await.expect("healthz");
    assert_eq!((code, text.as_str()), (200, "ok\n"));
    let a = b.get("status?at=yesterday-ish").await.expect("status");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("bad_request")), "{}", a.body);
    assert!(a.body["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{}", a.body);
    // `at` works: a Monday morning in Berlin, when prod's window is closed.
    let a = b.get("releases/churn-v3/environments/staging?at=2026-12-07T10:00:00Z").await.expect("explain");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["decision"]["inputs"]["now"], "2026-12-07T10:00:00Z");
    let a = b.get("releases/no-such/environments/staging").await.expect("explain");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (404, Some("no_such_release")), "{}", a.body);
    let a = b.approve("churn-v3", "moon", None).await.expect("approve");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (404, Some("not_on_path")), "{}", a.body);
    assert!(a.body["error"]["hint"].as_str().is_some_and(|h| h.contains("dev -> staging")), "{}", a.body);
    let a = b.revoke("churn-v3", "staging", None).await.expect("revoke");
    assert_eq!((a.status, a.body["revoked"].as_array().map(Vec::len)), (200, Some(0)), "nothing to revoke is not an error: {}", a.body);

    // Bodies: not JSON, unknown fields, too large. Nothing is recorded.
    let path = "/api/v1/releases/churn-v3/environments/staging/approvals";
    let req = |len: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
        )
    };
    let (code, body) = raw(&server, &req(9), b"{not json").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("bad_request") && body.contains("contentDigest"), "{body}");
    let wrong = br#"{"digest": "abc"}"#;
    let (code, body) = raw(&server, &req(wrong.len()), wrong).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown field"), "{body}");
    let big = vec![b' '; tollgate_webhooks::MAX_BODY + 1];
    let (code, _) = raw(&server, &req(big.len()), &big).await;
    assert_eq!(code, 413);
    // Unknown routes are 404; a GET where only POST/DELETE/GET are allowed is 405.
    let (code, _) = raw(&server, "PUT /api/v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", b"").await;
    assert_eq!(code, 405);
    let (code, _) = raw(&server, "GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", b"").await;
    assert_eq!(code, 404);
    let report = tollgate_store::verify_store(&server.store, &[], &Default::default()).await.expect("verify");
    assert_eq!(report.events, 1, "bad requests record nothing (the one event is the token): {report:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refuses_plain_http_and_untrusted_clients_refuse_the_server() {
    let server = Server::start(true).await;
    let bob = server.token("bob").await;
    // A client that does not trust the server's CA (the Web PKI roots) fails the handshake.
    let untrusted = Client::new(&server.base, &bob, None).expect("client");
    assert!(matches!(untrusted.get("whoami").await, Err(tollgate_webhooks::client::ClientError::Request { .. })));
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = Client::new(&server.base.replace("https://", "http://"), &bob, None).expect("client");
    assert!(plain.get("whoami").await.is_err());
    // The trusted client works.
    let who = server.client(&bob).get("whoami").await.expect("whoami");
    assert_eq!((who.status, who.body["user"].as_str()), (200, Some("bob")), "{}", who.body);
    server.stop().await;
}

/// Mutated requests (a deterministic generator: bytes flipped, cut, inserted, in the request
/// line, headers, token and body) never make the server answer 5xx or stop answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mangled_requests_never_crash_the_server() {
    let server = Server::start(false).await;
    let bob = server.token("bob").await;
    let body = br#"{"contentDigest": "0000000000000000000000000000000000000000000000000000000000000000"}"#;
    let seeds = [
        format!(
            "GET /api/v1/status?at=2026-12-01T10:00:00Z HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\nconnection: close\r\n\r\n"
        ),
        format!(
            "POST /api/v1/releases/churn-v3/environments/staging/approvals HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        ),
        format!(
            "DELETE /api/v1/releases/churn-v3/environments/staging/approvals?user=bob HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\nconnection: close\r\n\r\n"
        ),
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut answered = 0;
    for round in 0..240 {
        let mut bytes = seeds[round % seeds.len()].clone().into_bytes();
        for _ in 0..=(next() % 4) {
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] = (next() % 256) as u8,
                1 => bytes.truncate(at.max(1)),
                2 => bytes.insert(at, [b'%', b'\0', b'{', b'/', b'\xff', b' '][(next() % 6) as usize]),
                _ => bytes[at] = b'\r',
            }
        }
        let (code, text) = raw_with(&server, &String::from_utf8_lossy(&bytes), b"", true).await;
        assert!(code < 500, "a mangled request got {code}: {:?} -> {text}", String::from_utf8_lossy(&bytes));
        if code > 0 {
            answered += 1;
        }
    }
    assert!(answered > 100, "most mangled requests still get an HTTP answer ({answered})");
    let who = server.client(&bob).get("whoami").await.expect("whoami");
    assert_eq!(who.status, 200, "the server still answers");
    let report = tollgate_store::verify_store(&server.store, &[], &Default::default()).await.expect("verify");
    assert!(report.problem.is_none(), "{report:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_is_requested_only_where_the_server_reconciles() {
    let server = Server::start(false).await;
    let vera = server.token("vera").await;
    let a = server.client(&vera).post("reconcile").await.expect("reconcile");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("not_reconciling")), "{}", a.body);
    server.stop().await;

    // Where it does, the call and every recorded approval wake the loop.
    let mut fetcher = Fetcher::new(Duration::from_secs(3600));
    assert_eq!(fetcher.wait().await, Wake::Interval, "the first pass is due at once");
    let server = Server::start_with(false, Some(fetcher.trigger())).await;
    let (vera, bob) = (server.token("vera").await, server.token("bob").await);
    let a = server.client(&vera).post("reconcile").await.expect("reconcile");
    assert_eq!((a.status, a.body["requested"].as_bool()), (202, Some(true)), "{}", a.body);
    let why = tokio::time::timeout(Duration::from_secs(5), fetcher.wait()).await.expect("woken");
    assert_eq!(why, Wake::Requested);
    let a = server.client(&bob).approve("churn-v3", "staging", None).await.expect("approve");
    assert_eq!(a.status, 201, "{}", a.body);
    let why = tokio::time::timeout(Duration::from_secs(5), fetcher.wait()).await.expect("woken");
    assert_eq!(why, Wake::Requested);
    // Unauthenticated callers cannot ask for passes.
    let a = server.client("tg_x").post("reconcile").await.expect("reconcile");
    assert_eq!(a.status, 401);
    server.stop().await;
}

/// Regression (issue #11): a body that is not JSON was read as no body, so the stale digest it
/// carried was dropped and the approval recorded for what is there now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_bodies_that_are_not_json_are_refused_over_http() {
    let server = Server::start(false).await;
    let bob = server.token("bob").await;
    let path = "/api/v1/releases/churn-v3/environments/staging/approvals";
    let stale = format!(r#"{{"contentDigest": "{}"}}"#, "0".repeat(64));
    let form = format!("contentDigest={}", "0".repeat(64));
    for (content_type, body) in [
        ("content-type: text/plain\r\n", stale.as_str()),
        ("content-type: application/x-www-form-urlencoded\r\n", form.as_str()),
        ("", stale.as_str()),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let (code, answer) = raw(&server, &request, body.as_bytes()).await;
        assert_eq!(code, 415, "{content_type:?}: {answer}");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(answer["error"]["code"], "unsupported_media_type", "{answer}");
        assert!(answer["error"]["hint"].as_str().is_some_and(|h| h.contains("application/json")), "{answer}");
    }
    let report = tollgate_store::verify_store(&server.store, &[], &Default::default()).await.expect("verify");
    assert_eq!(report.events, 1, "nothing is recorded (the one event is the token): {report:?}");
    // No body at all still approves what is there now.
    let request =
        format!("POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {bob}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let (code, answer) = raw(&server, &request, b"").await;
    assert_eq!(code, 201, "{answer}");
    server.stop().await;
}

/// The same through the router alone (`oneshot`, no socket): every content type but JSON is
/// 415 and records nothing; JSON with a stale digest is the 409 it always was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_bodies_that_are_not_json_are_refused_by_the_router() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    let app = App::new(None).await;
    let bob = app.token("bob").await;
    let router = tollgate_webhooks::router(Arc::clone(&app.state));
    let stale = format!(r#"{{"contentDigest": "{}"}}"#, "0".repeat(64));
    let call = |content_type: Option<&'static str>| {
        let mut request = Request::post("/api/v1/releases/churn-v3/environments/staging/approvals")
            .header(header::AUTHORIZATION, format!("Bearer {bob}"));
        if let Some(t) = content_type {
            request = request.header(header::CONTENT_TYPE, t);
        }
        router.clone().oneshot(request.body(Body::from(stale.clone())).expect("request"))
    };
    for content_type in [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let response = call(content_type).await.expect("response");
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
    }
    for json in ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"] {
        let response = call(Some(json)).await.expect("response");
        assert_eq!(response.status(), StatusCode::CONFLICT, "{json}: the stale digest is read");
    }
    let report = tollgate_store::verify_store(&app.store, &[], &Default::default()).await.expect("verify");
    assert_eq!(report.events, 1, "nothing is recorded (the one event is the token): {report:?}");
}

/// Regression (issue #11): `/readyz` prepared the current commit (gates included) under the
/// service's lock. It reports the last prepare and prepares nothing: a commit nobody has read
/// yet is not what it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_the_last_prepare_and_prepares_nothing() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let app = App::new(None).await;
    let router = tollgate_webhooks::router(Arc::clone(&app.state));
    let readyz = || {
        let call = router.clone().oneshot(Request::get("/readyz").body(Body::empty()).expect("request"));
        async move {
            let response = call.await.expect("response");
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
            (status, serde_json::from_slice::<Value>(&body).expect("json"))
        }
    };
    let (code, body) = readyz().await;
    assert_eq!(code, 200, "{body}");
    let prepared = body["commit"].as_str().expect("commit").to_owned();

    let path = app.repo.join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&path).expect("release");
    std::fs::write(&path, text.replacen("replicas: 1", "replicas: 2", 1)).expect("edit");
    git(&app.repo, &["commit", "-q", "-am", "churn-v3: two replicas"], CAROL);
    let (code, body) = readyz().await;
    assert_eq!((code, body["commit"].as_str()), (200, Some(prepared.as_str())), "{body}");

    // What prepares (a read, or the server's periodic prepare) moves it on.
    let now = app.state.service.prepare().await.expect("prepare");
    assert_ne!(now, prepared);
    let (code, body) = readyz().await;
    assert_eq!((code, body["commit"].as_str()), (200, Some(now.as_str())), "{body}");
}

/// Every error of the API's table (docs/api.md, "Errors") through the router alone (`oneshot`,
/// as axum's testing example does): the status, the `code`, and a hint wherever the caller can
/// do something about it. The real-server tests above cover the same over sockets and TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_maps_to_its_status_and_code() {
    use axum::body::Body;
    use axum::http::{Request, header};
    use tower::ServiceExt as _;

    let app = App::new(None).await;
    let (bob, vera) = (app.token("bob").await, app.token("vera").await);
    let router = tollgate_webhooks::router(Arc::clone(&app.state));
    let approvals = "/api/v1/releases/churn-v3/environments/staging/approvals";
    let stale = format!(r#"{{"contentDigest": "{}"}}"#, "0".repeat(64));
    let huge = format!(r#"{{"contentDigest": "{}"}}"#, "0".repeat(70 * 1024));
    let call = |method: &str, uri: &str, token: Option<&str>, content_type: Option<&str>, body: &str| {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(t) = content_type {
            request = request.header(header::CONTENT_TYPE, t);
        }
        let request = request.body(Body::from(body.to_owned())).expect("request");
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.expect("response");
            let status = response.status().as_u16();
            let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().expect("ascii").to_owned());
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (status, json, challenge)
        }
    };
    let json = Some("application/json");
    let unknown_query = format!("{approvals}?who=carol");
    let someone_elses = format!("{approvals}?user=carol");
    // Method, path, token, content type, body; the status and code expected.
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str, u16, &'a str);
    let rows: Vec<Row> = vec![
        ("GET", "/api/v1/whoami", None, None, "", 401, "unauthenticated"),
        ("GET", "/api/v1/whoami", Some("tg_000000000000_nope"), None, "", 401, "unauthenticated"),
        ("GET", "/api/v1/status?at=yesterday-ish", Some(&bob), None, "", 400, "bad_request"),
        ("DELETE", &unknown_query, Some(&bob), None, "", 400, "bad_request"),
        ("POST", approvals, Some(&bob), json, r#"{"digest": "x"}"#, 400, "bad_request"),
        ("POST", approvals, Some(&bob), json, "{", 400, "bad_request"),
        ("POST", approvals, Some(&vera), None, "", 403, "refused"),
        ("DELETE", &someone_elses, Some(&vera), None, "", 403, "forbidden"),
        ("GET", "/api/v1/releases/nope/environments/staging", Some(&bob), None, "", 404, "no_such_release"),
        ("GET", "/api/v1/releases/churn-v3/environments/moon", Some(&bob), None, "", 404, "not_on_path"),
        ("POST", approvals, Some(&bob), json, &stale, 409, "content_changed"),
        ("POST", "/api/v1/reconcile", Some(&bob), None, "", 409, "not_reconciling"),
        ("POST", approvals, Some(&bob), json, &huge, 413, "too_large"),
        ("POST", approvals, Some(&bob), Some("text/plain"), &stale, 415, "unsupported_media_type"),
    ];
    for (method, uri, token, content_type, body, status, code) in rows {
        let (got, answer, challenge) = call(method, uri, token, content_type, body).await;
        let row = format!("{method} {uri} {content_type:?}: {answer}");
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{row}");
        assert_eq!(answer["error"]["status"], status, "{row}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty() && !m.contains("hint:")), "{row}");
        // A 401 says how to authenticate, as RFC 9110 asks.
        assert_eq!(challenge.as_deref(), (status == 401).then_some("Bearer realm=\"tollgate\""), "{row}");
        if [401, 403, 404, 409, 413, 415].contains(&status) {
            assert!(answer["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "a hint: {row}");
        }
    }
    // Regression (issue #12): a malformed token got another message than a well-formed unknown
    // one; the docs promise one indistinguishable 401.
    let unknown = format!("tg_{}_{}", "0".repeat(12), "0".repeat(64));
    let revoked_like = call("GET", "/api/v1/whoami", Some(&unknown), None, "").await;
    for malformed in ["tg_000000000000_nope", "nope", "tg_", &format!("{bob}x")] {
        let answer = call("GET", "/api/v1/whoami", Some(malformed), None, "").await;
        assert_eq!((answer.0, &answer.1), (revoked_like.0, &revoked_like.1), "{malformed}");
    }
    assert_eq!(revoked_like.1["error"]["message"], "invalid or revoked api token");
    let report = tollgate_store::verify_store(&app.store, &[], &Default::default()).await.expect("verify");
    assert_eq!(report.events, 2, "no error recorded anything (the two events are the tokens): {report:?}");

    // The config repo gone: reads are 503 with the cause, and readiness says so.
    std::fs::remove_dir_all(&app.repo).expect("remove the repo");
    let (got, answer, _) = call("GET", "/api/v1/status", Some(&bob), None, "").await;
    assert_eq!((got, answer["error"]["code"].as_str()), (503, Some("unavailable")), "{answer}");
    let (got, _, _) = call("GET", "/readyz", None, None, "").await;
    assert_eq!(got, 503);
}

/// Regression (issue #12): plain HTTP had no header-read or idle timeout (50 half-sent requests
/// exhausted a small process's descriptors), no connection limit, accepted request heads of any
/// size, and made a Prometheus label of any method name. Plain and TLS listeners now share one
/// accept loop held to `Limits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_is_held_to_its_limits() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let limits = tollgate_webhooks::Limits {
        header_read_timeout: Duration::from_millis(500),
        tls_handshake_timeout: Duration::from_millis(500),
        max_connections: 2,
        max_head_bytes: 8192,
    };
    let server = Server::start_limited(false, None, limits).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let closed_within = |mut s: tokio::net::TcpStream, d: Duration| async move {
        let mut buf = Vec::new();
        matches!(tokio::time::timeout(d, s.read_to_end(&mut buf)).await, Ok(Ok(_)))
    };

    // Half-sent headers, and a connection that never sends a byte: both cut off.
    let mut half = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.expect("write");
    let idle = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (a, b) = tokio::join!(closed_within(half, Duration::from_secs(5)), closed_within(idle, Duration::from_secs(5)));
    assert!(a && b, "slow clients are cut off: half-sent {a}, idle {b}");

    // Two connections held open: a third is not served until one of them ends.
    let first = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let second = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let addr = addr.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.expect("write");
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.expect("read");
            String::from_utf8_lossy(&out).into_owned()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a third connection was served beyond the limit of two");
    drop((first, second));
    // (That it waited is the `is_finished` check above, not a measured time.)
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("served once a slot frees").expect("task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A request head beyond the limit is refused, not read on.
    let huge = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n", "a".repeat(20_000));
    let (status, _) = raw(&server, &huge, b"").await;
    assert_eq!(status, 431, "request header fields too large");

    // Made-up methods share one label.
    for method in ["FOO", "BAR", "BAZ"] {
        let (status, _) = raw(&server, &format!("{method} /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"), b"").await;
        assert_eq!(status, 405, "{method}");
    }
    let (_, metrics) = raw(&server, "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", b"").await;
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(!metrics.contains("FOO") && !metrics.contains("BAZ"), "{metrics}");
    server.stop().await;
}

// The crate root's modules live next to it; this one is kept out of `tests/`, where it would be
// a test binary of its own.
#[path = "api/dashboard.rs"]
mod dashboard;
#[path = "api/tls_reload.rs"]
mod tls_reload;
#[path = "api/webdriver.rs"]
mod webdriver;

mod github {
    use super::*;
    use tollgate_github_double::webhook::{Delivery, deliver, deliver_with_signature, ping_event};

    async fn send(url: &str, secret: &'static [u8], d: &Delivery) -> u16 {
        let (url, d) = (url.to_owned(), Delivery { event: d.event.clone(), id: d.id.clone(), body: d.body.clone() });
        tokio::task::spawn_blocking(move || deliver(&url, secret, &d)).await.unwrap().unwrap().0
    }

    /// One raw HTTP/1.1 request; the answer's status.
    async fn raw(base: &str, head: &str, body: &[u8]) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let _ = s.write_all(body).await;
        let mut answer = vec![0; 64];
        let n = s.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n]).split(' ').nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_are_verified_before_anything_then_queued_once() {
        let app = App::new_with(None, Some((b"new-secret", Some(b"old-secret")))).await;
        let server = Server::serve(app, false, tollgate_webhooks::Limits::default()).await;
        let url = format!("{}/webhooks/github", server.base);
        let counts = || async { server.store.inbox_counts().await.unwrap() };

        let ping = Delivery::new("ping", &ping_event());
        assert_eq!(send(&url, b"wrong-secret", &ping).await, 401);
        let forged = tokio::task::spawn_blocking({
            let (url, d) = (url.clone(), Delivery { event: "ping".into(), id: ping.id.clone(), body: ping.body.clone() });
            move || deliver_with_signature(&url, "sha256=abc", &d).unwrap().0
        });
        assert_eq!(forged.await.unwrap(), 401);
        assert_eq!(counts().await.queued, 0, "a refused delivery records nothing");

        assert_eq!(send(&url, b"new-secret", &ping).await, 202);
        assert_eq!(send(&url, b"new-secret", &ping).await, 200, "a redelivery is a no-op");
        let other = Delivery::new("ping", &ping_event());
        assert_eq!(send(&url, b"old-secret", &other).await, 202, "the previous secret holds during a rotation");
        let star = Delivery::new("star", &serde_json::json!({"action": "created"}));
        assert_eq!(send(&url, b"new-secret", &star).await, 204);
        assert_eq!(counts().await.queued, 2);
        let claimed = server.store.claim_deliveries(10, jiff::Timestamp::now().as_millisecond(), 1000).await.unwrap();
        assert_eq!(
            claimed.iter().map(|d| (d.event.as_str(), d.id.as_str())).collect::<Vec<_>>(),
            [("ping", ping.id.as_str()), ("ping", other.id.as_str())]
        );
        assert_eq!(claimed[0].body, ping.body, "the raw body, as signed");

        let addr = server.base.clone();
        let head = |len: usize, ty: &str| {
            format!(
                "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: {ty}\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )
        };
        assert_eq!(raw(&addr, &head(2, "application/x-www-form-urlencoded"), b"{}").await, 415);
        let too_big = tollgate_github::webhook::MAX_BODY + 1;
        assert_eq!(raw(&addr, &head(too_big, "application/json"), &vec![b' '; too_big]).await, 413);
        // Signed, but without the headers that say what it is: refused, nothing stored.
        let signature = tollgate_github_double::webhook::sign(b"new-secret", b"{}");
        let signed = |headers: &str| {
            format!(
                "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {signature}\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\n"
            )
        };
        assert_eq!(raw(&addr, &signed("X-GitHub-Delivery: d-2\r\n"), b"{}").await, 400, "no X-GitHub-Event");
        assert_eq!(raw(&addr, &signed("X-GitHub-Event: ping\r\n"), b"{}").await, 400, "no X-GitHub-Delivery");
        assert_eq!(raw(&addr, &signed("X-GitHub-Event: ping\r\nX-GitHub-Delivery: ../etc\r\n"), b"{}").await, 400, "not an id");
        assert_eq!(raw(&addr, &signed("X-GitHub-Event: ping\r\nX-GitHub-Delivery: d-2\r\n"), b"{}").await, 202, "the same, whole");
        assert_eq!(counts().await.queued, 3);
        let metrics = reqwest_free_get(&format!("{}/metrics", server.base)).await;
        assert!(metrics.contains(r#"tollgate_github_inbox_deliveries{state="queued"} 3"#), "{metrics}");
        assert!(metrics.contains(r#"tollgate_github_inbox_deliveries{state="failed"} 0"#), "{metrics}");
        assert!(metrics.contains(r#"tollgate_github_deliveries_total{event="ping",outcome="bad_request"} 2"#), "{metrics}");
        assert!(metrics.contains(r#"tollgate_github_deliveries_total{event="ping",outcome="queued"} 3"#), "{metrics}");
        assert!(metrics.contains(r#"tollgate_github_deliveries_total{event="ping",outcome="bad_signature"} 2"#), "{metrics}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_secret_deliveries_are_refused() {
        let server = Server::serve(App::new(None).await, false, tollgate_webhooks::Limits::default()).await;
        let url = format!("{}/webhooks/github", server.base);
        assert_eq!(send(&url, b"anything", &Delivery::new("ping", &ping_event())).await, 503);
        assert_eq!(server.store.inbox_counts().await.unwrap().queued, 0);
    }

    async fn reqwest_free_get(url: &str) -> String {
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let rest = url.trim_start_matches("http://");
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            let mut s = std::net::TcpStream::connect(host).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
        .await
        .unwrap()
    }
}

/// `POST /admission` over TLS: the index published from the repo's Promotion documents, reviews
/// shaped as the API server sends them (`admission/tests/fixtures/`), the verdicts recorded.
mod admission {
    use super::*;
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;

    const CHURN: &str = "ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c";
    const MODEL: &str = "9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8";

    /// `examples/` with churn-v3 promoted to prod (its Promotion document, serving `CHURN`),
    /// prepared (the index published) or on a service that has prepared nothing yet.
    async fn app(prepare: bool) -> App {
        let mut app = App::new_with(None, None).await;
        let promotion = format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: prod-churn\nspec:\n  environment: prod\n  release: churn-v3\n  model: {{name: churn, version: \"3\", sha256: {MODEL}}}\n  image: {CHURN}\n  decision: d-1\n"
        );
        std::fs::create_dir_all(app.repo.join("deploy/prod")).expect("mkdir");
        std::fs::write(app.repo.join("deploy/prod/churn.yaml"), promotion).expect("write");
        git(&app.repo, &["add", "-A"], CAROL);
        git(&app.repo, &["commit", "-qm", "churn-v3 promoted to prod"], CAROL);
        if prepare {
            app.state.service.prepare().await.expect("prepare");
        } else {
            let opts = Options {
                repo: app.repo.clone(),
                rev: "HEAD".into(),
                now: jiff::Timestamp::now(),
                release: None,
                gates: GateSettings {
                    cache_dir: Some(app.tmp.path().join("gates")),
                    device: tollgate_controller::reconcile::Device::Cpu,
                    kubernetes: None,
                },
                bot: ("tollgate".into(), "bot@acme.example".into()),
                jobs: 1,
            };
            let service = Service::new(AuditLog::new(app.store.clone()), opts, None, Duration::ZERO);
            app.state = Arc::new(AppState {
                service,
                metrics: Metrics::new(),
                reconcile: None,
                github: None,
                admission: true,
                dashboard: tollgate_webhooks::dashboard::DashboardState::new(false),
            });
        }
        app
    }

    /// A fixture of the admission crate, its workload reduced to its first container.
    fn review(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let path = format!("{}/../admission/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        if let Some(containers) = v.pointer_mut("/request/object/spec/template/spec/containers").and_then(Value::as_array_mut) {
            containers.truncate(1);
        }
        edit(&mut v);
        v
    }

    async fn post(server: &Server, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let ca = std::fs::read(server.ca.as_ref().expect("tls")).expect("ca");
        let mut roots = rustls::RootCertStore::empty();
        for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(&ca) {
            roots.add(cert.expect("pem")).expect("root");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        let request = hyper::Request::post(format!("{}/admission?timeout=2s", server.base))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = client.request(request).await.expect("response");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn send(server: &Server, review: &Value) -> (u16, Value) {
        post(server, "application/json", serde_json::to_vec(review).expect("json")).await
    }

    async fn actions(store: &Store) -> Vec<String> {
        use futures_util::TryStreamExt as _;
        let events: Vec<_> = store.events(1, 10_000).try_collect().await.expect("events");
        events.into_iter().map(|e| e.action).filter(|a| a.starts_with("admission.")).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn before_the_first_index_every_review_is_refused() {
        let server = Server::serve(app(false).await, true, tollgate_webhooks::Limits::default()).await;
        let (status, answer) = send(&server, &review("deployment", |_| {})).await;
        assert_eq!(status, 200);
        assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
        assert_eq!(answer["response"]["uid"], "9a5c4804-bcfa-519d-a202-acd26c7d2489");
        let message = answer["response"]["status"]["message"].as_str().expect("message");
        assert!(message.contains("not loaded"), "{message}");
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reviews_are_answered_from_the_promotions_and_denials_are_recorded() {
        let server = Server::serve(app(true).await, true, tollgate_webhooks::Limits::default()).await;

        // The promoted image, by digest: admitted, nothing recorded.
        let (status, answer) = send(&server, &review("deployment", |_| {})).await;
        assert_eq!((status, answer["response"]["allowed"].as_bool()), (200, Some(true)), "{answer:#}");
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");

        // By tag, and by a digest nobody promoted: refused, each recorded once.
        let tag = review("deployment", |v| {
            v["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/acme/churn-serving:3".into()
        });
        let (status, answer) = send(&server, &tag).await;
        assert_eq!((status, answer["response"]["allowed"].as_bool()), (200, Some(false)));
        assert_eq!(answer["response"]["status"]["code"], 403);
        let message = answer["response"]["status"]["message"].as_str().expect("message");
        assert!(message.contains("ghcr.io/acme/churn-serving:3"), "{message}");
        let other = "ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f";
        let unpromoted =
            review("deployment", |v| v["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = other.into());
        let (_, answer) = send(&server, &unpromoted).await;
        assert_eq!(answer["response"]["allowed"], false);
        let message = answer["response"]["status"]["message"].as_str().expect("message");
        assert!(message.contains("churn-v3"), "it names what is promoted to prod: {message}");
        assert_eq!(actions(&server.store).await, ["admission.denied", "admission.denied"]);

        // A dry run is answered the same and records nothing; the wrong namespace is not judged.
        let mut dry = unpromoted.clone();
        dry["request"]["dryRun"] = true.into();
        let (_, answer) = send(&server, &dry).await;
        assert_eq!(answer["response"]["allowed"], false);
        let mut elsewhere = unpromoted.clone();
        elsewhere["request"]["namespace"] = "team-sandbox".into();
        elsewhere["request"]["object"]["metadata"]["namespace"] = "team-sandbox".into();
        let (_, answer) = send(&server, &elsewhere).await;
        assert_eq!(answer["response"]["allowed"], true, "team-sandbox belongs to no environment: {answer:#}");
        assert_eq!(actions(&server.store).await.len(), 2);

        // What is not a review: 400 with a refusing review; not JSON: 415; too large: 413.
        let (status, answer) = post(&server, "application/json", b"{\"kind\": \"AdmissionReview\"}".to_vec()).await;
        assert_eq!((status, answer["response"]["allowed"].as_bool()), (400, Some(false)), "{answer:#}");
        let (status, _) = post(&server, "application/yaml", b"kind: AdmissionReview".to_vec()).await;
        assert_eq!(status, 415);
        let (status, _) = post(&server, "application/json", vec![b' '; tollgate_admission::MAX_REVIEW_BYTES + 1]).await;
        assert_eq!(status, 413);

        // Break glass: an on-call SRE (by the Environment's `breakGlass.groups`) gets an unpromoted
        // image in, loudly; anyone else's annotation is refused.
        let (_, answer) = send(&server, &review("deployment-break-glass", |_| {})).await;
        assert_eq!(answer["response"]["allowed"], true, "{answer:#}");
        assert!(answer["response"]["warnings"].as_array().is_some_and(|w| !w.is_empty()), "{answer:#}");
        let stranger =
            review("deployment-break-glass", |v| v["request"]["userInfo"]["groups"] = serde_json::json!(["system:authenticated"]));
        let (_, answer) = send(&server, &stranger).await;
        assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
        assert_eq!(actions(&server.store).await, ["admission.denied", "admission.denied", "admission.break_glass", "admission.denied"]);

        let metrics = server.client("none").get_text("/metrics").await.expect("metrics").1;
        for line in [
            r#"tollgate_admission_reviews_total{outcome="break_glass",dry_run="false"} 1"#,
            r#"tollgate_admission_reviews_total{outcome="allowed",dry_run="false"} 2"#,
            r#"tollgate_admission_reviews_total{outcome="denied",dry_run="false"} 3"#,
            r#"tollgate_admission_reviews_total{outcome="denied",dry_run="true"} 1"#,
            r#"tollgate_admission_reviews_total{outcome="invalid",dry_run="false"} 1"#,
        ] {
            assert!(metrics.contains(line), "{line} in {metrics}");
        }
        assert!(metrics.contains("tollgate_admission_index_age_seconds "), "{metrics}");
        let ready = server.client("none").get("/readyz").await.expect("readyz");
        assert_eq!(ready.body["admission"]["index"], ready.body["commit"], "{}", ready.body);
        server.stop().await;
    }

    /// Break glass after the fact: the admission is listed (API and status), the controller asks
    /// for its review once, naming the environment's approver groups, and an approver who did
    /// not break the glass reviews it; the breaker, a viewer and a second review do not count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn break_glass_is_listed_asked_about_and_reviewed_after_the_fact() {
        let app = app(true).await;
        let (alice, bob, carol, vera) =
            (app.token("alice").await, app.token("bob").await, app.token("carol").await, app.token("vera").await);
        let server = Server::serve(app, true, tollgate_webhooks::Limits::default()).await;
        let (_, answer) = send(&server, &review("deployment-break-glass", |_| {})).await;
        assert_eq!(answer["response"]["allowed"], true, "{answer:#}");
        let listed = server.client(&vera).get("break-glass").await.expect("list");
        assert_eq!(listed.status, 200, "{}", listed.body);
        let entry = &listed.body["entries"][0];
        assert_eq!(listed.body["entries"].as_array().map(Vec::len), Some(1), "{}", listed.body);
        // After the four tokens' `token.created` events.
        let seq = entry["seq"].as_u64().expect("seq");
        assert_eq!(seq, 5);
        assert_eq!(entry["user"], "alice@acme.example");
        assert_eq!(entry["environment"], "prod");
        assert_eq!(entry["namespace"], "ml-prod");
        assert_eq!(entry["reason"], "INC-4711: v7 leaks memory under load, hotfix build");
        assert_eq!(entry["active"], true);
        assert_eq!(entry["review"], serde_json::json!({"state": "unrequested"}));

        // The controller asks once.
        let opts = Options {
            repo: server.repo.clone(),
            rev: "HEAD".into(),
            now: jiff::Timestamp::now(),
            release: None,
            gates: GateSettings { cache_dir: None, device: tollgate_controller::reconcile::Device::Cpu, kubernetes: None },
            bot: ("tollgate".into(), "bot@acme.example".into()),
            jobs: 1,
        };
        let controller = Service::new(AuditLog::new(server.store.clone()), opts, None, Duration::ZERO);
        let asked = controller.request_break_glass_reviews().await.expect("ask");
        assert_eq!(asked, [seq + 1]);
        assert_eq!(controller.request_break_glass_reviews().await.expect("ask again"), Vec::<u64>::new());
        let status = server.client(&vera).get("status").await.expect("status");
        assert_eq!(
            status.body["breakGlass"][0]["review"],
            serde_json::json!({"state": "requested", "seq": seq + 1, "groups": ["ml-leads", "risk"]})
        );

        // Who broke the glass may not review it, nor may a viewer; an approver of prod may.
        let refused = server.client(&alice).review_break_glass(seq, "fine").await.expect("review");
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(
            message(&refused),
            "alice authored the change (separation of duties) (hint: someone who did not author the change must approve it)"
        );
        let refused = server.client(&vera).review_break_glass(seq, "fine").await.expect("review");
        assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("refused")), "{}", refused.body);
        let reviewed = server.client(&bob).review_break_glass(seq, "INC-4711 postmortem: justified").await.expect("review");
        assert_eq!(reviewed.status, 201, "{}", reviewed.body);
        assert_eq!(reviewed.body["review"]["state"], "reviewed");
        assert_eq!(reviewed.body["review"]["by"], "bob");
        assert_eq!(reviewed.body["review"]["note"], "INC-4711 postmortem: justified");
        let again = server.client(&carol).review_break_glass(seq, "me too").await.expect("review");
        assert_eq!((again.status, again.body["review"]["by"].as_str()), (200, Some("bob")), "{}", again.body);

        // Unknown and malformed admissions.
        let missing = server.client(&bob).review_break_glass(999, "").await.expect("review");
        assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("no_such_break_glass")), "{}", missing.body);
        let bad = server.client(&bob).post("break-glass/abc/review").await.expect("review");
        assert_eq!(bad.status, 400, "{}", bad.body);

        let events: Vec<String> = {
            use futures_util::TryStreamExt as _;
            let events: Vec<_> = server.store.events(1, 10_000).try_collect().await.expect("events");
            events.into_iter().map(|e| e.action).filter(|a| a != "token.created").collect()
        };
        assert_eq!(events, ["admission.break_glass", "break_glass.review_requested", "break_glass.reviewed"]);
        server.stop().await;
    }
}
