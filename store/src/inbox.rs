//! The webhook inbox: deliveries stored as received and claimed by workers under a lease, and
//! the pull-request heads that were evaluated.
//!
//! GitHub waits 10 seconds for an answer and redelivers what it did not get one for, so
//! `serve` verifies a delivery's signature, stores it with [`Store::enqueue_delivery`] and
//! answers at once; workers take deliveries with [`Store::claim_deliveries`] and report with
//! [`Store::finish_delivery`]. A crash anywhere after the store answered loses nothing: a
//! delivery stays queued until a worker finishes it, and a claim whose worker died is taken
//! again when its lease runs out. Processing is therefore at least once; a redelivery of a
//! stored delivery is recognised by its `(source, id)` and stored no second time.
//!
//! Times are milliseconds since the Unix epoch, from the caller's clock (the lease compares
//! the clocks of the replicas that claim, so they should agree to well within a lease).

use super::{Backend, Store, StoreError, query_err};
use std::collections::HashSet;

/// A delivery as received, before anything parsed it.
#[derive(Debug, Clone, Copy)]
pub struct NewDelivery<'a> {
    /// Who sent it: `github` (other webhook sources may share the inbox).
    pub source: &'a str,
    /// The sender's delivery id (GitHub's `X-GitHub-Delivery`), unique per source.
    pub id: &'a str,
    /// The event name (GitHub's `X-GitHub-Event`).
    pub event: &'a str,
    /// The raw body, as signed.
    pub body: &'a [u8],
    /// When it arrived.
    pub received_at_ms: i64,
}

/// What [`Store::enqueue_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The delivery is stored and queued.
    Queued,
    /// A delivery with this source and id was stored before (in any state, pruned or not);
    /// nothing was written.
    Duplicate,
}

/// A claimed delivery, for a worker to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Arrival order: deliveries are claimed by increasing `n`.
    pub n: u64,
    /// Who sent it.
    pub source: String,
    /// The sender's delivery id.
    pub id: String,
    /// The event name.
    pub event: String,
    /// The raw body, as received.
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at_ms: i64,
    /// Claims so far, this one included (1 on the first). It also identifies this claim:
    /// [`Store::finish_delivery`] applies only while it is the latest.
    pub attempts: u32,
}

/// How processing a claimed delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome<'a> {
    /// Processed: the delivery is done (its body is kept until [`Store::prune_deliveries`]).
    Done,
    /// Failed in a way that may pass later: queued again, to be claimed no earlier than
    /// `not_before_ms`.
    Retry {
        /// Why, kept as the delivery's last error.
        error: &'a str,
        /// The earliest time to claim it again.
        not_before_ms: i64,
    },
    /// Failed for good: kept, counted and listed until an operator requeues it
    /// ([`Store::requeue_delivery`]).
    Failed {
        /// Why.
        error: &'a str,
    },
}

/// How many deliveries are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    /// Waiting for a worker or being processed (claimed under a live lease).
    pub queued: u64,
    /// Processed.
    pub done: u64,
    /// Failed for good.
    pub failed: u64,
}

/// A delivery that failed for good, for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDelivery {
    /// Who sent it.
    pub source: String,
    /// The sender's delivery id.
    pub id: String,
    /// The event name.
    pub event: String,
    /// Claims so far.
    pub attempts: u32,
    /// Why it failed.
    pub error: String,
    /// When it arrived.
    pub received_at_ms: i64,
    /// When it was marked failed.
    pub failed_at_ms: i64,
}

/// The queued deliveries a claim may take at `$now`, oldest first. `state = 'queued'` is
/// verbatim the predicate of the partial index `inbox_deliveries_queued` (migration 0005),
/// which is what lets the planners walk the queued rows alone, in `n` order.
macro_rules! claimable {
    ($now:literal, $limit:literal) => {
        concat!(
            "SELECT n FROM inbox_deliveries WHERE state = 'queued' ",
            "AND (claimed_until IS NULL OR claimed_until < ",
            $now,
            ") AND not_before <= ",
            $now,
            " ORDER BY n LIMIT ",
            $limit
        )
    };
}

/// The columns of a [`Delivery`], as `RETURNING` lists them.
const DELIVERY_COLUMNS: &str = "n, source, delivery_id, event, body, received_at, attempts";

type DeliveryRow = (i64, String, String, String, Vec<u8>, i64, i64);

