//! The one append API of the tamper-evident audit trail, with periodic signed checkpoints
//! (the formats and checks are in [`tollgate_audit`]).
//!
//! **Architecture Invariant:** events are written only through [`AuditLog`] (or the
//! [`Store::append`] / [`Store::record`] it wraps); nothing writes audit rows directly.

use crate::{RecordKind, Store, StoreError, StoredCheckpoint};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tollgate_audit::checkpoint::{self, Checkpoint, Signer};
use tollgate_audit::event::{GENESIS, NewEvent, StoredEvent};
use tollgate_audit::merkle::CompactRange;
use tollgate_audit::{KEY_ROTATED, event, verify};

/// Environment variable holding a checkpoint signing key (`PRIVATE+KEY+…`).
pub const KEY_ENV: &str = "TOLLGATE_AUDIT_KEY";

/// How many events may accumulate before [`AuditLog::append`] signs a new checkpoint.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A checkpoint was asked for but no signing key is configured.
    #[error("no checkpoint signing key; set `{KEY_ENV}` or pass `--key-file`")]
    NoKey,
    /// The stored log does not match its last checkpoint; nothing is signed until it is
    /// investigated (`tollgate audit verify`).
    #[error("the log does not match its checkpoint at size `{size}`; refusing to sign")]
    Inconsistent {
        /// The last good checkpoint's size.
        size: u64,
    },
    /// An event in the range being checkpointed is corrupt; nothing is signed.
    #[error("event `{seq}` is corrupt; refusing to sign")]
    Corrupt {
        /// The row.
        seq: u64,
    },
}

/// Somewhere outside the database that signed checkpoints are published to (a Git ref of the
/// config repo, a folder): what `tollgate audit verify --checkpoint` later checks the log
/// against, so that whoever can rewrite the database cannot also rewrite its anchors.
pub trait Publish: std::fmt::Debug + Send + Sync {
    /// Publishes one checkpoint; publishing the same one again changes nothing.
    ///
    /// # Errors
    ///
    /// Why it could not be published, in a sentence.
    fn publish(&self, checkpoint: &StoredCheckpoint) -> Result<(), String>;
}

/// The one append API of the audit trail, with periodic signed checkpoints.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
    pub(crate) signers: Vec<Signer>,
    origin: String,
    checkpoint_every: u64,
    publisher: Option<std::sync::Arc<dyn Publish>>,
}

