//! Audit events: what is hashed, and how the chain links them.
//!
//! An event's canonical form is the RFC 8785 (JCS) encoding of
//! `{"action","actor","payload","seq","subject","time","v"}`. The store keeps exactly these
//! bytes (the *body*) and every check recomputes from them, never from a re-serialisation:
//!
//! - chain: `hash = SHA-256(prev_hash ‖ body)`, with `prev_hash` of the first event all zeros;
//! - Merkle leaf: `SHA-256(0x00 ‖ prev_hash ‖ body)`, so that a proof of one leaf also pins the
//!   whole chain before it.

use super::jcs::{self, JcsError};
use super::merkle::{self, Hash};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// The `prev_hash` of the first event.
pub const GENESIS: Hash = [0u8; 32];

/// Version of the event encoding, written as `"v"` in every body.
pub const EVENT_VERSION: u64 = 1;

/// Longest actor, action or subject accepted, in bytes.
const MAX_FIELD_LEN: usize = 1024;

/// Why an event could not be built, encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A required text field is empty.
    #[error("event field `{field}` is empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// A text field is too long or holds control characters.
    #[error("event field `{field}` must be at most 1024 bytes without control characters")]
    Invalid {
        /// The field's name.
        field: &'static str,
    },
    /// The payload could not be canonicalized.
    #[error("event payload is not canonicalizable I-JSON")]
    Payload(#[source] JcsError),
    /// A stored body is not a well-formed event.
    #[error("stored event body is malformed: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An event as a caller submits it; the log assigns `seq` and `time`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who did it: a user, a service account, `tollgate` itself.
    pub actor: String,
    /// What was done, as a dotted name (`decision.recorded`, `approval.granted`).
    pub action: String,
    /// What it was done to (`release/churn-v7@prod`).
    pub subject: String,
    /// Free-form details, I-JSON.
    pub payload: Value,
}

impl NewEvent {
    /// Builds an event after checking its fields.
    ///
    /// # Errors
    ///
    /// [`EventError::Empty`] or [`EventError::Invalid`] for a bad text field,
    /// [`EventError::Payload`] for a payload that is not I-JSON.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        payload: Value,
    ) -> Result<Self, EventError> {
        let event = Self { actor: actor.into(), action: action.into(), subject: subject.into(), payload };
        check_field("actor", &event.actor)?;
        check_field("action", &event.action)?;
        check_field("subject", &event.subject)?;
        jcs::canonicalize(&event.payload).map_err(EventError::Payload)?;
        Ok(event)
    }

    /// The canonical body of this event at `seq` and `time`.
    ///
    /// # Errors
    ///
    /// [`EventError::Payload`] when the payload is not I-JSON.
    pub fn encode(&self, seq: u64, time: &str) -> Result<Vec<u8>, EventError> {
        // The member names are fixed ASCII, already in RFC 8785 order, so the object is written
        // directly rather than built and sorted; `encoded_as_jcs` in the tests checks this
        // against the general canonicalizer.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"action\":");
        jcs::write_string(&mut out, &self.action);
        out.extend_from_slice(b",\"actor\":");
        jcs::write_string(&mut out, &self.actor);
        out.extend_from_slice(b",\"payload\":");
        jcs::write_value(&mut out, &self.payload).map_err(EventError::Payload)?;
        out.extend_from_slice(b",\"seq\":");
        jcs::write_number(&mut out, &seq.into()).map_err(EventError::Payload)?;
        out.extend_from_slice(b",\"subject\":");
        jcs::write_string(&mut out, &self.subject);
        out.extend_from_slice(b",\"time\":");
        jcs::write_string(&mut out, time);
        out.extend_from_slice(b",\"v\":1}");
        Ok(out)
    }
}

fn check_field(field: &'static str, value: &str) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError::Empty { field });
    }
    if value.len() > MAX_FIELD_LEN || value.chars().any(char::is_control) {
        return Err(EventError::Invalid { field });
    }
    Ok(())
}

/// An event decoded from its stored body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was appended, RFC 3339 UTC with microseconds.
    pub time: String,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub subject: String,
    /// Details.
    pub payload: Value,
}

impl Event {
    /// Decodes a stored body.
    ///
    /// # Errors
    ///
    /// [`EventError::Malformed`] when the body is not an event object of this version.
    pub fn decode(body: &[u8]) -> Result<Self, EventError> {
        let malformed = |reason| EventError::Malformed { reason };
        let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
        let value: Value = serde_json::from_str(text).map_err(|_| malformed("not JSON"))?;
        let Value::Object(mut map) = value else {
            return Err(malformed("not an object"));
        };
        if map.len() != 7 || map.get("v").and_then(Value::as_u64) != Some(EVENT_VERSION) {
            return Err(malformed("unknown fields or version"));
        }
        let mut text_field = |name| match map.remove(name) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(malformed("a text field is missing")),
        };
        let time = text_field("time")?;
        let actor = text_field("actor")?;
        let action = text_field("action")?;
        let subject = text_field("subject")?;
        let seq = map.get("seq").and_then(Value::as_u64).ok_or(malformed("`seq` is missing"))?;
        let payload = map.remove("payload").ok_or(malformed("`payload` is missing"))?;
        Ok(Self { seq, time, actor, action, subject, payload })
    }
}

/// `SHA-256(prev ‖ body)`: the chain hash of an event.
pub fn chain_hash(prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(body);
    h.finalize().into()
}

/// `SHA-256(0x00 ‖ prev ‖ body)`: the Merkle leaf hash of an event.
pub fn leaf_hash(prev: &Hash, body: &[u8]) -> Hash {
    merkle::leaf_hash(&[prev, body])
}

/// The current time as the log writes it: RFC 3339, UTC, microseconds, fixed width, so that
/// text order is time order.
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

/// Formats a time as the log writes it.
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A stored event: its columns, the exact body and the chain hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Append time (copied from the body for queries).
    pub time: String,
    /// Actor (copied from the body for queries).
    pub actor: String,
    /// Action (copied from the body for queries).
    pub action: String,
    /// Subject (copied from the body for queries).
    pub subject: String,
    /// The exact canonical bytes that were hashed.
    pub body: Vec<u8>,
    /// Hash of the previous event ([`GENESIS`] for the first).
    pub prev_hash: Hash,
    /// `SHA-256(prev_hash ‖ body)`.
    pub hash: Hash,
}
