//! Every way of tampering with the stored log that matters is caught by `verify_store`, which
//! names the first bad row.

use crate::support::{Backend, TestDb};
use crate::{both_backends, ev, seeded};
use futures_util::StreamExt as _;
use tollgate_audit::checkpoint::{Checkpoint, Signer};
use tollgate_audit::event::{self, GENESIS};
use tollgate_audit::verify::Problem;
use tollgate_store::verify_store;

/// A log of 12 events with checkpoints at 5 and 10, tampered by `attack`, then verified.
async fn attacked(backend: Backend, attack: impl AsyncFnOnce(&TestDb, &Signer)) -> Option<Problem> {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate").expect("key");
    let log = seeded(&db, 12, 5, &key).await;
    let clean = verify_store(log.store(), &[key.verifier()], &Default::default()).await.expect("verify");
    assert_eq!((clean.events, clean.checkpoints, clean.problem), (12, 2, None));
    db.drop_guards().await;
    attack(&db, &key).await;
    let report = verify_store(log.store(), &[key.verifier()], &Default::default()).await.expect("verify");
    log.store().close().await;
    report.problem
}

/// SQL that edits event `seq`'s body (`from` to `to`) and recomputes the hashes of events
/// `1..=last` and the head, as an attacker with write access would.
pub async fn rewritten_chain(db: &TestDb, last: u64, seq: u64, from: &str, to: &str) -> String {
    let store = tollgate_store::Store::open(&db.url).await.expect("open");
    let rows: Vec<_> = store.events(1, last).map(|r| r.expect("row")).collect().await;
    store.close().await;
    let mut prev = GENESIS;
    let mut sql = String::new();
    for row in rows {
        let mut body = row.body.clone();
        if row.seq == seq {
            body = String::from_utf8(body).expect("utf-8").replace(from, to).into_bytes();
        }
        let hash = event::chain_hash(&prev, &body);
        sql.push_str(&format!(
            "UPDATE audit_events SET body = {}, prev_hash = {}, hash = {} WHERE seq = {};\n",
            db.blob(&body),
            db.blob(&prev),
            db.blob(&hash),
            row.seq
        ));
        prev = hash;
    }
    sql.push_str(&format!("UPDATE audit_head SET hash = {} WHERE id = 1;", db.blob(&prev)));
    sql
}

fn edit_body_sql(db: &TestDb, seq: u64, from: &str, to: &str) -> String {
    match db.backend {
        Backend::Sqlite => {
            format!("UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), '{from}', '{to}') AS BLOB) WHERE seq = {seq};")
        }
        Backend::Postgres => format!(
            "UPDATE audit_events SET body = convert_to(replace(convert_from(body, 'UTF8'), '{from}', '{to}'), 'UTF8') WHERE seq = {seq};"
        ),
    }
}

async fn payload_edited(backend: Backend) {
    let problem = attacked(backend, async |db, _| db.exec(&edit_body_sql(db, 7, "\"n\":7", "\"n\":8")).await).await;
    assert_eq!(problem, Some(Problem::HashMismatch { seq: 7 }));
}

/// The attacker edits a payload and recomputes every later hash and the head: only the
/// signed checkpoint can tell, and it does.
async fn payload_edited_and_chain_recomputed(backend: Backend) {
    let problem = attacked(backend, async |db, _| db.exec(&rewritten_chain(db, 12, 3, "\"n\":3", "\"n\":33").await).await).await;
    assert_eq!(problem, Some(Problem::CheckpointMismatch { size: 5 }));
}

async fn column_edited(backend: Backend) {
    let problem = attacked(backend, async |db, _| db.exec("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4;").await).await;
    assert_eq!(problem, Some(Problem::ColumnMismatch { seq: 4, column: "actor" }));
}

async fn row_deleted(backend: Backend) {
    let problem = attacked(backend, async |db, _| db.exec("DELETE FROM audit_events WHERE seq = 6;").await).await;
    assert_eq!(problem, Some(Problem::Missing { expected: 6, found: 7 }));
}

