//! Admission reviews as the API server sends them (`tests/fixtures/`, see its README), decided
//! against one index and answered; each expectation is the verdict in short and, where the
//! answer matters, the `AdmissionReview` sent back, exactly.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use expect_test::{Expect, expect};
use jiff::Timestamp;
use serde_json::Value;

use tollgate_admission::{
    AdmissionError, Admitter, Answer, BreakGlassPolicy, Index, Mode, Outcome, Policies, Promoted, Verdict, parse_review,
};
use tollgate_policy::Bundle;

mod envelope;
mod rules;
mod workloads;

const CHURN_V7: &str = "ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c";
const CHURN_V8: &str = "ghcr.io/acme/churn-serving@sha256:3e78a511da5a7b01e41974a86d16a31d5a1db8b7267d12582eed8f6b4fc1797f";
const PROXY: &str = "ghcr.io/acme/model-proxy@sha256:19572ef5107901c1bef32f7834c4419ea37703582516e607705a82ae8ce0410e";
const EXPORTER: &str = "ghcr.io/acme/metrics-exporter@sha256:3c2b79434597ac98fefe29d747139108c93464845db41f8494038527c06a8412";
const FETCH: &str = "ghcr.io/acme/model-fetch@sha256:7814bc8ec2cd09fc691332d3978d8ac0c8fd00bdcd64c338a3dbb68516787083";
const DEBUG: &str = "ghcr.io/acme/debug-tools@sha256:86da06f37a60b78dc2ab81fba05393468b38067a2540d4b43ddbfa08adbd99ad";
const FRAUD: &str = "ghcr.io/acme/fraud-serving@sha256:ac511d47ee0fd7395490294dfac719a49411c9f5b705bef7f7b51b9423918b7c";
const CHURN_MODEL_V7: &str = "9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8";
const CHURN_MODEL_V8: &str = "38d9fcc201480caa7dac615d03760d2d9a749434aec9b2a8325fd6032cbd7454";
const FRAUD_MODEL: &str = "774fc4bd47e5a29b5750b84321a58c23d8b1572655fd70ac652f7673619d8405";

/// The clock of every review.
fn now() -> Timestamp {
    "2026-12-05T10:00:00Z".parse().unwrap()
}

/// The default library, compiled once for every test (as the controller compiles it once).
fn policies() -> Policies {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    Policies::new(BUNDLE.get_or_init(|| Bundle::compile(&[], true).unwrap()).clone(), Vec::<String>::new())
}

