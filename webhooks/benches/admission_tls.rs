//! What the API server waits for: `POST /admission` over loopback TLS with keep-alive, at a
//! fixed rate, against an empty axum handler on the same TLS stack, in the same run:
//! `cargo bench -p tollgate-webhooks --bench admission_tls` (`TOLLGATE_BENCH_RATE` reviews per
//! second, default 2,000; `TOLLGATE_BENCH_SECONDS` per round, default 4; `TOLLGATE_BENCH_ROUNDS`
//! per side, default 5).
//!
//! Both servers are `tollgate_webhooks::serve` with the same rustls configuration (a self-signed
//! certificate). tollgate's route reads the review, decides it against the index published
//! from `examples/` with churn-v3 promoted to prod (the default library's Kubernetes policies
//! included), and answers; the empty handler reads the body and answers a fixed
//! `AdmissionReview`. The load is open-loop: request `i` is due at `start + i / rate`, sent then
//! on a pool of keep-alive connections (64 to each server, opened before each of its rounds; the
//! rounds print the connections they had to open beyond those), and its latency counts from
//! when it was due, so a stall is not hidden by fewer requests being sent (no coordinated
//! omission). Rounds alternate between the two servers after a warm-up round. Then the same
//! for refusals at a quarter of the rate, each recorded durably in the audit trail (SQLite)
//! before its answer.
//!
//! Each server's router is timed too (a layer around it, from the request's head read to the
//! response's head built), so that the bench says how much of a latency was the server's work and
//! how much came before or after it (sending, the connection, waiting for the server's thread):
//! for the slowest 1% of each side's reviews, the median of both.
//!
//! The rate is per core: both servers run on a runtime of one worker thread
//! (`TOLLGATE_BENCH_SERVER_THREADS`, default 1), the load generator on a runtime of its own,
//! so that on a machine of two cores or more the client does not take the server's core.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use tollgate_webhooks::{AppState, Limits, Metrics};

const CHURN: &str = "ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c";
const MODEL: &str = "9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8";

/// Keep-alive connections the client holds to each server.
const POOL: usize = 64;

/// The header carrying a review's number in its round, for [`Handled`].
const SEQ: &str = "x-bench-seq";

/// How long each review of a round spent in the server's router, by its number.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<Vec<(usize, Duration)>>>);

impl Handled {
    /// `app` with a layer that times every request into `self`.
    fn around(&self, app: axum::Router) -> axum::Router {
        let handled = self.clone();
        app.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            let handled = handled.clone();
            async move {
                let seq = request.headers().get(SEQ).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
                let started = Instant::now();
                let response = next.run(request).await;
                if let Some(seq) = seq {
                    handled.0.lock().unwrap_or_else(PoisonError::into_inner).push((seq, started.elapsed()));
                }
                response
            }
        }))
    }

    /// The round's times, by review number (zero for a review not seen), and forgets them.
    fn take(&self, n: usize) -> Vec<Duration> {
        let mut out = vec![Duration::ZERO; n];
        for (seq, took) in self.0.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            if let Some(slot) = out.get_mut(seq) {
                *slot = took;
            }
        }
        out
    }
}

/// For the slowest 1% of `latencies` (end to end, by review number), the median latency and
/// the median time in the router (`handled`, by review number), in milliseconds.
fn slowest(latencies: &[Duration], handled: &[Duration]) -> [f64; 2] {
    let mut order: Vec<usize> = (0..latencies.len()).collect();
    order.sort_unstable_by_key(|&i| std::cmp::Reverse(latencies[i]));
    order.truncate((latencies.len() / 100).max(1));
    let mut total: Vec<Duration> = order.iter().map(|&i| latencies[i]).collect();
    let mut inside: Vec<Duration> = order.iter().map(|&i| handled[i]).collect();
    total.sort_unstable();
    inside.sort_unstable();
    [common::quantile(&total, 0.5), common::quantile(&inside, 0.5)]
}

type Https = Client<Counting, Full<Bytes>>;

type Tls = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The client's connector, counting the connections it opens (each a TLS handshake).
#[derive(Clone)]
struct Counting {
    inner: Tls,
    opened: Arc<AtomicUsize>,
}

