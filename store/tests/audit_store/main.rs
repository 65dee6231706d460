//! Store and audit trail tests, run against real SQLite files and a real PostgreSQL server;
//! every test gets a fresh database.

mod anchors;
mod bundle;
mod control;
mod inbox;
mod procs;
mod support;
mod tamper;
mod watch;

use futures_util::StreamExt as _;
use serde_json::json;
use support::{Backend, TestDb};
use tollgate_audit::KEY_ROTATED;
use tollgate_audit::checkpoint::Signer;
use tollgate_audit::event::{GENESIS, NewEvent, StoredEvent};
use tollgate_audit::verify::Problem;
use tollgate_store::verify_store;
use tollgate_store::{AuditError, AuditLog};
use tollgate_store::{BATCH_ROWS, RecordKind, Store, StoreError};

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
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
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
    let report = verify_store(log.store(), &[old.verifier()], &Default::default()).await.expect("verify");
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
    let report = verify_store(log.store(), &[old.verifier()], &Default::default()).await.expect("verify");
    assert_eq!((report.events, report.checkpoints, report.problem), (14, 5, None));

    // Without the old key's cosignature, the new key is not trusted on its own say-so.
    let stranger = Signer::generate("tollgate-2028").expect("key");
    AuditLog::new(log.store().clone()).with_signers(stranger, vec![]).checkpoint().await.expect("checkpoint");
    let report = verify_store(log.store(), &[old.verifier()], &Default::default()).await.expect("verify");
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
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
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

/// The rows of `event_batches(from, to)`, checked to come in batches of at most `BATCH_ROWS`.
async fn batched(store: &Store, from: u64, to: u64) -> Vec<StoredEvent> {
    let mut batches = store.event_batches(from, to);
    let mut out = Vec::new();
    while let Some(batch) = batches.next().await {
        let batch = batch.expect("batch");
        assert!(!batch.is_empty() && batch.len() <= BATCH_ROWS, "{}", batch.len());
        out.extend(batch.iter().map(|row| row.to_stored()));
    }
    out
}

/// The bulk read path behind `audit verify` returns exactly what `Store::events` returns, over
/// batch boundaries, partial ranges and empty ones, including tampered rows.
async fn event_batches_match_events(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let n = 2 * BATCH_ROWS as u64 + 37;
    let events: Vec<_> = (1..=n).map(ev).collect();
    for chunk in events.chunks(500) {
        store.append(chunk).await.expect("append");
    }
    db.drop_guards().await;
    // Rows as an attacker may leave them: a deleted row, an edited column, an empty body.
    db.exec(&format!(
        "DELETE FROM audit_events WHERE seq = 1030; UPDATE audit_events SET actor = 'mallory', body = {} WHERE seq = 7;",
        db.blob(b"")
    ))
    .await;
    let ranges = [(1, u64::MAX), (1, n), (1000, 2100), (BATCH_ROWS as u64, BATCH_ROWS as u64 + 1), (5, 5), (n + 1, u64::MAX), (9, 3)];
    for (from, to) in ranges {
        let plain: Vec<_> = store.events(from, to).map(|r| r.expect("row")).collect().await;
        let bulk = batched(&store, from, to).await;
        assert_eq!(bulk.len(), plain.len(), "{from}..={to}");
        assert!(bulk == plain, "rows differ in {from}..={to}");
    }
    assert_eq!(batched(&store, 1, u64::MAX).await.len() as u64, n - 1);
    store.close().await;
}

/// `promotion_events` returns exactly the `promotion.*` events `events` returns, in order, over
/// any range, and the planner reads them through their partial index.
async fn promotion_events_are_read_through_their_index(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let actions = ["promotion.pull_request_opened", "test.event", "promotion.pull_request_merged", "promotion.failed", "promotionXfailed"];
    let events: Vec<_> = (0..500u64)
        .map(|i| NewEvent::new("bot", actions[(i % 5) as usize], format!("deploy/dev/m{}", i % 7), json!({ "n": i })).expect("event"))
        .collect();
    store.append(&events).await.expect("append");
    for (from, to) in [(1, u64::MAX), (1, 500), (37, 263), (3, 3), (501, u64::MAX), (9, 3)] {
        let want: Vec<_> = store
            .events(from, to)
            .map(|r| r.expect("row"))
            .filter(|e| std::future::ready(e.action.starts_with("promotion.")))
            .collect()
            .await;
        let got: Vec<_> = store.promotion_events(from, to).map(|r| r.expect("row")).collect().await;
        assert!(got == want, "{from}..={to}: {} rows, want {}", got.len(), want.len());
    }
    assert_eq!(store.promotion_events(1, u64::MAX).count().await, 300);
    let plan = db
        .query_text(match backend {
            Backend::Sqlite => {
                "EXPLAIN QUERY PLAN SELECT seq FROM audit_events WHERE seq >= 1 AND seq <= 100 AND action LIKE 'promotion.%' ORDER BY seq"
            }
            Backend::Postgres => {
                "EXPLAIN SELECT seq FROM audit_events WHERE seq >= 1 AND seq <= 100 AND action LIKE 'promotion.%' ORDER BY seq"
            }
        })
        .await;
    assert!(plan.contains("audit_events_promotions"), "{plan}");
    store.close().await;
}