async fn rows_swapped(backend: Backend) {
    let problem = attacked(backend, async |db, _| {
        db.exec(
            "UPDATE audit_events SET seq = -3 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 4; \
             UPDATE audit_events SET seq = 4 WHERE seq = -3;",
        )
        .await
    })
    .await;
    assert_eq!(problem, Some(Problem::SeqMismatch { seq: 3, body_seq: 4 }));
}

/// A forged event is slid in at 6 with a correct link to event 5; everything after moves up.
async fn row_inserted(backend: Backend) {
    let problem = attacked(backend, async |db, _| {
        let store = tollgate_store::Store::open(&db.url).await.expect("open");
        let five = store.events(5, 5).next().await.expect("row").expect("event");
        store.close().await;
        let body = ev(99).encode(6, &five.time).expect("encode");
        let hash = event::chain_hash(&five.hash, &body);
        db.exec(&format!(
            "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 6; UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000; \
             INSERT INTO audit_events (seq, time, actor, action, subject, body, prev_hash, hash) \
             VALUES (6, '{}', 'alice', 'test.event', 'thing/99', {}, {}, {});",
            five.time,
            db.blob(&body),
            db.blob(&five.hash),
            db.blob(&hash)
        ))
        .await;
    })
    .await;
    assert_eq!(problem, Some(Problem::SeqMismatch { seq: 7, body_seq: 6 }));
}

async fn tail_truncated_behind_checkpoint(backend: Backend) {
    let problem = attacked(backend, async |db, _| {
        let store = tollgate_store::Store::open(&db.url).await.expect("open");
        let seven = store.events(7, 7).next().await.expect("row").expect("event");
        store.close().await;
        db.exec(&format!(
            "DELETE FROM audit_events WHERE seq > 7; UPDATE audit_head SET size = 7, hash = {} WHERE id = 1;",
            db.blob(&seven.hash)
        ))
        .await;
    })
    .await;
    assert_eq!(problem, Some(Problem::TruncatedBehindCheckpoint { size: 10, last: 7 }));
}

async fn tail_truncated_without_head_update(backend: Backend) {
    let problem = attacked(backend, async |db, _| db.exec("DELETE FROM audit_events WHERE seq > 11;").await).await;
    assert_eq!(problem, Some(Problem::HeadMismatch { head: 12, found: 11 }));
}

async fn checkpoint_forged_with_another_key(backend: Backend) {
    let problem = attacked(backend, async |db, _| {
        let store = tollgate_store::Store::open(&db.url).await.expect("open");
        let cp = store.checkpoints().await.expect("checkpoints").pop().expect("a checkpoint");
        store.close().await;
        let (body, _) = cp.note.split_once("\n\n").expect("note");
        let parsed = Checkpoint::parse_body(&format!("{body}\n")).expect("body");
        let forger = Signer::generate("tollgate").expect("key");
        let forged = parsed.sign(&[&forger]);
        db.exec(&format!("UPDATE audit_checkpoints SET note = '{forged}' WHERE size = {};", cp.size)).await;
    })
    .await;
    assert!(matches!(problem, Some(Problem::BadSignature { size: 10, .. })), "{problem:?}");
}

async fn checkpoint_row_edited(backend: Backend) {
    let problem = attacked(backend, async |db, _| {
        db.exec(&format!("UPDATE audit_checkpoints SET root = {} WHERE size = 5;", db.blob(&[9; 32]))).await
    })
    .await;
    assert_eq!(problem, Some(Problem::CheckpointRowMismatch { size: 5 }));
}

both_backends!(
    payload_edited,
    payload_edited_and_chain_recomputed,
    column_edited,
    row_deleted,
    rows_swapped,
    row_inserted,
    tail_truncated_behind_checkpoint,
    tail_truncated_without_head_update,
    checkpoint_forged_with_another_key,
    checkpoint_row_edited,
);
