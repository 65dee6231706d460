//! Walking the chain: recompute every hash from the stored bytes and check every checkpoint.

use super::checkpoint::{Checkpoint, CheckpointError, Verifier};
use super::event::{self, GENESIS};
use super::merkle::{CompactRange, Hash};
use crate::store::{Store, StoreError, StoredCheckpoint};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;

#[cfg(test)]
mod tests;

/// The first thing found wrong, naming the row.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    /// A row is missing: the log skips from `expected - 1` to `found` (or ends).
    #[error("event `{expected}` is missing (the next row is `{found}`)")]
    Missing {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came instead (0 when the log ended).
        found: u64,
    },
    /// A body is not a well-formed event.
    #[error("event `{seq}` has a malformed body")]
    Malformed {
        /// The row.
        seq: u64,
    },
    /// A body carries another seq than its row: rows were swapped, moved or renumbered.
    #[error("event `{seq}` holds the body of event `{body_seq}`")]
    SeqMismatch {
        /// The row.
        seq: u64,
        /// The seq inside the hashed body.
        body_seq: u64,
    },
    /// A query column differs from the hashed body.
    #[error("event `{seq}` column `{column}` differs from its hashed body")]
    ColumnMismatch {
        /// The row.
        seq: u64,
        /// The column.
        column: &'static str,
    },
    /// `prev_hash` is not the hash of the previous event.
    #[error("event `{seq}` does not link to the hash of event `{}`", seq - 1)]
    PrevHashMismatch {
        /// The row.
        seq: u64,
    },
    /// `hash` is not `SHA-256(prev_hash ‖ body)`: the body or the hash was edited.
    #[error("event `{seq}` hash does not match its body")]
    HashMismatch {
        /// The row.
        seq: u64,
    },
    /// A checkpoint's Merkle root or chain hash does not match the events it covers.
    #[error("checkpoint at size `{size}` does not match events `1..={size}`")]
    CheckpointMismatch {
        /// The checkpoint's size (the last event it covers).
        size: u64,
    },
    /// A checkpoint is not signed by a trusted key, or its note is malformed.
    #[error("checkpoint at size `{size}` is not validly signed")]
    BadSignature {
        /// The checkpoint's size.
        size: u64,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// A checkpoint's columns differ from its signed note.
    #[error("checkpoint at size `{size}` differs from its signed note")]
    CheckpointRowMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// The log ends before a checkpoint that covered more: the tail was truncated.
    #[error("event `{}` is missing: the log ends at `{last}` but checkpoint `{size}` covers more", last + 1)]
    TruncatedBehindCheckpoint {
        /// The checkpoint's size.
        size: u64,
        /// The last event present.
        last: u64,
    },
    /// The head row disagrees with the events: rows were added or removed at the end.
    #[error("the head records `{head}` events but the log has `{found}`")]
    HeadMismatch {
        /// Size in the head row.
        head: u64,
        /// Events found.
        found: u64,
    },
}

impl Problem {
    /// The first bad event's seq, when the problem is about one event.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::Missing { expected, .. } => Some(*expected),
            Problem::Malformed { seq }
            | Problem::SeqMismatch { seq, .. }
            | Problem::ColumnMismatch { seq, .. }
            | Problem::PrevHashMismatch { seq }
            | Problem::HashMismatch { seq } => Some(*seq),
            Problem::TruncatedBehindCheckpoint { last, .. } => Some(last + 1),
            Problem::HeadMismatch { head, found } => Some(head.min(found) + 1),
            _ => None,
        }
    }
}

/// The fields of a body that must match the row; the payload is skipped, not parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyHead<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[allow(dead_code)]
    payload: IgnoredAny,
    seq: u64,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    v: u64,
}

/// The fields of an event body that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    /// Seq inside the body.
    pub seq: u64,
    /// Time inside the body.
    pub time: String,
    /// Actor inside the body.
    pub actor: String,
    /// Action inside the body.
    pub action: String,
    /// Subject inside the body.
    pub subject: String,
}

/// Reads the fields of a body without parsing its payload; `None` when malformed.
pub fn body_fields(body: &[u8]) -> Option<BodyFields> {
    let h: BodyHead<'_> = serde_json::from_slice(body).ok()?;
    if h.v != event::EVENT_VERSION {
        return None;
    }
    Some(BodyFields {
        seq: h.seq,
        time: h.time.into_owned(),
        actor: h.actor.into_owned(),
        action: h.action.into_owned(),
        subject: h.subject.into_owned(),
    })
}

/// Recomputes the chain and the Merkle tree from bodies fed in order.
#[derive(Debug, Clone)]
pub struct ChainWalker {
    next: u64,
    prev: Hash,
    tree: CompactRange,
}

impl ChainWalker {
    /// Starts at event 1.
    pub fn new() -> Self {
        Self { next: 1, prev: GENESIS, tree: CompactRange::new() }
    }

    /// Starts after event `seq - 1`, whose chain hash is `prev`, without a Merkle tree (for
    /// ranges that do not start at 1).
    pub fn starting_at(seq: u64, prev: Hash) -> Self {
        Self { next: seq, prev, tree: CompactRange::new() }
    }

    /// The seq expected next.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Chain hash of the last event fed.
    pub fn hash(&self) -> Hash {
        self.prev
    }

