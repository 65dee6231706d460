use std::time::{Duration, Instant};

use super::{Backoff, Slots};
use crate::reconcile::Failure;

fn failure(decision: &str, attempts: u32) -> Failure {
    Failure {
        release: "income-v4".into(),
        environment: "dev".into(),
        decision: decision.into(),
        reason: "failed to push".into(),
        attempts,
        retry_in_secs: None,
    }
}

#[test]
fn the_wait_doubles_per_failure_up_to_the_cap() {
    let b = Backoff { first: Duration::from_secs(30), max: Duration::from_secs(600) };
    let waits: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600, 600]);
    assert_eq!(b.delay(u32::MAX), Duration::from_secs(600), "no overflow");
    assert_eq!(b.delay(0), Duration::from_secs(30));
}

#[test]
fn a_failed_slot_waits_and_a_new_decision_does_not() {
    let mut slots = Slots::new(Backoff { first: Duration::from_secs(30), max: Duration::from_secs(600) });
    let slot = ("income-v4".to_owned(), "dev".to_owned());
    let t0 = Instant::now();
    let noted = slots.failed(slot.clone(), failure("dec-1", 2), t0);
    assert_eq!(noted.retry_in_secs, Some(60), "the second failure in a row waits twice as long");
    assert_eq!(slots.attempts(&slot, "dec-1"), 2);
    assert_eq!(slots.waiting(&slot, "dec-1", t0 + Duration::from_secs(45)).and_then(|f| f.retry_in_secs), Some(15));
    assert_eq!(slots.waiting(&slot, "dec-1", t0 + Duration::from_secs(60)), None, "due");
    assert_eq!(slots.waiting(&slot, "dec-2", t0), None, "another decision is tried at once");
    assert_eq!(slots.attempts(&slot, "dec-2"), 0);
    let other = ("churn-v3".to_owned(), "dev".to_owned());
    assert_eq!(slots.waiting(&other, "dec-1", t0), None, "other slots go on");
    slots.retain(|s| *s != slot);
    assert_eq!(slots.waiting(&slot, "dec-1", t0), None, "forgotten");
}