impl tower::Service<hyper::Uri> for Counting {
    type Response = <Tls as tower::Service<hyper::Uri>>::Response;
    type Error = <Tls as tower::Service<hyper::Uri>>::Error;
    type Future = <Tls as tower::Service<hyper::Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.inner.call(uri)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Serves `app` on `server` (its runtime) and returns the URL of its `/admission`.
fn start(server: &tokio::runtime::Runtime, app: axum::Router, tls: Arc<rustls::ServerConfig>) -> String {
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    server.spawn(tollgate_webhooks::serve(listener, app, Some(tls), std::future::pending(), Duration::from_secs(1), Limits::default()));
    format!("https://localhost:{}/admission?timeout=2s", addr.port())
}

/// A review for `url`: `POST`, JSON.
fn post(url: String, body: Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(url).header("content-type", "application/json").body(Full::new(body)).expect("request")
}

/// One round: `n` reviews due at `rate` per second; each latency from when it was due.
///
/// One task sends them, each when due: it sleeps while the next is more than 2 ms away and
/// yields in a loop for the rest (tokio's timer has a resolution of 1 ms, which would add up to
/// a millisecond to every latency), so a review is sent within microseconds of when it was due.
async fn round(client: &Https, url: &str, body: &Bytes, rate: f64, n: usize, want_allowed: bool) -> Vec<Duration> {
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > Duration::from_millis(2) {
                tokio::time::sleep(due - now - Duration::from_millis(2)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut request = post(url, body);
            request.headers_mut().insert(SEQ, i.into());
            let response = client.request(request).await.expect("response");
            assert_eq!(response.status(), 200);
            let bytes = response.into_body().collect().await.expect("body").to_bytes();
            let took = due.elapsed();
            let answer: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(answer["response"]["allowed"], want_allowed, "{answer}");
            took
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// Sends `POOL` reviews to `url` at once, so that the client holds that many open connections
/// to it (opening those the server closed: hyper closes a connection idle for its header read
/// timeout, 30 s). A round then runs on a warm pool, as the API server's client does after its
/// first burst; otherwise a stall that queues more reviews than the pool holds makes the client
/// open a connection per queued review, and the server spends the next milliseconds in TLS
/// handshakes (the rounds print how many connections they opened).
async fn warm(client: &Https, url: &str, body: &Bytes) {
    let tasks: Vec<_> = (0..POOL)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
            tokio::spawn(async move {
                let response = client.request(post(url, body)).await.expect("response");
                response.into_body().collect().await.expect("body");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

/// CPU time (user and system) the server runtime's worker threads (named `server`) have used,
/// from `/proc/self/task/*/stat` (Linux; in clock ticks, 10 ms on most kernels, so a round of
/// thousands of reviews reads it precisely enough). Zero elsewhere.
fn server_cpu() -> Duration {
    let ticks: u64 = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == "server"))
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the command's closing parenthesis: state is the 3rd field of the
            // line, utime and stime the 14th and 15th.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    // USER_HZ is 100 on Linux for every architecture tollgate builds for.
    Duration::from_millis(ticks * 10)
}

fn review(image: &str) -> Bytes {
    let path = format!("{}/../admission/tests/fixtures/deployment.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let containers = v.pointer_mut("/request/object/spec/template/spec/containers").and_then(Value::as_array_mut).unwrap();
    containers.truncate(1);
    containers[0]["image"] = image.into();
    Bytes::from(serde_json::to_vec(&v).unwrap())
}

fn main() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    let rate = env("TOLLGATE_BENCH_RATE").unwrap_or(2000.0);
    let seconds = env("TOLLGATE_BENCH_SECONDS").unwrap_or(4.0);
    let rounds = env("TOLLGATE_BENCH_ROUNDS").map_or(5, |r| (r as usize).max(1));
    let threads = env("TOLLGATE_BENCH_SERVER_THREADS").map_or(1, |t| t as usize);
    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).thread_name("server").enable_all().build().unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("client").enable_all().build().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let (service, store) = server.block_on(async {
        let (service, store) = common::service(tmp.path(), |dir| {
            std::fs::create_dir_all(dir.join("deploy/prod")).unwrap();
            let promotion = format!(
                "apiVersion: tollgate.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: prod-churn\nspec:\n  environment: prod\n  release: churn-v3\n  model: {{name: churn, version: \"3\", sha256: {MODEL}}}\n  image: {CHURN}\n  decision: d-1\n"
            );
            std::fs::write(dir.join("deploy/prod/churn.yaml"), promotion).unwrap();
        })
        .await;
        service.prepare().await.unwrap();
        (service, store)
    });
    assert!(service.admitter().index().is_some());
    let state = Arc::new(AppState {
        service,
        metrics: Metrics::new(),
        reconcile: None,
        github: None,
        admission: true,
        dashboard: tollgate_webhooks::dashboard::DashboardState::new(true),
    });

    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, pkey) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&pkey, key.signing_key.serialize_pem()).unwrap();
    let tls = tollgate_webhooks::tls::server_config(&cert, &pkey).unwrap();
    let (tollgate_handled, empty_handled) = (Handled::default(), Handled::default());
    let tollgate = start(&server, tollgate_handled.around(tollgate_webhooks::router(state)), Arc::clone(&tls));
    let fixed = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "9a5c4804-bcfa-519d-a202-acd26c7d2489", "allowed": true}
        }))
        .unwrap(),
    );
    let empty = start(
        &server,
        empty_handled.around(axum::Router::new().route(
            "/admission",
            axum::routing::post(move |body: Bytes| {
                let fixed = fixed.clone();
                async move {
                    std::hint::black_box(body);
                    ([(axum::http::header::CONTENT_TYPE, "application/json")], fixed)
                }
            }),
        )),
        tls,
    );

    // The load runs as a task on the client's worker thread, not on this thread (which
    // `block_on` would make a third busy thread).
    let load = client_rt.spawn(async move {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(key.cert.der().to_vec())).unwrap();
        let client_tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(client_tls).https_only().enable_http1().build();
        let opened = Arc::new(AtomicUsize::new(0));
        let client: Https =
            Client::builder(TokioExecutor::new()).pool_max_idle_per_host(POOL).build(Counting { inner: https, opened: Arc::clone(&opened) });

        let admitted = review(CHURN);
        let refused = review("ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f");
        let n = (rate * seconds) as usize;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        println!(
            "{rate} reviews/s for {seconds} s per round, {rounds} alternating rounds per side after a warm-up round; \
             the servers on {threads} worker thread(s), the client on 1, {cores} cores, {POOL} keep-alive connections to each opened before its round"
        );
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut ours_cpu, mut theirs_cpu) = (Duration::ZERO, Duration::ZERO);
        let (mut ours_p99, mut theirs_p99) = (Vec::new(), Vec::new());
        let (mut ours_in, mut theirs_in) = (Vec::new(), Vec::new());
        let (mut ours_slow, mut theirs_slow) = (Vec::new(), Vec::new());
        for r in 0..=rounds {
            warm(&client, &tollgate, &admitted).await;
            let (started, cpu, before) = (Instant::now(), server_cpu(), opened.load(Ordering::Relaxed));
            let mut a = round(&client, &tollgate, &admitted, rate, n, true).await;
            let a_opened = opened.load(Ordering::Relaxed) - before;
            let (achieved, a_cpu) = (n as f64 / started.elapsed().as_secs_f64(), server_cpu() - cpu);
            let a_in = tollgate_handled.take(n);
            warm(&client, &empty, &admitted).await;
            let (cpu, before) = (server_cpu(), opened.load(Ordering::Relaxed));
            let mut b = round(&client, &empty, &admitted, rate, n, true).await;
            let b_opened = opened.load(Ordering::Relaxed) - before;
            let b_cpu = server_cpu() - cpu;
            let b_in = empty_handled.take(n);
            if r > 0 {
                ours_slow.push(slowest(&a, &a_in));
                theirs_slow.push(slowest(&b, &b_in));
                ours_in.extend(a_in);
                theirs_in.extend(b_in);
                a.sort_unstable();
                b.sort_unstable();
                let (a50, a99) = (common::quantile(&a, 0.5), common::quantile(&a, 0.99));
                let (b50, b99) = (common::quantile(&b, 0.5), common::quantile(&b, 0.99));
                println!(
                    "  round {r}: tollgate p50 {a50:.3} p99 {a99:.3} ms, empty p50 {b50:.3} p99 {b99:.3} ms (sent at {achieved:.0}/s; \
                     connections opened {a_opened} and {b_opened})"
                );
                ours_p99.push(a99);
                theirs_p99.push(b99);
                ours.extend(a);
                theirs.extend(b);
                ours_cpu += a_cpu;
                theirs_cpu += b_cpu;
            }
        }
        let (p50, p99) = common::summary("tollgate POST /admission (admitted)", 44, "reviews", ours);
        let (e50, e99) = common::summary("empty axum handler, same TLS stack", 44, "reviews", theirs);
        println!("ratio: p50 {:.2}x, p99 {:.2}x the empty handler", p50 / e50, p99 / e99);
        // A stall of the machine (another process, the hypervisor) in one round sets the p99 of
        // all of them; the median round says what the servers do when nothing else intervenes.
        let (m_ours, m_theirs) = (median(&mut ours_p99), median(&mut theirs_p99));
        println!("median of the rounds' p99: tollgate {m_ours:.3} ms, empty handler {m_theirs:.3} ms, ratio {:.2}x", m_ours / m_theirs);
        common::summary("  of which in tollgate's router", 44, "reviews", ours_in);
        common::summary("  of which in the empty handler's router", 44, "reviews", theirs_in);
        // Where the tail comes from: the slowest 1% of each round, the median of the rounds.
        let mid = |v: &[[f64; 2]], k: usize| median(&mut v.iter().map(|s| s[k]).collect::<Vec<_>>());
        println!(
            "slowest 1% of a round (median of the rounds): tollgate {:.3} ms, {:.3} ms of it in the router; \
             empty handler {:.3} ms, {:.3} ms in the router",
            mid(&ours_slow, 0),
            mid(&ours_slow, 1),
            mid(&theirs_slow, 0),
            mid(&theirs_slow, 1)
        );
        let per_review = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (rounds * n) as f64;
        println!(
            "server threads' CPU per review: tollgate {:.0} µs, empty handler {:.0} µs (one core serves at most {:.0} and {:.0} a second)",
            per_review(ours_cpu),
            per_review(theirs_cpu),
            1e6 / per_review(ours_cpu),
            1e6 / per_review(theirs_cpu)
        );

        let refusals = round(&client, &tollgate, &refused, rate / 4.0, n / 4, false).await;
        common::summary("tollgate POST /admission (refused, recorded)", 44, "reviews", refusals);
    });
    client_rt.block_on(load).unwrap();
    let recorded = server.block_on(store.head()).unwrap().size;
    println!("audit trail: {recorded} events");
}
