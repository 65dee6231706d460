//! The admission hot path against an index of 10,000 promoted releases: reading a review of a
//! Deployment with three containers, deciding it (with and without the default policy library),
//! the whole call (read, decide, answer, serialize; also for a Deployment of one container, the
//! review `admission_tls` sends), a refusal (which builds its messages), the policy evaluator
//! each review makes, building the index and putting it in force. The index's size is printed
//! before the measurements: the bytes it accounts for (`Index::heap_bytes`) and the growth of
//! the process's resident memory while it was built.
//!
//! ```text
//! cargo bench -p tollgate-admission --bench decide
//! cargo bench -p tollgate-admission --bench decide -- --warm-up-time 1 --measurement-time 3
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use serde_json::json;

use tollgate_admission::{Admitter, BreakGlassPolicy, Index, Mode, Policies, Promoted, decide, parse_review};
use tollgate_policy::Bundle;

const RELEASES: usize = 10_000;

/// A release as the caller reads it from its Promotion: name, image, model digest, model URI.
struct Release {
    name: String,
    image: String,
    model: String,
    uri: String,
}

/// Deterministic pseudo-random digests (splitmix64), so every run builds the same index.
fn releases(n: usize) -> Vec<Release> {
    let mut state: u64 = 0x5eed;
    let mut hex = || {
        (0..4)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                format!("{:016x}", z ^ (z >> 31))
            })
            .collect::<String>()
    };
    (0..n)
        .map(|i| Release {
            name: format!("model-{i:05}-v{}", i % 7 + 1),
            image: format!("registry.acme.example/ml/serving-{}@sha256:{}", i % 500, hex()),
            model: hex(),
            uri: format!("s3://acme-models/model-{i:05}/v{}", i % 7 + 1),
        })
        .collect()
}

fn index(releases: &[Release], policies: Option<&Bundle>) -> Index {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod", "ml-prod-canary"]).expect("prod");
    for r in releases {
        let promoted = Promoted { release: &r.name, image: &r.image, model_sha256: Some(&r.model), model_uri: Some(&r.uri) };
        b.promoted("prod", promoted).expect("pinned");
    }
    b.break_glass(
        "prod",
        BreakGlassPolicy { users: vec![], groups: vec!["acme:sre-oncall".to_owned()], max_duration: Duration::from_secs(14_400) },
    )
    .expect("prod");
    if let Some(bundle) = policies {
        b.policies(Policies::new(bundle.clone(), Vec::<String>::new()));
    }
    b.build()
}

/// An AdmissionReview of a Deployment running `images` (up to three), shaped as the API server
/// sends it (see tests/fixtures/README.md).
fn deployment_review(images: &[&str]) -> Vec<u8> {
    let container = |name: &str, image: &str| {
        json!({
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
            "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
        })
    };
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "churn", "namespace": "ml-prod", "labels": {"app": "churn"}, "generation": 1},
        "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "churn"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "churn"}},
                "spec": {
                    "containers": images.iter().zip(["server", "proxy", "exporter"]).map(|(image, name)| container(name, image)).collect::<Vec<_>>(),
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                    "securityContext": {"runAsNonRoot": true}, "terminationGracePeriodSeconds": 30
                }
            }
        },
        "status": {}
    });
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "churn", "namespace": "ml-prod", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller", "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    }))
    .expect("json")
}

/// Resident memory now, in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn bench(c: &mut Criterion) {
    let now: Timestamp = "2026-12-05T10:00:00Z".parse().expect("time");
    let releases = releases(RELEASES);
    let before = rss_bytes();
    let plain = index(&releases, None);
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "index of {RELEASES} releases: {} bytes accounted (Index::heap_bytes), resident memory grew {} bytes while it was built",
        plain.heap_bytes(),
        grown
    );
    let bundle = Bundle::compile(&[], true).expect("the default library compiles");
    let with_policies = index(&releases, Some(&bundle));
    let admitted = deployment_review(&[&releases[42].image, &releases[4242].image, &releases[9999].image]);
    let admitted_one = deployment_review(&[&releases[42].image]);
    let refused = deployment_review(&[
        "registry.acme.example/ml/serving-42@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &releases[4242].image,
        "registry.acme.example/ml/serving-7:latest",
    ]);
    let review = parse_review(&admitted).expect("a review");
    let request = review.request.as_ref().expect("a request");
    assert!(decide(Some(&with_policies), request, now).allowed(), "the admitted review is admitted");
    let refused_review = parse_review(&refused).expect("a review");
    let refused_request = refused_review.request.as_ref().expect("a request");
    assert!(!decide(Some(&plain), refused_request, now).allowed(), "the refused review is refused");

    let mut group = c.benchmark_group("admission");
    group.bench_function("build index, 10k releases", |b| b.iter(|| index(black_box(&releases), None)));
    group.bench_function("parse review, Deployment x3 containers", |b| b.iter(|| parse_review(black_box(&admitted))));
    group.bench_function("decide, no policies", |b| b.iter(|| decide(Some(&plain), black_box(request), now)));
    group.bench_function("decide, default policy library", |b| b.iter(|| decide(Some(&with_policies), black_box(request), now)));
    // What `decide` pays per review before evaluating: an evaluator cloned from the bundle.
    group.bench_function("policy evaluator from the bundle", |b| b.iter(|| bundle.evaluator()));
    group.bench_function("decide refusal (messages), no policies", |b| b.iter(|| decide(Some(&plain), black_box(refused_request), now)));
    let admitter = Admitter::new();
    admitter.publish(with_policies.clone());
    // Putting a new index in force: one atomic swap; the index replaced is dropped untimed, by
    // the last review still holding it.
    group.bench_function("publish (swap in) an index of 10k releases", |b| {
        b.iter_batched(|| with_policies.clone(), |index| admitter.publish(index), BatchSize::LargeInput);
    });
    group.bench_function("whole call with policies: parse, decide, respond, serialize", |b| {
        b.iter(|| serde_json::to_vec(&admitter.review(black_box(&admitted), now).review).expect("json"));
    });
    // The review `admission_tls` sends end to end: a Deployment of one container.
    assert!(admitter.review(&admitted_one, now).review.response.as_ref().is_some_and(|r| r.allowed), "one container is admitted");
    group.bench_function("whole call with policies, one container", |b| {
        b.iter(|| serde_json::to_vec(&admitter.review(black_box(&admitted_one), now).review).expect("json"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