/// `break_glass_events` returns exactly the break-glass admissions and their reviews, in order,
/// through their partial index.
async fn break_glass_events_are_read_through_their_index(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let actions =
        ["admission.break_glass", "admission.denied", "break_glass.review_requested", "break_glass.reviewed", "break_glass.other"];
    let events: Vec<_> =
        (0..200u64).map(|i| NewEvent::new("u", actions[(i % 5) as usize], format!("s{i}"), json!({ "n": i })).expect("event")).collect();
    store.append(&events).await.expect("append");
    let got: Vec<_> = store.break_glass_events(1, u64::MAX).map(|r| r.expect("row")).collect().await;
    assert_eq!(got.len(), 120);
    assert_eq!(
        got.iter().take(4).map(|e| (e.seq, e.action.as_str())).collect::<Vec<_>>(),
        [(1, "admission.break_glass"), (3, "break_glass.review_requested"), (4, "break_glass.reviewed"), (6, "admission.break_glass")]
    );
    assert_eq!(store.break_glass_events(50, 60).count().await, 6);
    let plan = db
        .query_text(match backend {
            Backend::Sqlite => {
                "EXPLAIN QUERY PLAN SELECT seq FROM audit_events WHERE seq >= 1 AND seq <= 100 AND action IN ('admission.break_glass', 'break_glass.review_requested', 'break_glass.reviewed') ORDER BY seq"
            }
            Backend::Postgres => {
                "EXPLAIN SELECT seq FROM audit_events WHERE seq >= 1 AND seq <= 100 AND action IN ('admission.break_glass', 'break_glass.review_requested', 'break_glass.reviewed') ORDER BY seq"
            }
        })
        .await;
    assert!(plan.contains("audit_events_break_glass"), "{plan}");
    store.close().await;
}

/// An in-memory SQLite database has no file for the bulk reader; it batches sqlx's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_batches_of_an_in_memory_database() {
    let store = Store::open("sqlite::memory:").await.expect("open");
    store.append(&(1..=BATCH_ROWS as u64 + 1).map(ev).collect::<Vec<_>>()).await.expect("append");
    let plain: Vec<_> = store.events(1, u64::MAX).map(|r| r.expect("row")).collect().await;
    assert_eq!(plain.len(), BATCH_ROWS + 1);
    assert!(batched(&store, 1, u64::MAX).await == plain);
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
    assert_eq!((report.events, report.problem), (BATCH_ROWS as u64 + 1, None));
    store.close().await;
}

/// Dropping the batches stops the reader; the store stays usable.
async fn event_batches_can_be_dropped_early(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    store.append(&(1..=3 * BATCH_ROWS as u64).map(ev).collect::<Vec<_>>()).await.expect("append");
    let mut batches = store.event_batches(1, u64::MAX);
    assert_eq!(batches.next().await.expect("a batch").expect("batch").len(), BATCH_ROWS);
    drop(batches);
    store.append(&[ev(0)]).await.expect("append after an abandoned read");
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
    assert_eq!((report.events, report.problem), (3 * BATCH_ROWS as u64 + 1, None));
    store.close().await;
}

async fn unsupported_urls_are_refused(_backend: Backend) {
    let err = Store::open("mysql://user:secret@host/db").await.expect_err("unsupported");
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    assert!(!err.to_string().contains("secret"), "{err}");
}

