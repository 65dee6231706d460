//! Export a period as a bundle, check it offline with tollgate and with the Python verifier,
//! and catch tampering with the bundle.

use crate::support::{Backend, TestDb};
use crate::{both_backends, ev};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tollgate_audit::bundle::{self, BundleProblem, normalize_time};
use tollgate_audit::checkpoint::{Signer, Verifier};
use tollgate_audit::event;
use tollgate_store::AuditLog;
use tollgate_store::{RecordKind, Store};

fn python_verifier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit/verify_bundle.py")
}

/// Runs the Python verifier; returns its exit code and output.
pub fn run_python(dir: &Path, trusted: Option<&Verifier>) -> (i32, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(python_verifier()).arg(dir);
    if let Some(v) = trusted {
        cmd.arg("--trusted-key").arg(v.to_text());
    }
    let out = cmd.output().expect("python3 runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A log with events before, inside and after a period, records inside it, and checkpoints.
async fn exported(db: &TestDb, key: &Signer, dir: &Path) -> (String, String) {
    let store = Store::open(&db.url).await.expect("open");
    let log = AuditLog::new(store).with_signers(key.clone(), vec![]).with_checkpoint_every(4);
    log.append(&[ev(1), ev(2), ev(3)]).await.expect("before");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let from = event::now();
    log.append(&[ev(4), ev(5)]).await.expect("inside");
    log.record(
        RecordKind::Decision,
        "tollgate",
        "release/churn-v7@prod",
        &json!({"state": "Promoted", "environment": "prod", "inputs": {"commit": "abc123", "gates": ["accuracy"], "score": 0.91}}),
    )
    .await
    .expect("decision");
    log.record(
        RecordKind::Approval,
        "bob",
        "release/churn-v7@prod",
        &json!({"approver": "bob", "content_digest": "sha256:00ff", "source": "github-review"}),
    )
    .await
    .expect("approval");
    log.record(
        RecordKind::GateResult,
        "tollgate",
        "release/churn-v7@prod",
        &json!({"gate": "accuracy", "outcome": "pass", "value": 0.93, "min": 0.9}),
    )
    .await
    .expect("gate");
    log.record(
        RecordKind::ModelCard,
        "tollgate",
        "model/churn@7",
        &json!({"model": "churn", "version": "7", "intended_use": "<script>alert(1)</script>"}),
    )
    .await
    .expect("card");
    log.append(&[ev(10)]).await.expect("inside");
    let to = event::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    log.append(&[ev(11), ev(12)]).await.expect("after");
    let summary = tollgate_store::export(&log, &from, &to, dir).await.expect("export");
    assert_eq!(summary.range, Some((4, 10)));
    assert_eq!(summary.checkpoint_size, 12);
    log.store().close().await;
    (from, to)
}

async fn bundle_verifies_offline_in_rust_and_python(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate-test").expect("key");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("bundle");
    exported(&db, &key, &dir).await;
    for name in [
        "events.jsonl",
        "events.csv",
        "report.html",
        "manifest.json",
        "verify_bundle.py",
        "decisions.jsonl",
        "approvals.jsonl",
        "gate_results.jsonl",
        "model_cards.jsonl",
        "releases.jsonl",
        "promotions.jsonl",
    ] {
        assert!(dir.join(name).is_file(), "{name} is written");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(html.contains("Approvals: who approved what") && html.contains("&lt;script&gt;alert(1)"), "report escapes and lists approvals");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script src"), "no external assets");
    let jsonl = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    assert_eq!(jsonl.lines().count(), 7);

    let report = bundle::verify_bundle(&dir, &[key.verifier()]).expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!((report.events, report.records, report.checkpoint_size, report.independently_trusted), (7, 4, 12, true));
    let (code, text) = run_python(&dir, Some(&key.verifier()));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok: 7 events and 4 records verified against checkpoint 12"), "{text}");

    // Another key: both verifiers refuse.
    let other = Signer::generate("tollgate-test").expect("key");
    let report = bundle::verify_bundle(&dir, &[other.verifier()]).expect("verify");
    assert!(matches!(report.problem, Some(BundleProblem::Signature(_))), "{:?}", report.problem);
    assert_eq!(run_python(&dir, Some(&other.verifier())).0, 1);
}

/// Rewrites a file of the bundle and fixes its digest in the manifest, as a forger would.
fn forge(dir: &Path, name: &str, edit: impl FnOnce(String) -> String) {
    let path = dir.join(name);
    let text = edit(std::fs::read_to_string(&path).expect("read"));
    std::fs::write(&path, &text).expect("write");
    let mpath = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&mpath).expect("manifest")).expect("json");
    m["files"][name]["sha256"] = json!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())));
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
}

async fn tampered_bundles_are_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate-test").expect("key");
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().join("bundle");
    exported(&db, &key, &base).await;
    let copy = |n: &str| {
        let dir = tmp.path().join(n);
        std::fs::create_dir(&dir).expect("mkdir");
        for entry in std::fs::read_dir(&base).expect("ls") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
        dir
    };
    type Attack = Box<dyn Fn(&Path)>;
    let attacks: Vec<(&str, Attack)> = vec![
        ("file edited, digest not fixed", Box::new(|d: &Path| std::fs::write(d.join("report.html"), "<p>all good</p>").expect("write"))),
        ("payload edited", Box::new(|d: &Path| forge(d, "events.jsonl", |t| t.replacen("\"n\":5", "\"n\":6", 1)))),
        ("event deleted", Box::new(|d: &Path| forge(d, "events.jsonl", |t| t.lines().skip(1).map(|l| format!("{l}\n")).collect()))),
        ("record edited", Box::new(|d: &Path| forge(d, "approvals.jsonl", |t| t.replace("\"bob\"", "\"mallory\"")))),
        ("csv edited", Box::new(|d: &Path| forge(d, "events.csv", |t| t.replacen("alice", "mallory", 1)))),
    ];
    for (i, (what, attack)) in attacks.iter().enumerate() {
        let dir = copy(&format!("attack{i}"));
        attack(&dir);
        let report = bundle::verify_bundle(&dir, &[key.verifier()]).expect("verify");
        assert!(report.problem.is_some(), "{what}: not caught");
        let (code, text) = run_python(&dir, Some(&key.verifier()));
        assert_eq!(code, 1, "{what}: python verifier: {text}");
    }
}

async fn empty_periods_export_empty_files(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate-test").expect("key");
    let store = Store::open(&db.url).await.expect("open");
    let log = AuditLog::new(store).with_signers(key.clone(), vec![]);
    log.append(&[ev(1)]).await.expect("append");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("empty");
    let summary = tollgate_store::export(&log, "2001-01-01T00:00:00Z", "2001-01-02T00:00:00+02:00", &dir).await.expect("export");
    assert_eq!(summary.range, None);
    assert_eq!(std::fs::read_to_string(dir.join("events.jsonl")).expect("events"), "");
    assert!(bundle::verify_bundle(&dir, &[key.verifier()]).expect("verify").problem.is_none());
    assert_eq!(run_python(&dir, Some(&key.verifier())).0, 0);
    // The output directory is never overwritten.
    let again = tollgate_store::export(&log, "2001-01-01T00:00:00Z", "2001-01-02T00:00:00Z", &dir).await;
    assert!(matches!(again, Err(tollgate_store::ExportError::Bundle(bundle::BundleError::OutExists { .. }))));
    assert!(matches!(normalize_time("yesterday"), Err(bundle::BundleError::Time { .. })));
    log.store().close().await;
}

both_backends!(bundle_verifies_offline_in_rust_and_python, tampered_bundles_are_refused, empty_periods_export_empty_files);
