//! Prometheus metrics (OpenMetrics text at `/metrics`): requests by route and status, their
//! latency, approvals by outcome, refused tokens, the TLS certificate's reloads and expiry.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    outcome: &'static str,
    dry_run: bool,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The server's metrics and the registry they are encoded from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    approvals: Family<OutcomeLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    inbox: Family<StateLabels, Gauge>,
    reviews: Family<ReviewLabels, Counter>,
    admission_index_age: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tollgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency by method and route", latency.clone());
        let approvals = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "api_approvals",
            "Approval calls by outcome: recorded, duplicate, refused, content_changed, revoked, error",
            approvals.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register("api_auth_failures", "API calls refused for a missing or invalid token", auth_failures.clone());
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "github_deliveries",
            "GitHub webhook deliveries by event and outcome: queued, duplicate, ignored, bad_signature, too_large, unsupported_media_type, bad_request, not_configured, error",
            deliveries.clone(),
        );
        let inbox = Family::<StateLabels, Gauge>::default();
        registry.register(
            "github_inbox_deliveries",
            "GitHub deliveries in the store's inbox by state: queued (waiting or in hand) and failed (for good; `tollgate github deliveries`)",
            inbox.clone(),
        );
        registry.register_collector(Box::new(GitHubRate));
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "admission_reviews",
            "Admission reviews by outcome (allowed, warned, denied, break_glass, unrecorded, invalid, too_large, unsupported_media_type, not_served) and dry run",
            reviews.clone(),
        );
        let admission_index_age = Gauge::default();
        registry.register(
            "admission_index_age_seconds",
            "Seconds since the admission index was last found current (a prepare of the config repo); -1 before the first",
            admission_index_age.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "The running version", build);
        Metrics { registry, requests, latency, approvals, auth_failures, deliveries, inbox, reviews, admission_index_age }
    }

    /// Also serves the reloads of `certs` (`tollgate_tls_certificate_reloads_total` by
    /// `outcome`, `ok` or `error`) and the expiry of the certificate it presents
    /// (`tollgate_tls_certificate_expiration_timestamp_seconds`), read when `/metrics` is served.
    #[must_use]
    pub fn with_tls(mut self, certs: Arc<crate::tls::CertResolver>) -> Metrics {
        self.registry.register_collector(Box::new(TlsCertificate(certs)));
        self
    }

    /// Counts an approval call's outcome.
    pub fn approval(&self, outcome: &'static str) {
        self.approvals.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts a GitHub delivery by event (`other` for one tollgate does not subscribe to) and
    /// outcome.
    pub fn github_delivery(&self, event: &'static str, outcome: &'static str) {
        self.deliveries.get_or_create(&DeliveryLabels { event, outcome }).inc();
    }

    /// Sets the inbox gauges from the store's backlog.
    pub fn github_inbox(&self, backlog: tollgate_store::InboxCounts) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.inbox.get_or_create(&StateLabels { state: "queued" }).set(gauge(backlog.queued));
        self.inbox.get_or_create(&StateLabels { state: "failed" }).set(gauge(backlog.failed));
    }

    /// Counts an admission review by outcome.
    pub fn admission_review(&self, outcome: &'static str, dry_run: bool) {
        self.reviews.get_or_create(&ReviewLabels { outcome, dry_run }).inc();
    }

    /// Counts a refused token (`missing` or `invalid`).
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The OpenMetrics text.
    ///
    /// # Errors
    ///
    /// When a metric cannot be encoded (never with these types).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The process's GitHub rate-limit waits and App tokens (`tollgate_github::rate_stats`), read
/// when `/metrics` is served.
#[derive(Debug)]
struct GitHubRate;

impl prometheus_client::collector::Collector for GitHubRate {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let s = tollgate_github::rate_stats();
        let counters: [(&str, &str, f64); 4] = [
            ("github_rate_limit_waits", "Waits slept because a GitHub rate limit held", s.waits as f64),
            ("github_rate_limit_waited_seconds", "Seconds slept waiting for GitHub rate limits", s.waited_ms as f64 / 1000.0),
            ("github_rate_limited", "GitHub calls given up because a rate limit held longer than tollgate waits", s.limited as f64),
            ("github_installation_tokens", "GitHub App installation tokens minted", s.tokens_minted as f64),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        if let Some(remaining) = s.remaining {
            let gauge = ConstGauge::new(remaining as i64);
            gauge.encode(encoder.encode_descriptor(
                "github_rate_limit_remaining",
                "The last x-ratelimit-remaining GitHub sent",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// The server certificate's reloads and expiry (`tls::Reloader`).
#[derive(Debug)]
struct TlsCertificate(Arc<crate::tls::CertResolver>);

impl prometheus_client::collector::Collector for TlsCertificate {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let reloads = self.0.reloads();
        let mut family = encoder.encode_descriptor(
            "tls_certificate_reloads",
            "Changes of the TLS certificate files by outcome: ok (the new pair is served), error (refused; the previous pair is still served)",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [("ok", reloads.ok), ("error", reloads.error)] {
            ConstCounter::new(n).encode(family.encode_family(&OutcomeLabels { outcome })?)?;
        }
        if let Some(not_after) = self.0.current().not_after() {
            let gauge = ConstGauge::new(not_after.as_second());
            gauge.encode(encoder.encode_descriptor(
                "tls_certificate_expiration_timestamp_seconds",
                "When the TLS certificate served expires (its notAfter), in seconds since the Unix epoch",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Middleware: counts every request by its route pattern (never the raw path, which would make
/// a label per release) and observes its latency.
pub(crate) async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Any token is a method to HTTP: a label per made-up one would grow `/metrics` without bound.
    let method = match *request.method() {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::DELETE | Method::PATCH | Method::OPTIONS => {
            request.method().as_str().to_owned()
        }
        _ => "other".to_owned(),
    };
    let start = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.latency.get_or_create(&RouteLabels { method: method.clone(), route: route.clone() }).observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

/// `GET /metrics`.
pub(crate) async fn serve(State(state): State<Arc<AppState>>) -> Response {
    if state.github.is_some() {
        // The inbox is shared by the replicas: each reports the store's backlog as it is now.
        match state.service.store().inbox_backlog().await {
            Ok(backlog) => state.metrics.github_inbox(backlog),
            Err(e) => tracing::warn!(error = %tollgate_error::chain(&e), "cannot count the webhook inbox for /metrics"),
        }
    }
    if state.admission {
        let age = state.service.admission_index_age().map_or(-1, |a| i64::try_from(a.as_secs()).unwrap_or(i64::MAX));
        state.metrics.admission_index_age.set(age);
    }
    match state.metrics.encode() {
        Ok(body) => {
            let mut r = body.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
            r
        }
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
