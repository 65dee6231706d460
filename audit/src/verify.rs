//! Walking the chain: recompute every hash from the stored bytes and check every checkpoint.

use crate::checkpoint::{Checkpoint, CheckpointError, Verifier};
use crate::event::{self, GENESIS};
use crate::merkle::{CompactRange, Hash};
use crate::rows::{EventBatch, EventRef, Head, StoredCheckpoint};
use rayon::prelude::*;
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
    /// A checkpoint kept outside the database is not validly signed by a trusted key.
    #[error("saved checkpoint `{name}` is not validly signed")]
    SavedBadSignature {
        /// Where it was read from.
        name: String,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// A checkpoint kept outside the database does not match the events it covers: the log was
    /// rewritten after it was saved.
    #[error("saved checkpoint `{name}` (size `{size}`) does not match events `1..={size}`: the log was rewritten")]
    SavedMismatch {
        /// Where it was read from.
        name: String,
        /// Its size.
        size: u64,
    },
    /// The log is shorter than a checkpoint kept outside the database: it was truncated,
    /// emptied or replaced.
    #[error("the log ends at event `{last}` but saved checkpoint `{name}` covers `{size}` events")]
    TruncatedBehindSaved {
        /// Where it was read from.
        name: String,
        /// Its size.
        size: u64,
        /// The last event present (0 for an empty log).
        last: u64,
    },
    /// Events past the checkpoint interval have no checkpoint: checkpoints were deleted, or not
    /// signed when due.
    #[error("no checkpoint covers events `{}..={last}`, though one is signed every `{every}` events", covered + 1)]
    Unanchored {
        /// The last event.
        last: u64,
        /// What the last checkpoint covers (0 when none).
        covered: u64,
        /// The interval writers sign checkpoints at.
        every: u64,
    },
    /// A log with no events was verified against trusted keys: nothing anchors it, and a
    /// deleted log looks the same.
    #[error("the log has no events: nothing is anchored, and a deleted log looks the same")]
    Empty,
    /// A checkpoint lacks a valid `cosignature/v1` by a witness whose cosignature is required.
    #[error("checkpoint at size `{size}` is not cosigned by witness `{witness}`")]
    NotCosigned {
        /// The checkpoint's size.
        size: u64,
        /// The witness key (`name+id`).
        witness: String,
        /// Why.
        #[source]
        source: CheckpointError,
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
            Problem::TruncatedBehindCheckpoint { last, .. } | Problem::TruncatedBehindSaved { last, .. } => Some(last + 1),
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

/// Parses a body's fields, borrowing them, without parsing its payload; `None` when malformed.
fn body_head(body: &[u8]) -> Option<BodyHead<'_>> {
    serde_json::from_slice::<BodyHead<'_>>(body).ok().filter(|h| h.v == event::EVENT_VERSION)
}

/// Reads the fields of a body without parsing its payload; `None` when malformed.
pub fn body_fields(body: &[u8]) -> Option<BodyFields> {
    let h = body_head(body)?;
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
        let fields = body_fields(body);
        let digest = RowDigest {
            body_seq: fields.as_ref().map(|f| f.seq),
            column: None,
            hash: event::chain_hash(&self.prev, body),
            leaf: event::leaf_hash(&self.prev, body),
        };
        self.advance(seq, &digest, claimed_prev, claimed_hash)?;
        fields.ok_or(Problem::Malformed { seq })
    }

    /// [`ChainWalker::step`] for a row digested beforehand by [`RowDigest::of`] (over the
    /// row's own `prev_hash`, which must then equal the previous event's hash).
    ///
    /// # Errors
    ///
    /// The [`Problem`] with this event, in the order [`ChainWalker::step`] checks, then a
    /// column that differs from the body.
    pub fn step_digested(&mut self, row: &EventRef<'_>, digest: &RowDigest) -> Result<(), Problem> {
        self.advance(row.seq, digest, Some(row.prev_hash), Some(row.hash))?;
        match digest.column {
            Some(column) => Err(Problem::ColumnMismatch { seq: row.seq, column }),
            None => Ok(()),
        }
    }

    /// The checks that need the previous event, in order; on success the event joins the chain
    /// and the tree. `digest` is over `claimed_prev` when given, else over `self.prev`.
    fn advance(&mut self, seq: u64, digest: &RowDigest, claimed_prev: Option<&Hash>, claimed_hash: Option<&Hash>) -> Result<(), Problem> {
        if seq != self.next {
            return Err(Problem::Missing { expected: self.next, found: seq });
        }
        let body_seq = digest.body_seq.ok_or(Problem::Malformed { seq })?;
        if body_seq != seq {
            return Err(Problem::SeqMismatch { seq, body_seq });
        }
        if claimed_prev.is_some_and(|p| *p != self.prev) {
            return Err(Problem::PrevHashMismatch { seq });
        }
        if claimed_hash.is_some_and(|h| *h != digest.hash) {
            return Err(Problem::HashMismatch { seq });
        }
        self.tree.push(digest.leaf);
        self.prev = digest.hash;
        self.next += 1;
        Ok(())
    }
}

