//! Store and audit trail tests, run against real SQLite files and a real PostgreSQL server;
//! every test gets a fresh database.

mod bundle;
mod control;
mod procs;
mod support;
mod tamper;

use futures_util::StreamExt as _;
use serde_json::json;
use support::{Backend, TestDb};
use tollgate_controller::audit::checkpoint::Signer;
use tollgate_controller::audit::event::{GENESIS, NewEvent};
use tollgate_controller::audit::verify::{Problem, verify_store};
use tollgate_controller::audit::{AuditError, AuditLog, KEY_ROTATED};
use tollgate_controller::store::{RecordKind, Store, StoreError};

pub fn ev(i: u64) -> NewEvent {
    NewEvent::new("alice", "test.event", format!("thing/{i}"), json!({ "n": i, "note": "x" })).expect("valid event")
}

/// A log of `n` events with a checkpoint after every `every` (signed by `signer`).
pub async fn seeded(db: &TestDb, n: u64, every: u64, signer: &Signer) -> AuditLog {
    let store = Store::open(&db.url).await.expect("open");
    let log = AuditLog::new(store).with_signers(signer.clone(), vec![]).with_checkpoint_every(every);
    for i in 1..=n {
        log.append(&[ev(i)]).await.expect("append");
    }
    log
}

async fn appends_chain_in_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    assert_eq!(store.head().await.expect("head").size, 0);
    let first = store.append(&[ev(1)]).await.expect("append");
    let batch = store.append(&[ev(2), ev(3), ev(4)]).await.expect("append batch");
    assert_eq!(first[0].seq, 1);
    assert_eq!(first[0].prev_hash, GENESIS);
    assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(batch[0].prev_hash, first[0].hash);
    let head = store.head().await.expect("head");
    assert_eq!((head.size, head.hash), (4, batch[2].hash));
    let stored: Vec<_> = store.events(1, 4).collect::<Vec<_>>().await.into_iter().map(|r| r.expect("row")).collect();
    assert_eq!(stored[1..], batch[..]);
    assert!(store.append(&[]).await.expect("empty append").is_empty());
    let report = verify_store(&store, &[]).await.expect("verify");
    assert_eq!((report.events, report.problem), (4, None));
    store.close().await;
    // Reopening applies no migration twice and keeps the data.
    let again = Store::open(&db.url).await.expect("reopen");
    assert_eq!(again.head().await.expect("head").size, 4);
    again.close().await;
}

async fn records_are_written_with_their_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let doc = json!({ "release": "churn-v7", "environment": "prod", "state": "Blocked", "inputs": { "commit": "abc", "clock": "2026-01-01T00:00:00Z" } });
    let e = store.record(RecordKind::Decision, "tollgate", "release/churn-v7@prod", &doc).await.expect("record");
    assert_eq!((e.seq, e.action.as_str()), (1, "decision.recorded"));
    let rows: Vec<_> = store.records(RecordKind::Decision, 1, 1).collect::<Vec<_>>().await;
    assert_eq!(rows.len(), 1);
    let row = rows.into_iter().next().and_then(Result::ok).expect("row");
    assert_eq!((row.doc, row.audit_seq, row.recorded_at), (doc, 1, e.time));
    for kind in RecordKind::ALL {
        if kind != RecordKind::Decision {
            assert_eq!(store.records(kind, 1, 100).collect::<Vec<_>>().await.len(), 0);
        }
    }
    store.close().await;
}

async fn checkpoints_pin_the_log_and_rotation_is_an_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let old = Signer::generate("tollgate-2026").expect("key");
    let log = seeded(&db, 12, 5, &old).await;
    let cps = log.store().checkpoints().await.expect("checkpoints");
    assert_eq!(cps.iter().map(|c| c.size).collect::<Vec<_>>(), vec![5, 10]);
    let cp = log.checkpoint().await.expect("checkpoint");
    assert_eq!(cp.size, 12);
    assert_eq!(log.checkpoint().await.expect("no new events").size, 12);
    let report = verify_store(log.store(), &[old.verifier()]).await.expect("verify");
    assert_eq!((report.events, report.checkpoints, report.problem), (12, 3, None));

    // Rotate, cosigned by the old key: an auditor who trusts only the old key follows along.
    let new = Signer::generate("tollgate-2027").expect("key");
    let rotated = AuditLog::new(log.store().clone()).with_signers(new.clone(), vec![old.clone()]);
    let cp = rotated.checkpoint().await.expect("rotated checkpoint");
    assert_eq!(cp.size, 13);
    let announce = log.store().events(13, 13).next().await.expect("row").expect("event");
    assert_eq!(announce.action, KEY_ROTATED);
    let later = AuditLog::new(log.store().clone()).with_signers(new.clone(), vec![]);
    later.append(&[ev(14)]).await.expect("append");
    later.checkpoint().await.expect("checkpoint by the new key alone");
    let report = verify_store(log.store(), &[old.verifier()]).await.expect("verify");
    assert_eq!((report.events, report.checkpoints, report.problem), (14, 5, None));

    // Without the old key's cosignature, the new key is not trusted on its own say-so.
    let stranger = Signer::generate("tollgate-2028").expect("key");
    AuditLog::new(log.store().clone()).with_signers(stranger, vec![]).checkpoint().await.expect("checkpoint");
    let report = verify_store(log.store(), &[old.verifier()]).await.expect("verify");
    assert!(matches!(report.problem, Some(Problem::BadSignature { size: 15, .. })), "{:?}", report.problem);
    log.store().close().await;
}

async fn concurrent_appends_in_one_process_never_fork(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                loop {
                    match store.append(&[ev(t * 100 + i)]).await {
                        Ok(_) => break,
                        Err(StoreError::HeadMoved) => continue,
                        Err(err) => panic!("append failed: {err:?}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let report = verify_store(&store, &[]).await.expect("verify");
    assert_eq!((report.events, report.problem), (60, None));
    store.close().await;
}

async fn writers_refuse_a_log_truncated_behind_its_checkpoint(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate").expect("key");
    let log = seeded(&db, 12, 5, &key).await;
    log.check_start().await.expect("a sound log may be written");
    let seven = log.store().events(7, 7).next().await.expect("row").expect("event");
    db.drop_guards().await;
    db.exec(&format!(
        "DELETE FROM audit_events WHERE seq > 7; UPDATE audit_head SET size = 7, hash = {} WHERE id = 1;",
        db.blob(&seven.hash)
    ))
    .await;
    let err = log.check_start().await.expect_err("truncated behind checkpoint 10");
    assert!(matches!(err, AuditError::Inconsistent { size: 10 }), "{err:?}");
    assert!(matches!(log.checkpoint().await, Err(AuditError::Inconsistent { .. }) | Err(AuditError::Corrupt { .. })));
    log.store().close().await;
}

async fn unsupported_urls_are_refused(_backend: Backend) {
    let err = Store::open("mysql://user:secret@host/db").await.expect_err("unsupported");
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    assert!(!err.to_string().contains("secret"), "{err}");
}

both_backends!(
    appends_chain_in_order,
    records_are_written_with_their_event,
    checkpoints_pin_the_log_and_rotation_is_an_event,
    concurrent_appends_in_one_process_never_fork,
    writers_refuse_a_log_truncated_behind_its_checkpoint,
    unsupported_urls_are_refused,
);
