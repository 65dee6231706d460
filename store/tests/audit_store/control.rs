//! The controller's store queries on both backends: records by subject, API tokens, leadership.

use std::time::Duration;

use serde_json::json;
use tollgate_decision::approvals;
use tollgate_store::verify_store;
use tollgate_store::{NewRecord, RecordKind, Store, TokenRow};

use crate::both_backends;
use crate::support::{Backend, TestDb};

async fn records_by_subject_come_oldest_first(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    for (i, subject) in ["release/a@dev", "release/b@dev", "release/a@dev"].iter().enumerate() {
        store.record(RecordKind::Approval, "alice", subject, &json!({"n": i})).await.expect("record");
    }
    let a = store.records_for(RecordKind::Approval, "release/a@dev").await.expect("query");
    assert_eq!(a.iter().map(|r| (r.audit_seq, r.doc["n"].as_u64())).collect::<Vec<_>>(), vec![(1, Some(0)), (3, Some(2))]);
    let latest = store.latest_record(RecordKind::Approval, "release/a@dev").await.expect("query").expect("one");
    assert_eq!(latest.audit_seq, 3);
    assert!(store.latest_record(RecordKind::Decision, "release/a@dev").await.expect("query").is_none(), "other kinds are apart");
    assert!(store.records_for(RecordKind::Approval, "release/c@dev").await.expect("query").is_empty());
    store.close().await;
}

async fn many_records_in_one_transaction_each_with_its_own_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    store.append(&[crate::ev(1)]).await.expect("append");
    let rec = |kind, subject: &str, n: u64| NewRecord { kind, actor: "tollgate".into(), subject: subject.into(), doc: json!({"n": n}) };
    let stored = store
        .record_many(&[
            rec(RecordKind::Release, "release/a", 1),
            rec(RecordKind::Decision, "release/a@dev", 2),
            rec(RecordKind::Decision, "release/a@staging", 3),
        ])
        .await
        .expect("record many");
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(stored[1].action, "decision.recorded");
    assert_eq!(stored[1].subject, "release/a@dev");
    // Each record points at its own event, not the batch's last.
    let dev = store.latest_record(RecordKind::Decision, "release/a@dev").await.expect("query").expect("one");
    assert_eq!((dev.audit_seq, dev.doc["n"].as_u64()), (3, Some(2)));
    let release = store.latest_record(RecordKind::Release, "release/a").await.expect("query").expect("one");
    assert_eq!(release.audit_seq, 2);
    assert!(store.record_many(&[]).await.expect("nothing").is_empty());
    // A record that cannot be encoded writes none of the batch.
    let bad = NewRecord { kind: RecordKind::Decision, actor: String::new(), subject: "release/b@dev".into(), doc: json!({}) };
    assert!(store.record_many(&[rec(RecordKind::Decision, "release/b@dev", 9), bad]).await.is_err());
    assert!(store.latest_record(RecordKind::Decision, "release/b@dev").await.expect("query").is_none());
    assert_eq!(store.head().await.expect("head").size, 4);
    let report = verify_store(&store, &[], &Default::default()).await.expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    store.close().await;
}

async fn tokens_are_stored_hashed_and_revoked_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let seq = store.append(&[crate::ev(1)]).await.expect("append")[0].seq;
    let t = approvals::mint_token().expect("token");
    let row = TokenRow {
        id: t.id.clone(),
        user: "bob".into(),
        secret_hash: t.secret_hash.clone(),
        created_at: "2026-11-28T10:00:00Z".into(),
        revoked_at: None,
        audit_seq: seq,
    };
    store.insert_token(&row).await.expect("insert");
    assert!(store.insert_token(&row).await.is_err(), "ids are unique");
    let back = store.token(&t.id).await.expect("read").expect("present");
    assert_eq!(back, row);
    let (_, secret) = approvals::parse_token(&t.token).expect("parse");
    assert!(approvals::secret_matches(secret, &back.secret_hash));
    assert!(!back.secret_hash.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret itself is not stored");
    assert!(store.revoke_token(&t.id, "2026-11-28T11:00:00Z").await.expect("revoke"));
    assert!(!store.revoke_token(&t.id, "2026-11-28T12:00:00Z").await.expect("revoke"), "revoked once");
    assert_eq!(store.token(&t.id).await.expect("read").expect("present").revoked_at.as_deref(), Some("2026-11-28T11:00:00Z"));
    assert_eq!(store.tokens().await.expect("list").len(), 1);
    assert!(store.token("000000000000").await.expect("read").is_none());
    store.close().await;
}

async fn one_leader_at_a_time(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = Store::open(&db.url).await.expect("open");
    let b = Store::open(&db.url).await.expect("open");
    let ttl = Duration::from_millis(600);
    let mut lead = a.try_lead("repo", "replica-a", ttl).await.expect("try").expect("the first one leads");
    assert!(b.try_lead("repo", "replica-b", ttl).await.expect("try").is_none(), "a second does not");
    assert!(b.try_lead("other-repo", "replica-b", ttl).await.expect("try").is_some(), "leadership is per repo");
    assert!(lead.renew().await.expect("renew"));
    lead.release().await;
    let mut taken = b.try_lead("repo", "replica-b", ttl).await.expect("try").expect("released leadership is free at once");
    assert!(taken.renew().await.expect("renew"));
    if backend == Backend::Sqlite {
        // A lease left behind by a dead holder expires; the same replica name resumes it at once.
        drop(taken);
        assert!(a.try_lead("repo", "replica-a", ttl).await.expect("try").is_none(), "not before it expires");
        assert!(b.try_lead("repo", "replica-b", ttl).await.expect("try").is_some(), "its holder resumes it");
        tokio::time::sleep(ttl * 2).await;
        assert!(a.try_lead("repo", "replica-a", ttl).await.expect("try").is_some(), "an expired lease is taken over");
    } else {
        // A dropped connection releases the advisory lock.
        drop(taken);
        let mut got = None;
        for _ in 0..50 {
            got = a.try_lead("repo", "replica-a", ttl).await.expect("try");
            if got.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(got.is_some(), "the lock is free once its connection closes");
    }
    a.close().await;
    b.close().await;
}

both_backends!(
    records_by_subject_come_oldest_first,
    many_records_in_one_transaction_each_with_its_own_event,
    tokens_are_stored_hashed_and_revoked_once,
    one_leader_at_a_time
);
