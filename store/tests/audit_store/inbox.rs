//! The webhook inbox and the evaluated pull-request heads, on both backends.

use std::collections::HashSet;

use tollgate_store::{Delivery, DeliveryOutcome, Enqueued, FailedDelivery, InboxCounts, NewDelivery, Store};

use crate::both_backends;
use crate::support::{Backend, TestDb};

/// The delivery `github`/`d{i}`, received at `1000 + i`, with a body that is not UTF-8.
fn delivery(id: &str, i: i64) -> NewDelivery<'_> {
    NewDelivery { source: "github", id, event: "pull_request", body: b"{\"n\":1}\xff", received_at_ms: 1000 + i }
}

fn ids(claimed: &[Delivery]) -> Vec<&str> {
    claimed.iter().map(|d| d.id.as_str()).collect()
}

/// Stores `d0 … d{n-1}`, in order.
async fn enqueue_many(store: &Store, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(store.enqueue_delivery(&delivery(name, i as i64)).await.expect("enqueue"), Enqueued::Queued);
    }
    names
}

async fn a_redelivery_is_a_duplicate(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    assert_eq!(store.enqueue_delivery(&delivery("abc", 0)).await.expect("enqueue"), Enqueued::Queued);
    let again = NewDelivery { event: "push", body: b"other", received_at_ms: 9999, ..delivery("abc", 0) };
    assert_eq!(store.enqueue_delivery(&again).await.expect("enqueue"), Enqueued::Duplicate);
    // The same id from another source is another delivery.
    let gitlab = NewDelivery { source: "gitlab", ..delivery("abc", 1) };
    assert_eq!(store.enqueue_delivery(&gitlab).await.expect("enqueue"), Enqueued::Queued);
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 2, done: 0, failed: 0 });
    // The first delivery is what was kept, byte for byte.
    let claimed = store.claim_deliveries(10, 5000, 100).await.expect("claim");
    assert_eq!(
        claimed[0],
        Delivery {
            n: claimed[0].n,
            source: "github".into(),
            id: "abc".into(),
            event: "pull_request".into(),
            body: b"{\"n\":1}\xff".to_vec(),
            received_at_ms: 1000,
            attempts: 1,
        }
    );
    assert_eq!((claimed.len(), claimed[1].source.as_str(), claimed[1].id.as_str()), (2, "gitlab", "abc"));
    // Done, it is still a duplicate.
    assert!(store.finish_delivery(&claimed[0], DeliveryOutcome::Done, 5001).await.expect("finish"));
    assert_eq!(store.enqueue_delivery(&again).await.expect("enqueue"), Enqueued::Duplicate);
    store.close().await;
}

async fn claims_come_oldest_first_up_to_the_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    assert!(store.claim_deliveries(10, 0, 100).await.expect("claim").is_empty(), "an empty inbox");
    enqueue_many(&store, 7).await;
    assert!(store.claim_deliveries(0, 0, 100).await.expect("claim").is_empty(), "a limit of 0");
    let first = store.claim_deliveries(3, 0, 100).await.expect("claim");
    assert_eq!(ids(&first), ["d0", "d1", "d2"]);
    assert!(first.windows(2).all(|w| w[0].n < w[1].n), "arrival order");
    assert_eq!(ids(&store.claim_deliveries(3, 0, 100).await.expect("claim")), ["d3", "d4", "d5"]);
    assert_eq!(ids(&store.claim_deliveries(3, 0, 100).await.expect("claim")), ["d6"]);
    assert!(store.claim_deliveries(3, 0, 100).await.expect("claim").is_empty());
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 7, done: 0, failed: 0 });
    store.close().await;
}

