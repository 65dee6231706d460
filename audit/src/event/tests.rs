use super::*;
use serde_json::json;

#[test]
fn body_is_jcs_and_decodes_back() {
    let e = NewEvent::new("alice", "approval.granted", "release/churn-v7@prod", json!({"b": 1.50, "a": [true]})).expect("valid");
    let body = e.encode(7, "2026-01-02T03:04:05.000006Z").expect("encodes");
    assert_eq!(
        std::str::from_utf8(&body).expect("utf-8"),
        r#"{"action":"approval.granted","actor":"alice","payload":{"a":[true],"b":1.5},"seq":7,"subject":"release/churn-v7@prod","time":"2026-01-02T03:04:05.000006Z","v":1}"#
    );
    let d = Event::decode(&body).expect("decodes");
    assert_eq!((d.seq, d.actor.as_str(), d.payload["b"].as_f64()), (7, "alice", Some(1.5)));
}

#[test]
fn chain_and_leaf_hash_the_same_bytes_with_different_prefixes() {
    let body = b"{}";
    let prev = [7u8; 32];
    let mut chain_input = prev.to_vec();
    chain_input.extend_from_slice(body);
    assert_eq!(chain_hash(&prev, body), <[u8; 32]>::from(Sha256::digest(&chain_input)));
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(&chain_input);
    assert_eq!(leaf_hash(&prev, body), <[u8; 32]>::from(Sha256::digest(&leaf_input)));
}

#[test]
fn bad_fields_are_refused() {
    assert!(matches!(NewEvent::new("", "a", "s", Value::Null), Err(EventError::Empty { field: "actor" })));
    assert!(matches!(NewEvent::new("a", "x\ny", "s", Value::Null), Err(EventError::Invalid { field: "action" })));
    assert!(matches!(NewEvent::new("a", "b", "s", json!(u64::MAX)), Err(EventError::Payload(JcsError::UnsafeInteger { .. }))));
}

#[test]
fn malformed_bodies_are_errors() {
    for body in
        [&b"\xff"[..], b"[]", b"{}", br#"{"v":2}"#, br#"{"action":1,"actor":"a","payload":null,"seq":1,"subject":"s","time":"t","v":1}"#]
    {
        assert!(Event::decode(body).is_err());
    }
}

#[test]
fn times_are_fixed_width() {
    let t = chrono::DateTime::from_timestamp(0, 0).expect("epoch");
    assert_eq!(format_time(t), "1970-01-01T00:00:00.000000Z");
}

#[test]
fn encoded_as_jcs() {
    let e = NewEvent::new("ä\"", "b.c", "€", json!({"z": [1.0, 1e21, "x"], "a": {"c": null, "b": false}})).expect("valid");
    let body = e.encode(9_007_199_254_740_992, "t").expect("encodes");
    let general = jcs::canonicalize(&json!({
        "v": EVENT_VERSION, "time": "t", "subject": "€", "seq": 9_007_199_254_740_992_u64,
        "payload": e.payload, "actor": "ä\"", "action": "b.c",
    }))
    .expect("canonical");
    assert_eq!(body, general);
}
