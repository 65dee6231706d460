//! Following the head from another connection (another replica), on both backends.

use std::time::Duration;

use serde_json::json;
use tollgate_audit::event::NewEvent;
use tollgate_store::Store;

use crate::both_backends;
use crate::support::{Backend, TestDb};

fn event(i: u64) -> NewEvent {
    NewEvent::new("svc-reconciler", "promotion.committed", format!("release/churn-v{i}@prod"), json!({"i": i})).expect("event")
}

/// A watch opened on one store sees the appends of another (its own pool, as another replica's
/// is), once per move, with the head's new size; nothing moves, nothing is announced.
async fn a_watch_sees_another_stores_appends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let follower = Store::open(&db.url).await.expect("open");
    let leader = Store::open(&db.url).await.expect("open");
    leader.append(&[event(1)]).await.expect("append");
    let mut watch = follower.watch_head(Duration::from_millis(50)).await.expect("watch");
    let quiet = tokio::time::timeout(Duration::from_millis(300), watch.changed()).await;
    assert!(quiet.is_err(), "nothing moved: {quiet:?}");
    leader.append(&[event(2), event(3)]).await.expect("append");
    let size = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("announced").expect("changed");
    assert_eq!(size, 3);
    leader.append(&[event(4)]).await.expect("append");
    let size = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("announced").expect("changed");
    assert_eq!(size, 4);
    // The listener holds one of the follower's connections until it is dropped.
    drop(watch);
    leader.close().await;
    follower.close().await;
}

both_backends!(a_watch_sees_another_stores_appends);