/// A claim holds until its lease ends (`claimed_until < now` frees it), and a worker that never
/// finishes (a crash) loses nothing: the delivery is claimed again, with its attempts counted.
async fn a_lease_holds_until_it_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 2).await;
    let first = store.claim_deliveries(1, 10_000, 500).await.expect("claim");
    assert_eq!((ids(&first), first[0].attempts), (vec!["d0"], 1));
    assert_eq!(ids(&store.claim_deliveries(5, 10_000, 500).await.expect("claim")), ["d1"]);
    for now in [10_001, 10_499, 10_500] {
        assert!(store.claim_deliveries(5, now, 500).await.expect("claim").is_empty(), "leased at {now}");
    }
    let again = store.claim_deliveries(5, 10_501, 500).await.expect("claim");
    assert_eq!(again.iter().map(|d| (d.id.as_str(), d.attempts)).collect::<Vec<_>>(), [("d0", 2), ("d1", 2)]);
    // The first worker's claim is stale: it can no longer finish (or release) the delivery.
    assert!(!store.finish_delivery(&first[0], DeliveryOutcome::Retry { error: "late", not_before_ms: 0 }, 10_502).await.expect("finish"));
    assert!(store.claim_deliveries(5, 10_502, 500).await.expect("claim").is_empty(), "the new lease holds");
    assert!(store.finish_delivery(&again[0], DeliveryOutcome::Done, 10_503).await.expect("finish"));
    assert!(!store.finish_delivery(&again[0], DeliveryOutcome::Done, 10_504).await.expect("finish"), "finished once");
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 1, done: 1, failed: 0 });
    store.close().await;
}

/// Two handles on one database (two replicas), two claiming tasks each: every delivery is
/// claimed exactly once while the leases hold.
async fn concurrent_claimers_never_share_a_delivery(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = Store::open(&db.url).await.expect("open");
    let b = Store::open(&db.url).await.expect("open");
    let all = enqueue_many(&a, 300).await;
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let claimed = store.claim_deliveries(7, 50_000, 3_600_000).await.expect("claim");
                if claimed.is_empty() {
                    return got;
                }
                assert!(claimed.windows(2).all(|w| w[0].n < w[1].n), "oldest first");
                got.extend(claimed.into_iter().map(|d| d.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("task"));
    }
    assert_eq!(claimed.len(), 300, "each delivery once");
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(unique, all.iter().collect::<HashSet<_>>());
    a.close().await;
    b.close().await;
}

async fn a_retry_waits_for_its_time(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 2).await;
    let claimed = store.claim_deliveries(1, 100, 1_000_000).await.expect("claim");
    let retry = DeliveryOutcome::Retry { error: "github answered 502", not_before_ms: 2_000 };
    assert!(store.finish_delivery(&claimed[0], retry, 150).await.expect("finish"));
    // Its lease is cleared, but it waits for `not_before` (`not_before <= now` is due).
    assert_eq!(ids(&store.claim_deliveries(5, 1_999, 10).await.expect("claim")), ["d1"]);
    assert!(store.claim_deliveries(5, 1_999, 10).await.expect("claim").is_empty());
    let again = store.claim_deliveries(5, 2_000, 10).await.expect("claim");
    assert_eq!(again.iter().map(|d| (d.id.as_str(), d.attempts)).collect::<Vec<_>>(), [("d0", 2)]);
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 2, done: 0, failed: 0 });
    store.close().await;
}