/// What one stored row says about itself, computed without the rows before it, so that rows
/// are digested in parallel and only [`ChainWalker::step_digested`] runs in order. Hashing over
/// the row's own `prev_hash` is as strong as hashing over the previous event's hash: the walker
/// refuses the row unless the two are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowDigest {
    /// The seq inside the body (`None`: the body is malformed).
    body_seq: Option<u64>,
    /// The first query column that differs from the body.
    column: Option<&'static str>,
    /// `SHA-256(prev_hash ‖ body)`.
    hash: Hash,
    /// The Merkle leaf hash of the row.
    leaf: Hash,
}

impl RowDigest {
    /// Parses the row's body (not its payload), compares its query columns, and hashes it.
    pub fn of(row: &EventRef<'_>) -> Self {
        let head = body_head(row.body);
        let column = head.as_ref().and_then(|h| {
            [
                ("time", h.time == row.time),
                ("actor", h.actor == row.actor),
                ("action", h.action == row.action),
                ("subject", h.subject == row.subject),
            ]
            .into_iter()
            .find_map(|(column, same)| (!same).then_some(column))
        });
        let body_seq = head.map(|h| h.seq);
        // A malformed row fails before its hashes are looked at.
        let (hash, leaf) = match body_seq {
            Some(_) => (event::chain_hash(row.prev_hash, row.body), event::leaf_hash(row.prev_hash, row.body)),
            None => (GENESIS, GENESIS),
        };
        Self { body_seq, column, hash, leaf }
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
    /// Saved checkpoints (kept outside the database) checked.
    pub saved: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// A checkpoint kept outside the database (a file, a Git ref): its signed note and where it
/// was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Where it was read from, to name it in problems.
    pub name: String,
    /// The signed note, as `tollgate audit checkpoint` prints it.
    pub note: String,
}

/// What anchors a log besides its own checkpoint rows (issue #12: with write access to the
/// database, deleting the checkpoint rows and rewriting events consistently verified ok).
#[derive(Debug, Clone, Default)]
pub struct Anchors<'a> {
    /// Checkpoints kept elsewhere: each must be validly signed and match the events it covers,
    /// and the log must reach it, which proves the log as it is extends the one it was signed
    /// over.
    pub saved: &'a [Saved],
    /// The interval writers sign checkpoints at: with trusted keys, events past it with no
    /// checkpoint are a problem, as is an empty log.
    pub every: Option<u64>,
    /// Witnesses (C2SP `tlog-cosignature` keys) whose cosignature every saved checkpoint must
    /// carry (a witness cosigns what was published, not the database's rows). They vouch for
    /// checkpoints; they never stand in for the log's key.
    pub witnesses: &'a [Verifier],
}

/// Checks that `note` carries a valid cosignature by every witness.
fn cosigned(note: &str, size: u64, witnesses: &[Verifier]) -> Result<(), Problem> {
    for w in witnesses {
        Checkpoint::open(note, std::slice::from_ref(w)).map_err(|source| Problem::NotCosigned {
            size,
            witness: format!("{}+{:08x}", w.name(), w.key_id()),
            source,
        })?;
    }
    Ok(())
}

