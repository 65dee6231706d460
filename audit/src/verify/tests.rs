use super::*;
use crate::event::NewEvent;
use crate::merkle;
use serde_json::json;

fn bodies(n: u64) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|i| NewEvent::new("a", "b", "c", json!({ "i": i })).expect("event").encode(i, "2026-01-01T00:00:00.000000Z").expect("body"))
        .collect()
}

#[test]
fn walker_rebuilds_chain_and_tree() {
    let bodies = bodies(9);
    let mut w = ChainWalker::new();
    let mut prev = GENESIS;
    let mut leaves = merkle::CompactRange::new();
    for (i, body) in bodies.iter().enumerate() {
        let hash = event::chain_hash(&prev, body);
        let fields = w.step(i as u64 + 1, body, Some(&prev), Some(&hash)).expect("step");
        assert_eq!(fields.seq, i as u64 + 1);
        leaves.push(event::leaf_hash(&prev, body));
        prev = hash;
    }
    assert_eq!((w.hash(), w.root(), w.next_seq()), (prev, leaves.root(), 10));
}

#[test]
fn walker_names_the_first_bad_row() {
    let bodies = bodies(3);
    let mut w = ChainWalker::new();
    assert_eq!(w.step(2, &bodies[1], None, None), Err(Problem::Missing { expected: 1, found: 2 }));
    assert_eq!(w.step(1, &bodies[1], None, None), Err(Problem::SeqMismatch { seq: 1, body_seq: 2 }));
    assert_eq!(w.step(1, b"{", None, None), Err(Problem::Malformed { seq: 1 }));
    assert_eq!(w.step(1, &bodies[0], Some(&[1; 32]), None), Err(Problem::PrevHashMismatch { seq: 1 }));
    assert_eq!(w.step(1, &bodies[0], None, Some(&[1; 32])), Err(Problem::HashMismatch { seq: 1 }));
    assert!(w.step(1, &bodies[0], None, None).is_ok());
}

#[test]
fn body_fields_refuse_unknown_members_and_versions() {
    assert!(body_fields(br#"{"action":"a","actor":"b","payload":{"x":[1]},"seq":1,"subject":"s","time":"t","v":1}"#).is_some());
    assert!(body_fields(br#"{"action":"a","actor":"b","payload":null,"seq":1,"subject":"s","time":"t","v":2}"#).is_none());
    assert!(body_fields(br#"{"action":"a","actor":"b","payload":null,"seq":1,"subject":"s","time":"t","v":1,"x":0}"#).is_none());
    assert!(body_fields(br#"{"action":"a","actor":"b","seq":1,"subject":"s","time":"t","v":1}"#).is_none());
}

#[test]
fn problems_name_rows() {
    assert_eq!(Problem::TruncatedBehindCheckpoint { size: 10, last: 7 }.seq(), Some(8));
    assert_eq!(Problem::HeadMismatch { head: 12, found: 11 }.seq(), Some(12));
    assert_eq!(
        Problem::TruncatedBehindCheckpoint { size: 10, last: 7 }.to_string(),
        "event `8` is missing: the log ends at `7` but checkpoint `10` covers more"
    );
}

fn row<'a>(seq: u64, body: &'a [u8], prev_hash: &'a Hash, hash: &'a Hash) -> EventRef<'a> {
    EventRef { seq, time: "2026-01-01T00:00:00.000000Z", actor: "a", action: "b", subject: "c", body, prev_hash, hash }
}

/// `step_digested` (rows hashed over their own `prev_hash`, in parallel) names the same problem
/// as `step` (rows hashed over the previous hash) for every fault, and then checks columns.
#[test]
fn digested_steps_agree_with_step() {
    let b = bodies(3);
    let first = event::chain_hash(&GENESIS, &b[0]);
    let second = event::chain_hash(&first, &b[1]);
    // After event 1 is accepted, the next row is one of these.
    let cases = [
        row(2, &b[1], &first, &second),
        row(3, &b[2], &first, &second),
        row(2, &b[2], &first, &second),
        row(2, b"{", &first, &second),
        row(2, &b[1], &GENESIS, &second),
        row(2, &b[1], &first, &first),
        row(2, &b[0], &first, &second),
    ];
    for case in cases {
        let mut plain = ChainWalker::new();
        plain.step(1, &b[0], Some(&GENESIS), Some(&first)).expect("first");
        let mut digested = ChainWalker::new();
        let one = row(1, &b[0], &GENESIS, &first);
        digested.step_digested(&one, &RowDigest::of(&one)).expect("first");
        let expected = plain.step(case.seq, case.body, Some(case.prev_hash), Some(case.hash)).map(|_| ());
        assert_eq!(digested.step_digested(&case, &RowDigest::of(&case)), expected, "{case:?}");
        assert_eq!((digested.hash(), digested.root()), (plain.hash(), plain.root()));
    }
    let edited = EventRef { actor: "mallory", ..row(1, &b[0], &GENESIS, &first) };
    assert_eq!(
        ChainWalker::new().step_digested(&edited, &RowDigest::of(&edited)),
        Err(Problem::ColumnMismatch { seq: 1, column: "actor" })
    );
}