async fn failed_deliveries_are_counted_listed_and_requeued(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 3).await;
    let claimed = store.claim_deliveries(3, 100, 1_000).await.expect("claim");
    assert!(store.finish_delivery(&claimed[0], DeliveryOutcome::Failed { error: "no such release" }, 200).await.expect("finish"));
    assert!(store.finish_delivery(&claimed[1], DeliveryOutcome::Done, 201).await.expect("finish"));
    assert!(store.finish_delivery(&claimed[2], DeliveryOutcome::Failed { error: "bad payload" }, 202).await.expect("finish"));
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 0, done: 1, failed: 2 });
    let failed = |id: &str, error: &str, received_at_ms, failed_at_ms| FailedDelivery {
        source: "github".into(),
        id: id.into(),
        event: "pull_request".into(),
        attempts: 1,
        error: error.into(),
        received_at_ms,
        failed_at_ms,
    };
    assert_eq!(
        store.failed_deliveries(10).await.expect("list"),
        [failed("d0", "no such release", 1000, 200), failed("d2", "bad payload", 1002, 202)]
    );
    assert_eq!(store.failed_deliveries(1).await.expect("list"), [failed("d0", "no such release", 1000, 200)]);
    // Failed deliveries are not claimed.
    assert!(store.claim_deliveries(10, 5_000, 1_000).await.expect("claim").is_empty());

    assert!(store.requeue_delivery("github", "d2").await.expect("requeue"));
    assert!(!store.requeue_delivery("github", "d2").await.expect("requeue"), "queued already");
    assert!(!store.requeue_delivery("github", "d1").await.expect("requeue"), "done, not failed");
    assert!(!store.requeue_delivery("github", "nope").await.expect("requeue"), "not stored");
    assert!(!store.requeue_delivery("gitlab", "d0").await.expect("requeue"), "another source");
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 1, done: 1, failed: 1 });
    assert_eq!(store.inbox_backlog().await.expect("backlog"), InboxCounts { queued: 1, done: 0, failed: 1 });
    assert_eq!(store.failed_deliveries(10).await.expect("list"), [failed("d0", "no such release", 1000, 200)]);
    // Claimable at once; the attempts go on counting, so an old claim stays stale.
    let again = store.claim_deliveries(10, 5_000, 1_000).await.expect("claim");
    assert_eq!(again.iter().map(|d| (d.id.as_str(), d.attempts)).collect::<Vec<_>>(), [("d2", 2)]);
    assert!(!store.finish_delivery(&claimed[2], DeliveryOutcome::Done, 5_001).await.expect("finish"), "a stale claim");
    assert!(store.finish_delivery(&again[0], DeliveryOutcome::Done, 5_002).await.expect("finish"));
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 0, done: 2, failed: 1 });
    assert_eq!(store.inbox_backlog().await.expect("backlog"), InboxCounts { queued: 0, done: 0, failed: 1 });
    store.close().await;
}

/// Pruning empties the bodies of deliveries done before the cut-off, and only those; a pruned
/// delivery's redelivery is still a duplicate.
async fn pruning_keeps_duplicates_detected(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 5).await;
    let claimed = store.claim_deliveries(4, 100, 1_000).await.expect("claim");
    for (d, at) in claimed[..2].iter().zip([300, 400]) {
        assert!(store.finish_delivery(d, DeliveryOutcome::Done, at).await.expect("finish"));
    }
    assert!(store.finish_delivery(&claimed[2], DeliveryOutcome::Failed { error: "bad" }, 100).await.expect("finish"));
    assert!(store.finish_delivery(&claimed[3], DeliveryOutcome::Retry { error: "later", not_before_ms: 0 }, 100).await.expect("finish"));
    assert_eq!(store.prune_deliveries(300).await.expect("prune"), 0, "processed_at < 300, strictly");
    assert_eq!(store.prune_deliveries(401).await.expect("prune"), 2);
    assert_eq!(store.prune_deliveries(10_000).await.expect("prune"), 0, "pruned already");
    for (i, id) in ["d0", "d1", "d2", "d3", "d4"].iter().enumerate() {
        assert_eq!(store.enqueue_delivery(&delivery(id, i as i64)).await.expect("enqueue"), Enqueued::Duplicate, "{id}");
    }
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 2, done: 2, failed: 1 });
    // The failed delivery kept its body for a retry; so did the queued ones.
    assert!(store.requeue_delivery("github", "d2").await.expect("requeue"));
    let rest = store.claim_deliveries(10, 5_000, 1_000).await.expect("claim");
    assert_eq!(ids(&rest), ["d2", "d3", "d4"]);
    assert!(rest.iter().all(|d| d.body == b"{\"n\":1}\xff"), "bodies kept");
    store.close().await;
}