/// Verifies a whole log from its rows, in `seq` order and in batches, against its stored
/// checkpoints, its `anchors` and head, trusting `trusted` keys (and the keys the log announces
/// in [`KEY_ROTATED`](crate::KEY_ROTATED) events, once a trusted checkpoint vouches for them).
/// Each batch is digested in parallel; problems with the data are in the report.
///
/// # Errors
///
/// The first error of `batches` (the store could not be read).
pub fn walk<E>(
    batches: impl IntoIterator<Item = Result<EventBatch, E>>,
    checkpoints: &[StoredCheckpoint],
    head: Head,
    mut trusted: Vec<Verifier>,
    anchors: &Anchors<'_>,
) -> Result<Report, E> {
    let anchored = !trusted.is_empty();
    // Each saved note is read for its size first; its signature is checked when the walk reaches
    // it, against the keys trusted by then.
    let mut sized: Vec<(u64, &Saved)> = Vec::with_capacity(anchors.saved.len());
    for s in anchors.saved {
        match s.note.split_once("\n\n").and_then(|(body, _)| Checkpoint::parse_body(&format!("{body}\n")).ok()) {
            Some(cp) => sized.push((cp.size, s)),
            None => {
                let source =
                    Checkpoint::open(&s.note, &trusted).err().unwrap_or(CheckpointError::Malformed { reason: "no checkpoint body" });
                return Ok(Report { problem: Some(Problem::SavedBadSignature { name: s.name.clone(), source }), ..Report::default() });
            }
        }
    }
    sized.sort_by_key(|(size, _)| *size);
    let mut sized = sized.into_iter().peekable();
    let mut report = Report::default();
    let mut announced: Vec<(u64, Verifier)> = Vec::new();
    let mut walker = ChainWalker::new();
    let mut cps = checkpoints.iter().peekable();
    let mut digests: Vec<RowDigest> = Vec::with_capacity(crate::rows::BATCH_ROWS);
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
    while let Some((_, s)) = sized.next_if(|(size, _)| *size == 0) {
        if let Err(p) = check_saved(s, &walker, &trusted, anchors.witnesses) {
            return fail(report, p);
        }
    }
    for batch in batches {
        let batch: EventBatch = batch?;
        (0..batch.len()).into_par_iter().map(|i| RowDigest::of(&batch.get(i))).collect_into_vec(&mut digests);
        for (row, digest) in batch.iter().zip(&digests) {
            if let Err(p) = walker.step_digested(&row, digest) {
                return fail(report, p);
            }
            if row.action == crate::KEY_ROTATED
                && let Some(v) = event::Event::decode(row.body)
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
            while let Some((_, s)) = sized.next_if(|(size, _)| *size == row.seq) {
                if let Err(p) = check_saved(s, &walker, &trusted, anchors.witnesses) {
                    return fail(report, p);
                }
                report.saved += 1;
            }
        }
    }
    let last = walker.next_seq() - 1;
    if let Some(cp) = cps.next() {
        return fail(report, Problem::TruncatedBehindCheckpoint { size: cp.size, last });
    }
    if let Some((size, s)) = sized.next() {
        return fail(report, Problem::TruncatedBehindSaved { name: s.name.clone(), size, last });
    }
    if head.size != last || head.hash != walker.hash() {
        return fail(report, Problem::HeadMismatch { head: head.size, found: last });
    }
    if anchored && let Some(every) = anchors.every.filter(|e| *e > 0) {
        if last == 0 && anchors.saved.is_empty() {
            return fail(report, Problem::Empty);
        }
        if last / every > report.last_checkpoint / every {
            let covered = report.last_checkpoint;
            return fail(report, Problem::Unanchored { last, covered, every });
        }
    }
    Ok(report)
}

/// Checks a checkpoint kept outside the database against the walk, which has just reached its
/// size.
fn check_saved(saved: &Saved, walker: &ChainWalker, trusted: &[Verifier], witnesses: &[Verifier]) -> Result<(), Problem> {
    let name = || saved.name.clone();
    let (signed, _) = Checkpoint::open(&saved.note, trusted).map_err(|source| Problem::SavedBadSignature { name: name(), source })?;
    if signed.root != walker.root() || signed.chain_hash != walker.hash() {
        return Err(Problem::SavedMismatch { name: name(), size: signed.size });
    }
    cosigned(&saved.note, signed.size, witnesses)
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