fn to_delivery((n, source, id, event, body, received_at_ms, attempts): DeliveryRow) -> Delivery {
    Delivery { n: n as u64, source, id, event, body, received_at_ms, attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32 }
}

impl Store {
    /// Stores a delivery, queued, unless one with the same source and id was stored before.
    ///
    /// # Guarantees
    ///
    /// On `Ok(Enqueued::Queued)` the delivery is committed durably (as [`Store::open`]
    /// describes) and will be claimed until a worker finishes it, across restarts. On
    /// `Ok(Enqueued::Duplicate)` nothing was written: the key `(source, id)` is taken, whatever
    /// became of that delivery, even when replicas store the same delivery at the same time.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the database fails; nothing was stored then.
    pub async fn enqueue_delivery(&self, d: &NewDelivery<'_>) -> Result<Enqueued, StoreError> {
        macro_rules! run {
            ($pool:expr, $sql:expr) => {
                sqlx::query($sql)
                    .bind(d.source)
                    .bind(d.id)
                    .bind(d.event)
                    .bind(d.body)
                    .bind(d.received_at_ms)
                    .execute($pool)
                    .await
                    .map(|r| r.rows_affected())
            };
        }
        let done = match &self.backend {
            Backend::Sqlite(pool) => run!(
                pool,
                "INSERT INTO inbox_deliveries (source, delivery_id, event, body, received_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (source, delivery_id) DO NOTHING"
            ),
            Backend::Postgres(pool) => run!(
                pool,
                "INSERT INTO inbox_deliveries (source, delivery_id, event, body, received_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (source, delivery_id) DO NOTHING"
            ),
        }
        .map_err(query_err("store a webhook delivery"))?;
        Ok(if done == 1 { Enqueued::Queued } else { Enqueued::Duplicate })
    }

