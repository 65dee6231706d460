//! The rows of the audit log and its records as the store hands them out: plain data, shared
//! by the store (which reads and writes them) and the verifier (which checks them).

use serde_json::Value;

use crate::event::StoredEvent;
use crate::merkle::Hash;

/// Rows per batch: large enough that handing a batch over costs nothing per row, small enough
/// that a few batches in flight keep memory flat.
pub const BATCH_ROWS: usize = 1024;

/// The kinds of domain records the store keeps next to the audit chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A release as it was evaluated.
    Release,
    /// A decision together with every input it was derived from.
    Decision,
    /// An approval bound to a release's content digest.
    Approval,
    /// The outcome of a quality, fairness, data-quality or drift gate.
    GateResult,
    /// A promotion written to the config repo.
    Promotion,
    /// A model card as rendered for a release.
    ModelCard,
}

impl RecordKind {
    /// Every kind, in export order.
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Release,
        RecordKind::Decision,
        RecordKind::Approval,
        RecordKind::GateResult,
        RecordKind::Promotion,
        RecordKind::ModelCard,
    ];

    /// The table (and export file stem) for this kind.
    pub fn table(self) -> &'static str {
        match self {
            RecordKind::Release => "releases",
            RecordKind::Decision => "decisions",
            RecordKind::Approval => "approvals",
            RecordKind::GateResult => "gate_results",
            RecordKind::Promotion => "promotions",
            RecordKind::ModelCard => "model_cards",
        }
    }

    /// The audit action that records this kind.
    pub fn action(self) -> &'static str {
        match self {
            RecordKind::Release => "release.recorded",
            RecordKind::Decision => "decision.recorded",
            RecordKind::Approval => "approval.recorded",
            RecordKind::GateResult => "gate_result.recorded",
            RecordKind::Promotion => "promotion.recorded",
            RecordKind::ModelCard => "model_card.recorded",
        }
    }
}

/// A domain record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Row id.
    pub id: i64,
    /// What it is about (`release/churn-v7@prod`).
    pub subject: String,
    /// The record.
    pub doc: Value,
    /// When it was recorded (the time of its audit event).
    pub recorded_at: String,
    /// The audit event that recorded it.
    pub audit_seq: u64,
}

/// The head of the chain: how many events and the hash of the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of events (the `seq` of the last one).
    pub size: u64,
    /// Chain hash of the last event ([`GENESIS`](crate::event::GENESIS) when empty).
    pub hash: Hash,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size (the `seq` of the last covered event).
    pub size: u64,
    /// Chain hash of event `size`.
    pub chain_hash: Hash,
    /// Merkle root of events `1..=size`.
    pub root: Hash,
    /// When it was signed.
    pub time: String,
    /// Key id (hex) of the signature.
    pub key_id: String,
    /// The signed note, verbatim.
    pub note: String,
    /// The Merkle frontier at `size` (see [`tollgate_audit::merkle::CompactRange::frontier`]).
    pub frontier: Vec<u8>,
}

/// Consecutive audit rows; their text and bodies each live in one buffer.
#[derive(Debug, Default)]
pub struct EventBatch {
    rows: Vec<RowSpans>,
    /// `time`, `actor`, `action` and `subject` of every row, back to back.
    text: String,
    /// Every row's body, back to back.
    bodies: Vec<u8>,
}

/// Where one row's columns end in the batch's buffers (each starts where the one before ends).
#[derive(Debug, Clone)]
struct RowSpans {
    seq: u64,
    /// Ends of `time`, `actor`, `action` and `subject` in `text`.
    text_ends: [usize; 4],
    /// End of the body in `bodies`.
    body_end: usize,
    prev_hash: Hash,
    hash: Hash,
}

/// One row of an [`EventBatch`], borrowed; [`EventRef::to_stored`] makes a [`StoredEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Position in the log.
    pub seq: u64,
    /// The `time` column.
    pub time: &'a str,
    /// The `actor` column.
    pub actor: &'a str,
    /// The `action` column.
    pub action: &'a str,
    /// The `subject` column.
    pub subject: &'a str,
    /// The stored body.
    pub body: &'a [u8],
    /// The `prev_hash` column.
    pub prev_hash: &'a Hash,
    /// The `hash` column.
    pub hash: &'a Hash,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_stored(&self) -> StoredEvent {
        StoredEvent {
            seq: self.seq,
            time: self.time.to_owned(),
            actor: self.actor.to_owned(),
            action: self.action.to_owned(),
            subject: self.subject.to_owned(),
            body: self.body.to_vec(),
            prev_hash: *self.prev_hash,
            hash: *self.hash,
        }
    }
}

impl EventBatch {
    /// An empty batch with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        Self { rows: Vec::with_capacity(rows), text: String::with_capacity(rows * 96), bodies: Vec::with_capacity(rows * 512) }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`.
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    pub fn get(&self, i: usize) -> EventRef<'_> {
        let row = &self.rows[i];
        let (text_start, body_start) = match i.checked_sub(1).map(|j| &self.rows[j]) {
            Some(before) => (before.text_ends[3], before.body_end),
            None => (0, 0),
        };
        let [t, a, c, s] = row.text_ends;
        EventRef {
            seq: row.seq,
            time: &self.text[text_start..t],
            actor: &self.text[t..a],
            action: &self.text[a..c],
            subject: &self.text[c..s],
            body: &self.bodies[body_start..row.body_end],
            prev_hash: &row.prev_hash,
            hash: &row.hash,
        }
    }

    /// The rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends a copy of `e`.
    pub fn push(&mut self, e: EventRef<'_>) {
        let mut text_ends = [0; 4];
        for (end, column) in text_ends.iter_mut().zip([e.time, e.actor, e.action, e.subject]) {
            self.text.push_str(column);
            *end = self.text.len();
        }
        self.bodies.extend_from_slice(e.body);
        self.rows.push(RowSpans { seq: e.seq, text_ends, body_end: self.bodies.len(), prev_hash: *e.prev_hash, hash: *e.hash });
    }
}
