use std::time::{Duration, Instant};

use tollgate_store::{AuditLog, Store};
use tollgate_test_support::{commit_all, committed_examples, edit};

use super::{Service, ServiceError};
use crate::reconcile::{GateSettings, Options};

/// A service over the config repo `repo`, linked as `dir/config` (see [`service`]).
async fn service_over(repo: &std::path::Path, dir: &std::path::Path) -> Service {
    std::os::unix::fs::symlink(repo, dir.join("config")).unwrap();
    service(dir).await
}

/// A service over the config repo `dir/config`, with its SQLite store and gate cache in `dir`.
async fn service(dir: &std::path::Path) -> Service {
    let store = Store::open(&format!("sqlite://{}", dir.join("tollgate.db").display())).await.unwrap();
    let opts = Options {
        repo: dir.join("config"),
        rev: "HEAD".into(),
        now: jiff::Timestamp::now(),
        release: None,
        gates: GateSettings { cache_dir: Some(dir.join("gates")), device: crate::reconcile::Device::Cpu, kubernetes: None },
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
    let service = service_over(repo.path(), tmp.path()).await;

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

/// Regression (issue #12 item 1): a merged recursive policy overflowed the stack in the prepare
/// that readiness, the API and the reconciler run, aborting the server. It is refused when the
/// bundle compiles now and the service stays up: a service that had a good bundle keeps it (the
/// contract: a broken bundle is rejected and the last good one kept), one that never had one
/// promotes nothing. A policy that compiles but runs too long is stopped at its time budget and
/// holds every release. Removing them makes the service whole again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_or_endless_policy_never_takes_the_service_down() {
    let (repo, git) = committed_examples();
    let tmp = tempfile::tempdir().unwrap();
    let service = service_over(repo.path(), tmp.path()).await;
    service.prepare().await.unwrap();
    use tollgate_decision::State;
    let states = |status: &super::StatusReport| -> Vec<(String, String, State)> {
        status.decisions.iter().map(|d| (d.release.clone(), d.environment.clone(), d.state)).collect()
    };
    let before = states(&service.status(jiff::Timestamp::now(), None).await.unwrap());
    // Nothing moves: each release is blocked where it would enter next, for the policy's
    // reason, and waits behind that everywhere after.
    let held_by = |status: &super::StatusReport, needle: &str| {
        let blocked: Vec<_> = status.decisions.iter().filter(|d| d.state == State::Blocked).collect();
        assert!(!blocked.is_empty(), "{:?}", status.decisions);
        assert!(status.decisions.iter().all(|d| matches!(d.state, State::Blocked | State::Pending)), "{:?}", status.decisions);
        assert!(blocked.iter().all(|d| d.reasons.iter().any(|r| r.message.contains(needle))), "{:?}", status.decisions);
    };

    std::fs::write(
        repo.path().join("policies/loop.rego"),
        "package tollgate.release\n\nspin(n) := spin(n + 1)\n\ndeny contains \"spun\" if spin(0) > 0\n",
    )
    .unwrap();
    commit_all(&git, "a recursive policy");
    let recursive = "`data.tollgate.release.spin` is recursive: data.tollgate.release.spin -> data.tollgate.release.spin";
    service.prepare().await.unwrap();
    assert!(service.ready().await.is_ok());
    // The last good bundle is kept: every decision is what it was, and the refusal is said.
    let status = service.status(jiff::Timestamp::now(), None).await.unwrap();
    assert_eq!(states(&status), before);
    {
        let cache = service.cache.lock().await;
        let prepared = cache.reconciler.last().expect("prepared");
        let refused: Vec<_> = prepared.findings().iter().filter(|f| f.rule == "policy-bundle-refused").collect();
        assert_eq!(refused.len(), 1, "{:?}", prepared.findings());
        assert!(refused[0].message.starts_with(recursive) && refused[0].message.contains("the last good one"), "{}", refused[0].message);
        assert!(prepared.fatal.is_empty(), "{:?}", prepared.fatal);
    }
    // A service that never had a good bundle (a restart) promotes nothing.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = service_over(repo.path(), fresh_dir.path()).await;
    fresh.prepare().await.unwrap();
    held_by(&fresh.status(jiff::Timestamp::now(), None).await.unwrap(), recursive);

    // Not recursive, but it would run for minutes: stopped at a 100 ms budget. That new bundle
    // is refused as well, and the last good one kept; a service without one holds everything.
    std::fs::write(
        repo.path().join("policies/loop.rego"),
        "package tollgate.release\n\ndeny contains \"pairs\" if count({[a, b] | some a in numbers.range(1, 5000); some b in numbers.range(1, 5000)}) > 0\n",
    )
    .unwrap();
    edit(repo.path(), "tollgate.yaml", "policies:\n", "policies:\n    timeout: 100ms\n");
    commit_all(&git, "an endless policy");
    service.prepare().await.unwrap();
    let stopped = "(policies/loop.rego) was stopped: it exceeded its time budget of 100ms";
    assert_eq!(states(&service.status(jiff::Timestamp::now(), None).await.unwrap()), before);
    {
        let cache = service.cache.lock().await;
        let prepared = cache.reconciler.last().expect("prepared");
        let refused: Vec<_> = prepared.findings().iter().filter(|f| f.rule == "policy-bundle-refused").collect();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].message.contains(stopped) && refused[0].message.contains("the last good one"), "{}", refused[0].message);
    }
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = service_over(repo.path(), fresh_dir.path()).await;
    fresh.prepare().await.unwrap();
    held_by(&fresh.status(jiff::Timestamp::now(), None).await.unwrap(), stopped);

    std::fs::remove_file(repo.path().join("policies/loop.rego")).unwrap();
    commit_all(&git, "policies fixed");
    service.prepare().await.unwrap();
    let status = service.status(jiff::Timestamp::now(), None).await.unwrap();
    assert!(!status.decisions.iter().any(|d| d.reasons.iter().any(|r| r.message.contains(stopped))), "{:?}", status.decisions);
    assert!(status.decisions.iter().any(|d| !matches!(d.state, State::Blocked | State::Pending)), "{:?}", status.decisions);
}

