//! Writers in separate processes: concurrent appends never fork or gap the chain, and a writer
//! killed with SIGKILL at random points never loses an acknowledged event.
//!
//! The test binary re-runs itself as the writer: `child_writer` does nothing unless
//! `TOLLGATE_AUDIT_CHILD` is set, and then appends and prints `ACK <seq> <tag>` after each
//! commit returns.

use crate::both_backends;
use crate::support::{Backend, TestDb, unique};
use futures_util::StreamExt as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_audit::checkpoint::Signer;
use tollgate_audit::event::{Event, NewEvent};
use tollgate_store::AuditLog;
use tollgate_store::verify_store;
use tollgate_store::{Store, StoreError};

const CHILD_ENV: &str = "TOLLGATE_AUDIT_CHILD";

/// The writer process (a no-op in ordinary test runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout, reason = "stdout is the writer's acknowledgement channel")]
async fn child_writer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("child spec");
    let url = spec["url"].as_str().expect("url");
    let count = spec["count"].as_u64().expect("count");
    let tag = spec["tag"].as_str().expect("tag");
    let key = Signer::from_text(spec["key"].as_str().expect("key")).expect("signing key");
    let store = Store::open(url).await.expect("open");
    let log = AuditLog::new(store).with_signers(key, vec![]).with_checkpoint_every(25);
    for i in 0..count {
        let batch: Vec<NewEvent> = (0..=(i % 3))
            .map(|j| NewEvent::new(tag, "test.child", format!("{tag}/{i}/{j}"), json!({ "tag": tag, "i": i, "j": j })).expect("event"))
            .collect();
        let appended = loop {
            match log.append(&batch).await {
                Ok(events) => break events,
                Err(tollgate_store::AuditError::Store(StoreError::HeadMoved)) => {
                    continue;
                }
                Err(err) => panic!("append failed: {err:?}"),
            }
        };
        for e in appended {
            // Printed only after the commit returned: an ACK is a promise.
            println!("ACK {} {}", e.seq, e.subject);
        }
    }
}

fn spawn_writer(url: &str, count: u64, tag: &str, key: &Signer) -> Child {
    let spec = json!({ "url": url, "count": count, "tag": tag, "key": key.to_text() });
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["procs::child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer")
}

fn parse_ack(line: &str) -> Option<(u64, String)> {
    // libtest may print `test NAME ... ` on the same line before the first ACK.
    let rest = &line[line.find("ACK ")? + 4..];
    let (seq, subject) = rest.split_once(' ')?;
    Some((seq.parse().ok()?, subject.to_owned()))
}

/// Checks that every acknowledged `(seq, subject)` is in the log as acknowledged, that the log
/// verifies, and returns its size.
async fn check_acks(url: &str, acks: &BTreeMap<u64, String>, key: &Signer) -> u64 {
    let store = Store::open(url).await.expect("open");
    let report = verify_store(&store, &[key.verifier()], &Default::default()).await.expect("verify");
    assert_eq!(report.problem, None, "log verifies");
    let mut seen = 0;
    let mut rows = store.events(1, u64::MAX);
    while let Some(row) = rows.next().await {
        let row = row.expect("row");
        if let Some(subject) = acks.get(&row.seq) {
            assert_eq!(&row.subject, subject, "acknowledged event {} changed", row.seq);
            assert_eq!(Event::decode(&row.body).expect("body").subject, *subject);
            seen += 1;
        }
    }
    assert_eq!(seen, acks.len(), "every acknowledged event is present");
    drop(rows);
    store.close().await;
    report.events
}

async fn writers_in_separate_processes_never_fork(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Apply the migrations once, so the writers race on appends rather than on schema setup.
    Store::open(&db.url).await.expect("open").close().await;
    let key = Signer::generate("tollgate").expect("key");
    let children: Vec<(Child, String)> = (0..4).map(|w| (spawn_writer(&db.url, 30, &format!("w{w}"), &key), format!("w{w}"))).collect();
    let mut acks = BTreeMap::new();
    for (mut child, _) in children {
        let out = child.stdout.take().expect("stdout");
        for line in BufReader::new(out).lines() {
            if let Some((seq, subject)) = parse_ack(&line.expect("line")) {
                assert!(acks.insert(seq, subject).is_none(), "seq {seq} acknowledged twice: a fork");
            }
        }
        assert!(child.wait().expect("wait").success(), "writer succeeded");
    }
    // Each writer appends batches of 1, 2, 3, 1, … events: 30 batches hold 60 events.
    assert_eq!(acks.len(), 4 * 60);
    let size = check_acks(&db.url, &acks, &key).await;
    // The chain may also hold key-rotation-free checkpoints only, so events are exactly acks.
    assert_eq!(size, 240);
}

async fn sigkill_during_heavy_appends_loses_no_acknowledged_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    Store::open(&db.url).await.expect("open").close().await;
    let key = Signer::generate("tollgate").expect("key");
    let rounds = std::env::var("TOLLGATE_AUDIT_KILL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(6);
    let mut acks = BTreeMap::new();
    for round in 0..rounds {
        let mut child = spawn_writer(&db.url, 1_000_000, &format!("r{round}"), &key);
        let out = child.stdout.take().expect("stdout");
        // Kill after a random 50–400 ms, while the reader keeps collecting acknowledgements.
        let delay = Duration::from_millis(50 + unique() % 350);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(ack) = parse_ack(&line) {
                    got.push(ack);
                }
            }
            got
        });
        let start = Instant::now();
        while start.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for (seq, subject) in reader.join().expect("reader") {
            assert!(acks.insert(seq, subject).is_none(), "seq {seq} acknowledged twice");
        }
    }
    assert!(!acks.is_empty(), "the writers made progress");
    let size = check_acks(&db.url, &acks, &key).await;
    assert!(size >= acks.len() as u64);
}

both_backends!(writers_in_separate_processes_never_fork, sigkill_during_heavy_appends_loses_no_acknowledged_event);