    /// Merkle root over the events fed since event 1.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The tree so far.
    pub fn tree(&self) -> &CompactRange {
        &self.tree
    }

    /// Checks the next event: its seq, the seq in its body, and (when the row records them)
    /// its `prev_hash` and `hash`; returns the body's fields.
    ///
    /// # Errors
    ///
    /// The [`Problem`] with this event.
    pub fn step(&mut self, seq: u64, body: &[u8], claimed_prev: Option<&Hash>, claimed_hash: Option<&Hash>) -> Result<BodyFields, Problem> {
        if seq != self.next {
            return Err(Problem::Missing { expected: self.next, found: seq });
        }
        let fields = body_fields(body).ok_or(Problem::Malformed { seq })?;
        if fields.seq != seq {
            return Err(Problem::SeqMismatch { seq, body_seq: fields.seq });
        }
        if claimed_prev.is_some_and(|p| *p != self.prev) {
            return Err(Problem::PrevHashMismatch { seq });
        }
        let hash = event::chain_hash(&self.prev, body);
        if claimed_hash.is_some_and(|h| *h != hash) {
            return Err(Problem::HashMismatch { seq });
        }
        self.tree.push(event::leaf_hash(&self.prev, body));
        self.prev = hash;
        self.next += 1;
        Ok(fields)
    }
}

impl Default for ChainWalker {
    fn default() -> Self {
        Self::new()
    }
}

/// What a verification walked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Events checked.
    pub events: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Size of the last checkpoint (0 when none).
    pub last_checkpoint: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// Walks the whole log in `store`, checking every event and every checkpoint against
/// `trusted` keys (plus keys introduced by `audit.key.rotated` events once a checkpoint signed
/// by an already trusted key covers them).
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read; problems with the data are in the report.
pub async fn verify_store(store: &Store, trusted: &[Verifier]) -> Result<Report, StoreError> {
    let checkpoints = store.checkpoints().await?;
    let head = store.head().await?;
    let mut report = Report::default();
    let mut trusted = trusted.to_vec();
    let mut announced: Vec<(u64, Verifier)> = Vec::new();
    let mut walker = ChainWalker::new();
    let mut cps = checkpoints.iter().peekable();
    // sqlx's SQLite driver already steps the statement on its own worker thread, so reads and
    // hashing overlap without a reader task of our own (one measured 2x slower on two cores).
    let mut events = store.events(1, u64::MAX);
    let fail = |mut report: Report, problem| {
        report.problem = Some(problem);
        Ok(report)
    };
    // A checkpoint at size 0 covers nothing but is still checked.
    while let Some(cp) = cps.next_if(|cp| cp.size == 0) {
        if let Err(p) = check_checkpoint(cp, &walker, &mut trusted, &mut announced) {
            return fail(report, p);
        }
        report.checkpoints += 1;
    }
    while let Some(row) = events.next().await {
        let row = row?;
        let fields = match walker.step(row.seq, &row.body, Some(&row.prev_hash), Some(&row.hash)) {
            Ok(f) => f,
            Err(p) => return fail(report, p),
        };
        for (column, ok) in [
            ("time", fields.time == row.time),
            ("actor", fields.actor == row.actor),
            ("action", fields.action == row.action),
            ("subject", fields.subject == row.subject),
        ] {
            if !ok {
                return fail(report, Problem::ColumnMismatch { seq: row.seq, column });
            }
        }
        if fields.action == super::KEY_ROTATED
            && let Some(v) = event::Event::decode(&row.body)
                .ok()
                .and_then(|e| e.payload.get("key").and_then(|k| k.as_str()).map(str::to_owned))
                .and_then(|k| Verifier::from_text(&k).ok())
        {
            announced.push((row.seq, v));
        }
        report.events += 1;
        while let Some(cp) = cps.next_if(|cp| cp.size == row.seq) {
            if let Err(p) = check_checkpoint(cp, &walker, &mut trusted, &mut announced) {
                return fail(report, p);
            }
            report.checkpoints += 1;
            report.last_checkpoint = cp.size;
        }
    }
    let last = walker.next_seq() - 1;
    if let Some(cp) = cps.next() {
        return fail(report, Problem::TruncatedBehindCheckpoint { size: cp.size, last });
    }
    if head.size != last || head.hash != walker.hash() {
        return fail(report, Problem::HeadMismatch { head: head.size, found: last });
    }
    Ok(report)
}

fn check_checkpoint(
    cp: &StoredCheckpoint,
    walker: &ChainWalker,
    trusted: &mut Vec<Verifier>,
    announced: &mut Vec<(u64, Verifier)>,
) -> Result<(), Problem> {
    let size = cp.size;
    let (signed, _) = Checkpoint::open(&cp.note, trusted).map_err(|source| Problem::BadSignature { size, source })?;
    if signed.size != size || signed.root != cp.root || signed.chain_hash != cp.chain_hash || signed.time != cp.time {
        return Err(Problem::CheckpointRowMismatch { size });
    }
    if signed.root != walker.root() || signed.chain_hash != walker.hash() {
        return Err(Problem::CheckpointMismatch { size });
    }
    // Keys announced in events this checkpoint covers are now vouched for.
    announced.retain(|(seq, v)| {
        if *seq <= size {
            if !trusted.contains(v) {
                trusted.push(v.clone());
            }
            false
        } else {
            true
        }
    });
    Ok(())
}