/// A queued delivery, and one whose worker died holding it, survive closing and reopening the
/// store (a restart).
async fn queued_deliveries_survive_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 2).await;
    assert_eq!(ids(&store.claim_deliveries(1, 100, 1_000).await.expect("claim")), ["d0"]);
    store.close().await;
    drop(store);
    let store = Store::open(&db.url).await.expect("reopen");
    assert_eq!(store.inbox_counts().await.expect("counts"), InboxCounts { queued: 2, done: 0, failed: 0 });
    assert_eq!(ids(&store.claim_deliveries(5, 200, 1_000).await.expect("claim")), ["d1"], "d0's lease holds across the restart");
    let again = store.claim_deliveries(5, 1_101, 1_000).await.expect("claim");
    assert_eq!(again.iter().map(|d| (d.id.as_str(), d.attempts)).collect::<Vec<_>>(), [("d0", 2)]);
    assert_eq!(again[0].body, b"{\"n\":1}\xff");
    assert_eq!(store.enqueue_delivery(&delivery("d0", 0)).await.expect("enqueue"), Enqueued::Duplicate);
    store.close().await;
}

/// Claiming walks the partial index of queued rows: the claim's selection (the store's, with
/// its parameters filled in) is planned through `inbox_deliveries_queued`, and a prune through
/// `inbox_deliveries_unpruned`.
async fn claims_read_queued_rows_through_their_index(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    enqueue_many(&store, 50).await;
    let claimed = store.claim_deliveries(40, 100, 1_000).await.expect("claim");
    for d in &claimed {
        assert!(store.finish_delivery(d, DeliveryOutcome::Done, 200).await.expect("finish"));
    }
    let select = "SELECT n FROM inbox_deliveries WHERE state = 'queued' AND (claimed_until IS NULL OR claimed_until < 300) \
                  AND not_before <= 300 ORDER BY n LIMIT 5";
    let plan = db
        .query_text(&match backend {
            Backend::Sqlite => format!("EXPLAIN QUERY PLAN {select}"),
            Backend::Postgres => format!("EXPLAIN {select}"),
        })
        .await;
    assert!(plan.contains("inbox_deliveries_queued"), "{plan}");
    let prune = "UPDATE inbox_deliveries SET body = '' WHERE state = 'done' AND length(body) > 0 AND processed_at < 300";
    let plan = db
        .query_text(&match backend {
            Backend::Sqlite => format!("EXPLAIN QUERY PLAN {prune}"),
            Backend::Postgres => format!("EXPLAIN {prune}"),
        })
        .await;
    assert!(plan.contains("inbox_deliveries_unpruned"), "{plan}");
    store.close().await;
}

async fn evaluated_heads_are_marked_once_and_read_exactly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url).await.expect("open");
    let set = |shas: &[&str]| shas.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
    assert_eq!(store.heads_evaluated("acme/config", &["a1", "b2"]).await.expect("read"), set(&[]));
    store.mark_head_evaluated("acme/config", "a1", 100).await.expect("mark");
    store.mark_head_evaluated("acme/config", "a1", 200).await.expect("marking again is a no-op");
    store.mark_head_evaluated("acme/config", "c3", 100).await.expect("mark");
    store.mark_head_evaluated("acme/other", "b2", 100).await.expect("mark");
    assert_eq!(store.heads_evaluated("acme/config", &["a1", "b2", "c3", "d4", "a1"]).await.expect("read"), set(&["a1", "c3"]));
    assert_eq!(store.heads_evaluated("acme/other", &["a1", "b2"]).await.expect("read"), set(&["b2"]));
    assert_eq!(store.heads_evaluated("acme/config", &[]).await.expect("read"), set(&[]));
    assert_eq!(store.heads_evaluated("acme/none", &["a1"]).await.expect("read"), set(&[]));
    // A long list is one statement, beyond SQLite's parameter limit.
    let many: Vec<String> = (0..40_000).map(|i| format!("{i:040x}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).chain(["a1"]).collect();
    assert_eq!(store.heads_evaluated("acme/config", &many).await.expect("read"), set(&["a1"]));
    store.close().await;
}

both_backends!(
    a_redelivery_is_a_duplicate,
    claims_come_oldest_first_up_to_the_limit,
    a_lease_holds_until_it_ends,
    concurrent_claimers_never_share_a_delivery,
    a_retry_waits_for_its_time,
    failed_deliveries_are_counted_listed_and_requeued,
    pruning_keeps_duplicates_detected,
    queued_deliveries_survive_a_restart,
    claims_read_queued_rows_through_their_index,
    evaluated_heads_are_marked_once_and_read_exactly,
);