impl AuditLog {
    /// An audit log over `store`, without a signing key.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            signers: Vec::new(),
            origin: checkpoint::DEFAULT_ORIGIN.to_owned(),
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            publisher: None,
        }
    }

    /// Signs checkpoints with `current`, cosigned by `previous` keys (which vouches for a
    /// rotation to `current`).
    pub fn with_signers(mut self, current: Signer, previous: Vec<Signer>) -> Self {
        self.signers = std::iter::once(current).chain(previous).collect();
        self
    }

    /// Signs a checkpoint whenever this many events have accumulated (0: never automatically).
    pub fn with_checkpoint_every(mut self, every: u64) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// Publishes every checkpoint signed from now on to `publisher` as well as the database.
    /// A checkpoint that cannot be published is logged, not returned: it is signed and stored.
    pub fn with_publisher(mut self, publisher: std::sync::Arc<dyn Publish>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    fn publish(&self, checkpoint: &StoredCheckpoint) {
        if let Some(p) = &self.publisher
            && let Err(err) = p.publish(checkpoint)
        {
            tracing::warn!(error = %err, size = checkpoint.size, publisher = ?p, "failed to publish an audit checkpoint");
        }
    }

    /// Sets the checkpoint origin line.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Appends events (see [`Store::append`]) and signs a checkpoint when due.
    ///
    /// # Guarantees
    ///
    /// As [`Store::append`]: on `Ok` the events are durably committed. An append whose head
    /// compare-and-swap failed (nothing written) is retried up to three times. A failure to sign
    /// a due checkpoint is logged, not returned, since the events themselves are safe.
    ///
    /// # Errors
    ///
    /// [`AuditError::Store`].
    pub async fn append(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, AuditError> {
        // The head lock makes a failed compare-and-swap all but impossible; if it happens,
        // nothing was written and the append is simply tried again.
        let mut attempts = 0;
        let out = loop {
            match self.store.append(events).await {
                Err(StoreError::HeadMoved) if attempts < 3 => attempts += 1,
                other => break other?,
            }
        };
        if let (Some(first), Some(last)) = (out.first(), out.last()) {
            self.maybe_checkpoint(first.seq, last.seq).await;
        }
        Ok(out)
    }

    /// Records a domain record with its audit event (see [`Store::record`]).
    ///
    /// # Errors
    ///
    /// [`AuditError::Store`].
    pub async fn record(&self, kind: RecordKind, actor: &str, subject: &str, doc: &Value) -> Result<StoredEvent, AuditError> {
        let out = self.store.record(kind, actor, subject, doc).await?;
        self.maybe_checkpoint(out.seq, out.seq).await;
        Ok(out)
    }

    /// Records several domain records with their audit events in one transaction (see
    /// [`Store::record_many`]).
    ///
    /// # Errors
    ///
    /// [`AuditError::Store`].
    pub async fn record_many(&self, records: &[crate::NewRecord]) -> Result<Vec<StoredEvent>, AuditError> {
        let out = self.store.record_many(records).await?;
        if let (Some(first), Some(last)) = (out.first(), out.last()) {
            self.maybe_checkpoint(first.seq, last.seq).await;
        }
        Ok(out)
    }

    /// Signs a checkpoint when events `first..=last` crossed a multiple of `checkpoint_every`.
    async fn maybe_checkpoint(&self, first: u64, last: u64) {
        let every = self.checkpoint_every;
        if self.signers.is_empty() || every == 0 || (first - 1) / every == last / every {
            return;
        }
        if let Err(err) = self.checkpoint().await {
            tracing::warn!(error = %err, seq = last, "failed to sign a due audit checkpoint");
        }
    }

    /// Checks, before writing, that the log still matches its last checkpoint: its stored
    /// frontier reproduces the signed root, the event it ends at is present with the signed
    /// chain hash, and the head is not behind it. A process that finds otherwise must not
    /// append or sign (the log was truncated or rewritten; run `tollgate audit verify`).
    ///
    /// # Errors
    ///
    /// [`AuditError::Inconsistent`] or [`AuditError::Store`].
    pub async fn check_start(&self) -> Result<(), AuditError> {
        let Some(cp) = self.store.checkpoints().await?.pop() else {
            return Ok(());
        };
        let inconsistent = AuditError::Inconsistent { size: cp.size };
        let signed = cp.note.split_once("\n\n").and_then(|(b, _)| Checkpoint::parse_body(&format!("{b}\n")).ok());
        let frontier_ok = CompactRange::from_frontier(cp.size, &cp.frontier).is_some_and(|t| t.root() == cp.root);
        let note_ok = signed.is_some_and(|c| c.size == cp.size && c.root == cp.root && c.chain_hash == cp.chain_hash);
        if !frontier_ok || !note_ok || self.store.head().await?.size < cp.size {
            return Err(inconsistent);
        }
        if cp.size > 0 {
            let mut rows = self.store.events(cp.size, cp.size);
            match rows.next().await {
                Some(Ok(row)) if row.hash == cp.chain_hash => {}
                Some(Err(err)) => return Err(err.into()),
                _ => return Err(inconsistent),
            }
        }
        Ok(())
    }

    /// Signs a checkpoint over the whole log as it stands, unless the last checkpoint already
    /// covers it. When the key differs from the last checkpoint's, an `audit.key.rotated` event
    /// announcing the new key is appended first.
    ///
    /// # Guarantees
    ///
    /// Never signs a checkpoint inconsistent with the previous one: the previous checkpoint's
    /// frontier must reproduce its root, and every event since is re-hashed from its stored
    /// bytes before signing.
    ///
    /// # Errors
    ///
    /// [`AuditError::NoKey`], [`AuditError::Inconsistent`], [`AuditError::Corrupt`] or
    /// [`AuditError::Store`].
    pub async fn checkpoint(&self) -> Result<StoredCheckpoint, AuditError> {
        let current = self.signers.first().ok_or(AuditError::NoKey)?;
        let current_id = format!("{:08x}", current.key_id());
        let mut last = self.store.checkpoints().await?.pop();
        if let Some(prev) = &last
            && prev.key_id != current_id
        {
            let announce = NewEvent::new(
                "tollgate",
                KEY_ROTATED,
                "audit/checkpoint-key",
                json!({ "key": current.verifier().to_text(), "previous_key_id": prev.key_id }),
            )
            .map_err(StoreError::from)?;
            self.store.append(&[announce]).await?;
        }
        let head = self.store.head().await?;
        if let Some(prev) = last.take_if(|prev| prev.size == head.size) {
            return Ok(prev);
        }
        let (mut tree, mut prev_hash, start) = match &last {
            Some(cp) => {
                let tree = CompactRange::from_frontier(cp.size, &cp.frontier)
                    .filter(|t| t.root() == cp.root)
                    .ok_or(AuditError::Inconsistent { size: cp.size })?;
                (tree, cp.chain_hash, cp.size + 1)
            }
            None => (CompactRange::new(), GENESIS, 1),
        };
        let mut expected = start;
        let mut events = self.store.events(start, head.size);
        while let Some(row) = events.next().await {
            let row = row?;
            let fields = verify::body_fields(&row.body);
            if row.seq != expected
                || row.prev_hash != prev_hash
                || fields.map(|f| f.seq) != Some(row.seq)
                || event::chain_hash(&prev_hash, &row.body) != row.hash
            {
                return Err(AuditError::Corrupt { seq: expected });
            }
            tree.push(event::leaf_hash(&prev_hash, &row.body));
            prev_hash = row.hash;
            expected += 1;
        }
        drop(events);
        if expected != head.size + 1 || prev_hash != head.hash {
            return Err(AuditError::Corrupt { seq: expected });
        }
        let cp = Checkpoint { origin: self.origin.clone(), size: head.size, root: tree.root(), chain_hash: prev_hash, time: event::now() };
        let signers: Vec<&Signer> = self.signers.iter().collect();
        let stored = StoredCheckpoint {
            size: cp.size,
            chain_hash: cp.chain_hash,
            root: cp.root,
            time: cp.time.clone(),
            key_id: current_id,
            note: cp.sign(&signers),
            frontier: tree.frontier(),
        };
        if let Err(err) = self.store.insert_checkpoint(&stored).await {
            // Another process may have signed the same size meanwhile; that one stands.
            return match self.store.checkpoints().await?.into_iter().find(|c| c.size == stored.size) {
                Some(existing) => {
                    self.publish(&existing);
                    Ok(existing)
                }
                None => Err(err.into()),
            };
        }
        self.publish(&stored);
        Ok(stored)
    }
}