/// The decisions the service keeps are the decisions made afresh: an approval makes its
/// (release, environment) decided again and nothing else, and the whole list equals what a new
/// service over the same repo and store decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_decisions_follow_the_store_as_deciding_afresh_would() {
    let (repo, _git) = committed_examples();
    let tmp = tempfile::tempdir().unwrap();
    let kept = service_over(repo.path(), tmp.path()).await;
    let at = jiff::Timestamp::now();
    let before = kept.shared_status(at, None).await.unwrap();
    // Nothing moved: the same decisions, not made again.
    let again = kept.shared_status(at, None).await.unwrap();
    assert!(before.decisions.iter().zip(again.decisions.iter()).all(|(a, b)| std::sync::Arc::ptr_eq(a, b)));

    let approved = kept.approve("alice", "churn-v3", "staging", None, super::Via::Api).await.unwrap();
    let after = kept.shared_status(at, None).await.unwrap();
    let changed: Vec<(&str, &str)> = before
        .decisions
        .iter()
        .zip(after.decisions.iter())
        .filter(|(a, b)| !std::sync::Arc::ptr_eq(a, b))
        .map(|(_, b)| (b.release.as_str(), b.environment.as_str()))
        .collect();
    assert_eq!(changed, [("churn-v3", "staging")], "{approved:?}");
    let staging = after.decisions.iter().find(|d| d.release == "churn-v3" && d.environment == "staging").unwrap();
    assert_eq!(staging.inputs.approvals.counted.len() + staging.inputs.approvals.ignored.len(), 1, "{staging:?}");

    let fresh = service(tmp.path()).await;
    let mut afresh = fresh.status(at, None).await.unwrap().decisions;
    let mut kept_now = kept.status(at, None).await.unwrap().decisions;
    for d in afresh.iter_mut().chain(kept_now.iter_mut()) {
        d.inputs.now.clear();
    }
    assert_eq!(kept_now, afresh);
}
