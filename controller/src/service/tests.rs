use std::time::{Duration, Instant};

use tollgate_store::{AuditLog, Store};
use tollgate_test_support::{commit_all, committed_examples, edit};

use super::{Service, ServiceError};
use crate::reconcile::{GateSettings, Options};

async fn service(dir: &std::path::Path) -> Service {
    let store = Store::open(&format!("sqlite://{}", dir.join("tollgate.db").display())).await.unwrap();
    let opts = Options {
        repo: dir.join("config"),
        rev: "HEAD".into(),
        now: jiff::Timestamp::now(),
        release: None,
        gates: GateSettings { cache_dir: Some(dir.join("gates")), device: crate::reconcile::Device::Cpu },
        bot: ("tollgate".into(), "bot@acme.example".into()),
        jobs: 1,
    };
    Service::new(AuditLog::new(store), opts, None, Duration::ZERO)
}

/// Regression (issue #11): readiness ran a full prepare (gates included) under the service's
/// lock, so `/readyz` waited behind any prepare in progress and could itself start one. It
/// answers from the last prepare now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_from_the_last_prepare_without_preparing_or_waiting() {
    let (repo, git) = committed_examples();
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo.path(), tmp.path().join("config")).unwrap();
    let service = service(tmp.path()).await;

    // Nothing prepared yet: not ready, and asking prepares nothing.
    let err = service.ready().await.unwrap_err();
    assert!(matches!(err, ServiceError::NotReady { .. }), "{err:?}");
    assert_eq!(err.to_string(), "not ready: the config repo has not been prepared yet");
    assert!(service.cache.lock().await.reconciler.last().is_none(), "readiness prepared the repo");

    let first = service.prepare().await.unwrap();
    assert_eq!(service.ready().await.unwrap(), first);

    // A new commit: readiness still names the last prepared one until something prepares.
    edit(repo.path(), "releases/churn-v3.yaml", "replicas: 1", "replicas: 2");
    commit_all(&git, "churn-v3: two replicas");
    assert_eq!(service.ready().await.unwrap(), first);

    // While a prepare holds the prepared state, readiness answers at once.
    let preparing = service.cache.lock().await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), service.ready()).await.expect("readiness waited for the prepare");
    assert_eq!(answer.unwrap(), first);
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    drop(preparing);

    let second = service.prepare().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(service.ready().await.unwrap(), second);

    // A prepare that fails makes the service not ready, saying why.
    std::fs::remove_file(tmp.path().join("config")).unwrap();
    assert!(service.prepare().await.is_err());
    let err = service.ready().await.unwrap_err();
    assert!(matches!(err, ServiceError::NotReady { .. }), "{err:?}");
}