/// The index of every test: `prod` (namespaces `ml-prod`, `ml-prod-canary`) and `staging`
/// (`ml-staging`, in warn mode), with the releases promoted to each; only on-call SREs and
/// `carol` may break glass in prod, for four hours.
fn index(prod: Mode) -> Index {
    let mut b = Index::builder();
    b.environment("prod", prod, ["ml-prod", "ml-prod-canary"]).unwrap();
    b.environment("staging", Mode::Warn, ["ml-staging"]).unwrap();
    let release = |release, image, model| Promoted { release, image, model_sha256: model, model_uri: None };
    for r in [
        Promoted { model_uri: Some("s3://acme-models/churn/v7"), ..release("churn-v7", CHURN_V7, Some(CHURN_MODEL_V7)) },
        release("fraud-v3", FRAUD, Some(FRAUD_MODEL)),
        release("model-proxy-3", PROXY, None),
        release("metrics-exporter-1", EXPORTER, None),
        release("model-fetch-2", FETCH, None),
        release("debug-tools-5", DEBUG, None),
    ] {
        b.promoted("prod", r).unwrap();
    }
    for r in [
        release("churn-v7", CHURN_V7, Some(CHURN_MODEL_V7)),
        release("churn-v8", CHURN_V8, Some(CHURN_MODEL_V8)),
        release("model-proxy-3", PROXY, None),
        release("metrics-exporter-1", EXPORTER, None),
    ] {
        b.promoted("staging", r).unwrap();
    }
    b.break_glass(
        "prod",
        BreakGlassPolicy {
            users: vec!["carol@acme.example".to_owned()],
            groups: vec!["acme:sre-oncall".to_owned()],
            max_duration: Duration::from_secs(4 * 3600),
        },
    )
    .unwrap();
    b.platform_images("prod", ["docker.io/istio/proxyv2", &format!("gcr.io/kserve/storage-initializer@sha256:{}", "5e".repeat(32))])
        .unwrap();
    b.policies(policies());
    b.source("config@4f1c2e9");
    b.build()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// A fixture with `edit` applied to its JSON.
fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

/// Decides `body` against `index` through the whole path: parse, decide, respond.
fn answer(index: Option<Index>, body: &[u8]) -> Answer {
    let admitter = Admitter::new();
    if let Some(index) = index {
        admitter.publish(index);
    }
    admitter.review(body, now())
}

/// The verdict in short: outcome, where, the images and models with the releases they matched,
/// the reasons with their hints, the break glass, the audit event, and the note.
fn summary(v: &Verdict) -> String {
    let word = |x: Value| x.as_str().unwrap_or_default().to_owned();
    let mut out = format!(
        "{} {} {} {}/{} by {} in {}",
        word(serde_json::to_value(v.outcome).unwrap()),
        word(serde_json::to_value(&v.operation).unwrap()),
        v.kind,
        v.namespace.as_deref().unwrap_or("-"),
        v.name,
        v.user,
        v.environment.as_deref().unwrap_or("-"),
    );
    if let Some(m) = v.mode {
        let _ = write!(out, " ({})", m.as_str());
    }
    if v.dry_run {
        out.push_str(" [dry run]");
    }
    out.push('\n');
    for i in &v.images {
        let _ =
            writeln!(out, "image {}/{} {} -> {:?}{}", i.field, i.name, i.image, i.releases, if i.platform { " (platform)" } else { "" });
    }
    for m in &v.models {
        let _ = writeln!(out, "model {} {} -> {:?}", m.source, m.reference, m.releases);
    }
    if let Some(r) = &v.runtime {
        let _ = writeln!(out, "runtime {r}");
    }
    for r in &v.reasons {
        let _ = writeln!(out, "{} {}: {}", word(serde_json::to_value(r.severity).unwrap()), r.id, r.message);
        if let Some(h) = &r.hint {
            let _ = writeln!(out, "  hint: {h}");
        }
    }
    if let Some(b) = &v.break_glass {
        let _ = writeln!(out, "break glass by {} until {} (inherited: {}): {}", b.user, b.expires, b.inherited, b.reason);
    }
    if let Some(n) = &v.note {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = write!(out, "audit: {}", v.audit_event().unwrap_or("nothing"));
    out
}

/// Checks the verdict of `body` against the standard index in `mode`.
fn check(body: &[u8], mode: Mode, want: Expect) -> Answer {
    let answer = answer(Some(index(mode)), body);
    let verdict = answer.verdict.as_ref().expect("a verdict");
    want.assert_eq(&summary(verdict));
    // The response always echoes the request's uid and says what the verdict says.
    let response = answer.review.response.as_ref().expect("a response");
    assert_eq!(response.uid, verdict.uid);
    assert_eq!(response.allowed, verdict.outcome != Outcome::Denied);
    answer
}

/// The answer as the API server reads it.
fn response_json(answer: &Answer) -> String {
    serde_json::to_string_pretty(&answer.review).unwrap()
}

/// Checks a body that does not parse.
fn check_error(body: &[u8], want: Expect) {
    let err: AdmissionError = parse_review(body).unwrap_err();
    let hint = tollgate_error::Hint::hint(&err);
    want.assert_eq(&format!("{}\nhint: {}", tollgate_error::chain(&err), hint.as_deref().unwrap_or("-")));
}