    /// Claims up to `limit` queued deliveries, oldest first: those never claimed or whose
    /// lease ended before `now_ms`, and whose retry time (if any) is not after `now_ms`. Each
    /// is leased until `now_ms + lease_ms` and its attempts counted.
    ///
    /// # Guarantees
    ///
    /// The claim is one atomic statement: while a lease holds, no other claim — by this or
    /// any other process or replica — returns that delivery. A delivery whose worker never
    /// finishes it (a crash) is claimed again once its lease has ended; nothing is lost, so a
    /// delivery may be processed more than once, never by two workers inside one lease.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the database fails; nothing was claimed then.
    pub async fn claim_deliveries(&self, limit: u32, now_ms: i64, lease_ms: i64) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now_ms.saturating_add(lease_ms);
        // One write statement takes SQLite's write lock before it reads, so its read is of the
        // latest commit and no other writer runs until it commits: as atomic as an explicit
        // `BEGIN IMMEDIATE`, without its extra round trips.
        let sqlite = format!(
            "UPDATE inbox_deliveries SET claimed_until = ?1, attempts = attempts + 1 WHERE n IN ({}) RETURNING {DELIVERY_COLUMNS}",
            claimable!("?2", "?3")
        );
        // `SKIP LOCKED`: concurrent claimers pass over each other's rows instead of waiting and
        // then finding them taken; a row whose claim committed in between is re-checked against
        // the lease by `FOR UPDATE` (read committed) and left out.
        let postgres = format!(
            "UPDATE inbox_deliveries SET claimed_until = $1, attempts = attempts + 1 WHERE n IN ({} FOR UPDATE SKIP LOCKED) RETURNING {DELIVERY_COLUMNS}",
            claimable!("$2", "$3")
        );
        macro_rules! run {
            ($pool:expr, $sql:expr) => {
                sqlx::query_as(sqlx::AssertSqlSafe($sql)).bind(until).bind(now_ms).bind(i64::from(limit)).fetch_all($pool).await
            };
        }
        let mut rows: Vec<DeliveryRow> = match &self.backend {
            Backend::Sqlite(pool) => run!(pool, sqlite),
            Backend::Postgres(pool) => run!(pool, postgres),
        }
        .map_err(query_err("claim webhook deliveries"))?;
        // `RETURNING` promises no order.
        rows.sort_unstable_by_key(|row| row.0);
        Ok(rows.into_iter().map(to_delivery).collect())
    }

    /// Records how processing a claimed delivery ended. `Done` marks it done at `now_ms`;
    /// `Retry` queues it again with its lease cleared, claimable from `not_before_ms`, keeping
    /// the error; `Failed` marks it failed with the error.
    ///
    /// # Guarantees
    ///
    /// It applies only to the latest claim of a queued delivery: `false` (nothing changed)
    /// when the delivery was claimed again since `delivery` was (its lease ran out and another
    /// worker took it, which then decides), was finished already, or is not stored. So a
    /// worker that outlived its lease cannot release a lease another worker holds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the database fails; nothing changed then.
    pub async fn finish_delivery(&self, delivery: &Delivery, outcome: DeliveryOutcome<'_>, now_ms: i64) -> Result<bool, StoreError> {
        let (state, error, not_before, processed_at) = match outcome {
            DeliveryOutcome::Done => ("done", None, None, Some(now_ms)),
            DeliveryOutcome::Retry { error, not_before_ms } => ("queued", Some(error), Some(not_before_ms), None),
            DeliveryOutcome::Failed { error } => ("failed", Some(error), None, Some(now_ms)),
        };
        macro_rules! run {
            ($pool:expr, $sql:expr) => {
                sqlx::query($sql)
                    .bind(state)
                    .bind(error)
                    .bind(not_before)
                    .bind(processed_at)
                    .bind(&delivery.source)
                    .bind(&delivery.id)
                    .bind(i64::from(delivery.attempts))
                    .execute($pool)
                    .await
                    .map(|r| r.rows_affected())
            };
        }
        // The attempts count only grows (requeueing keeps it), so it names one claim.
        let done = match &self.backend {
            Backend::Sqlite(pool) => run!(
                pool,
                "UPDATE inbox_deliveries SET state = ?1, last_error = COALESCE(?2, last_error), \
                 not_before = COALESCE(?3, not_before), processed_at = ?4, claimed_until = NULL \
                 WHERE source = ?5 AND delivery_id = ?6 AND attempts = ?7 AND state = 'queued'"
            ),
            Backend::Postgres(pool) => run!(
                pool,
                "UPDATE inbox_deliveries SET state = $1, last_error = COALESCE($2, last_error), \
                 not_before = COALESCE($3, not_before), processed_at = $4, claimed_until = NULL \
                 WHERE source = $5 AND delivery_id = $6 AND attempts = $7 AND state = 'queued'"
            ),
        }
        .map_err(query_err("finish a webhook delivery"))?;
        Ok(done == 1)
    }

    /// How many deliveries are queued, done and failed. It counts every row: for metrics and
    /// operators, not for each request.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn inbox_counts(&self) -> Result<InboxCounts, StoreError> {
        let sql = "SELECT state, COUNT(*) FROM inbox_deliveries GROUP BY state";
        let rows: Vec<(String, i64)> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .map_err(query_err("count webhook deliveries"))?;
        let mut counts = InboxCounts::default();
        for (state, n) in rows {
            let n = n.max(0) as u64;
            match state.as_str() {
                "queued" => counts.queued = n,
                "done" => counts.done = n,
                // The table's `CHECK` allows no other state.
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// How many deliveries are queued and how many failed: [`InboxCounts`] without `done`
    /// (which grows with every delivery ever taken), cheap enough for every `/metrics` scrape
    /// (each count reads one partial index of migration 0005).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn inbox_backlog(&self) -> Result<InboxCounts, StoreError> {
        let sql = "SELECT (SELECT COUNT(*) FROM inbox_deliveries WHERE state = 'queued'), \
                   (SELECT COUNT(*) FROM inbox_deliveries WHERE state = 'failed')";
        let (queued, failed): (i64, i64) = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
            Backend::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        }
        .map_err(query_err("count queued and failed webhook deliveries"))?;
        Ok(InboxCounts { queued: queued.max(0) as u64, done: 0, failed: failed.max(0) as u64 })
    }

    /// Empties the bodies of the deliveries done before `processed_before_ms`; returns how many
    /// it emptied.
    ///
    /// # Guarantees
    ///
    /// Rows are kept, so a late redelivery of a pruned delivery is still
    /// [`Enqueued::Duplicate`]. Queued and failed deliveries keep their bodies.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`]; nothing was emptied then.
    pub async fn prune_deliveries(&self, processed_before_ms: i64) -> Result<u64, StoreError> {
        // `state = 'done' AND length(body) > 0` is verbatim the predicate of the partial index
        // `inbox_deliveries_unpruned`, so a prune reads only the bodies it empties.
        let done = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("UPDATE inbox_deliveries SET body = ?1 WHERE state = 'done' AND length(body) > 0 AND processed_at < ?2")
                    .bind(&[][..] as &[u8])
                    .bind(processed_before_ms)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres(pool) => {
                sqlx::query("UPDATE inbox_deliveries SET body = $1 WHERE state = 'done' AND length(body) > 0 AND processed_at < $2")
                    .bind(&[][..] as &[u8])
                    .bind(processed_before_ms)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .map_err(query_err("prune webhook deliveries"))?;
        Ok(done)
    }

    /// Up to `limit` deliveries that failed for good, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn failed_deliveries(&self, limit: u32) -> Result<Vec<FailedDelivery>, StoreError> {
        type Row = (String, String, String, i64, Option<String>, i64, Option<i64>);
        let columns = "SELECT source, delivery_id, event, attempts, last_error, received_at, processed_at FROM inbox_deliveries";
        let rows: Vec<Row> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{columns} WHERE state = 'failed' ORDER BY n LIMIT ?")))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{columns} WHERE state = 'failed' ORDER BY n LIMIT $1")))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
            }
        }
        .map_err(query_err("list failed webhook deliveries"))?;
        Ok(rows
            .into_iter()
            .map(|(source, id, event, attempts, error, received_at_ms, failed_at)| FailedDelivery {
                source,
                id,
                event,
                attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                // `finish_delivery` always writes both for a failed delivery.
                error: error.unwrap_or_default(),
                received_at_ms,
                failed_at_ms: failed_at.unwrap_or_default(),
            })
            .collect())
    }

    /// Queues a failed delivery again, claimable at once (an operator's retry); `false` when
    /// no failed delivery has this source and id. Its attempts and last error are kept.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn requeue_delivery(&self, source: &str, id: &str) -> Result<bool, StoreError> {
        let set = "UPDATE inbox_deliveries SET state = 'queued', not_before = 0, claimed_until = NULL, processed_at = NULL";
        let done = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{set} WHERE source = ? AND delivery_id = ? AND state = 'failed'")))
                    .bind(source)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{set} WHERE source = $1 AND delivery_id = $2 AND state = 'failed'")))
                    .bind(source)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .map_err(query_err("requeue a webhook delivery"))?;
        Ok(done == 1)
    }

    /// Records that the head `sha` of a pull request in `repo` (`owner/name`) was evaluated.
    /// Idempotent: marking a head again keeps the first time.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn mark_head_evaluated(&self, repo: &str, sha: &str, at_ms: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("INSERT INTO evaluated_heads (repo, sha, evaluated_at) VALUES (?, ?, ?) ON CONFLICT (repo, sha) DO NOTHING")
                    .bind(repo)
                    .bind(sha)
                    .bind(at_ms)
                    .execute(pool)
                    .await
                    .map(drop)
            }
            Backend::Postgres(pool) => {
                sqlx::query("INSERT INTO evaluated_heads (repo, sha, evaluated_at) VALUES ($1, $2, $3) ON CONFLICT (repo, sha) DO NOTHING")
                    .bind(repo)
                    .bind(sha)
                    .bind(at_ms)
                    .execute(pool)
                    .await
                    .map(drop)
            }
        }
        .map_err(query_err("mark a pull-request head evaluated"))?;
        Ok(())
    }

    /// Which of `shas` were marked evaluated in `repo`: exactly those, each once, however many
    /// are asked about (one statement, one parameter for the list).
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn heads_evaluated(&self, repo: &str, shas: &[&str]) -> Result<HashSet<String>, StoreError> {
        if shas.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> = match &self.backend {
            // The list travels as one JSON array, so no statement grows with it and SQLite's
            // limit on parameters never applies.
            Backend::Sqlite(pool) => {
                let list = serde_json::to_string(shas).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query_scalar("SELECT sha FROM evaluated_heads WHERE repo = ? AND sha IN (SELECT value FROM json_each(?))")
                    .bind(repo)
                    .bind(list)
                    .fetch_all(pool)
                    .await
            }
            Backend::Postgres(pool) => {
                sqlx::query_scalar("SELECT sha FROM evaluated_heads WHERE repo = $1 AND sha = ANY($2)")
                    .bind(repo)
                    .bind(shas)
                    .fetch_all(pool)
                    .await
            }
        }
        .map_err(query_err("read evaluated pull-request heads"))?;
        Ok(rows.into_iter().collect())
    }
}