/// Regression (issue #12 item 3): an append read the head and wrote after it without checking
/// that it named the last event, so a zeroed head, a head ahead of or behind the log, or a
/// deleted last event had events written after them. Each is refused now, naming the mismatch,
/// with nothing written; a sound head appends as before.
async fn appends_refuse_a_head_that_does_not_match_the_last_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    store.append(&[ev(1), ev(2), ev(3)]).await.expect("append");
    let three = store.events(3, 3).next().await.expect("row").expect("event");
    let two = store.events(2, 2).next().await.expect("row").expect("event");
    db.drop_guards().await;
    let zero = db.blob(&[0u8; 32]);
    let cases = [
        (
            "zeroed hash",
            format!("UPDATE audit_head SET hash = {zero} WHERE id = 1;"),
            "the audit head (size 3) does not match the last event in the log (event 3, whose hash differs); nothing was written",
        ),
        (
            "ahead",
            "UPDATE audit_head SET size = 5 WHERE id = 1;".to_owned(),
            "the audit head (size 5) does not match the last event in the log (event 3); nothing was written",
        ),
        (
            "behind",
            format!("UPDATE audit_head SET size = 2, hash = {} WHERE id = 1;", db.blob(&two.hash)),
            "the audit head (size 2) does not match the last event in the log (event 3); nothing was written",
        ),
        (
            "last event deleted",
            "DELETE FROM audit_events WHERE seq = 3;".to_owned(),
            "the audit head (size 3) does not match the last event in the log (event 2); nothing was written",
        ),
    ];
    let sound = format!("UPDATE audit_head SET size = 3, hash = {} WHERE id = 1;", db.blob(&three.hash));
    for (what, attack, message) in cases {
        db.exec(&attack).await;
        let err = store.append(&[ev(9)]).await.expect_err(what);
        assert!(matches!(err, StoreError::HeadMismatch { .. }), "{what}: {err:?}");
        assert_eq!(err.to_string(), message, "{what}");
        let log = AuditLog::new(store.clone());
        assert!(matches!(log.append(&[ev(9)]).await, Err(AuditError::Store(StoreError::HeadMismatch { .. }))), "{what}: through AuditLog");
        let rows: Vec<_> = store.events(1, 100).collect::<Vec<_>>().await;
        assert!(rows.len() <= 3, "{what}: an event was written after the head");
        // Put the log back as it was.
        if what == "last event deleted" {
            let mut restore = format!(
                "INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) VALUES (3, '{}', '{}', '{}', '{}', {}, {}, {});",
                three.time,
                three.actor,
                three.action,
                three.subject,
                db.blob(&three.body),
                db.blob(&three.prev_hash),
                db.blob(&three.hash)
            );
            restore.push_str(&sound);
            db.exec(&restore).await;
        } else {
            db.exec(&sound).await;
        }
    }
    assert_eq!(store.append(&[ev(4)]).await.expect("a sound head appends")[0].seq, 4);
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
    assert_eq!((report.events, report.problem), (4, None));
    store.close().await;
}

/// Dashboard sessions: stored by the id's hash, read while live by any handle on the database,
/// ended ones neither read nor kept once a new session starts, ended at sign-out.
async fn dashboard_sessions_are_shared_live_and_ended(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = (Store::open(&db.url).await.expect("open"), Store::open(&db.url).await.expect("open"));
    let row = |n: u8, expires_at: i64| tollgate_store::SessionRow {
        id_hash: [n; 32],
        user: format!("user{n}"),
        token_id: format!("tok{n}"),
        csrf: format!("csrf{n}"),
        expires_at,
    };
    a.start_session(&row(1, 1_000), 100).await.expect("start");
    a.start_session(&row(2, 5_000), 100).await.expect("start");
    assert_eq!(b.session(&[1; 32], 999).await.expect("read"), Some(row(1, 1_000)));
    assert_eq!(b.session(&[1; 32], 1_000).await.expect("read"), None, "ended at its expiry");
    assert_eq!(b.session(&[9; 32], 0).await.expect("read"), None);
    // A new session clears the ended ones: session 1 is gone even for an earlier clock.
    b.start_session(&row(3, 9_000), 2_000).await.expect("start");
    assert_eq!(a.session(&[1; 32], 0).await.expect("read"), None);
    assert_eq!(a.session(&[2; 32], 2_000).await.expect("read"), Some(row(2, 5_000)));
    a.end_session(&[2; 32]).await.expect("end");
    assert_eq!(b.session(&[2; 32], 2_000).await.expect("read"), None);
    assert_eq!(b.session(&[3; 32], 2_000).await.expect("read"), Some(row(3, 9_000)));
    a.close().await;
    b.close().await;
}

both_backends!(
    appends_refuse_a_head_that_does_not_match_the_last_event,
    appends_chain_in_order,
    records_are_written_with_their_event,
    checkpoints_pin_the_log_and_rotation_is_an_event,
    concurrent_appends_in_one_process_never_fork,
    writers_refuse_a_log_truncated_behind_its_checkpoint,
    unsupported_urls_are_refused,
    event_batches_match_events,
    event_batches_can_be_dropped_early,
    promotion_events_are_read_through_their_index,
    break_glass_events_are_read_through_their_index,
    dashboard_sessions_are_shared_live_and_ended,
);
