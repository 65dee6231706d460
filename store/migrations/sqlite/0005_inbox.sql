-- The webhook inbox (issue #13). GitHub waits 10 seconds for an answer and redelivers, so
-- `serve` stores each verified delivery here and answers 202 at once; workers claim deliveries
-- and process them. The row is the only copy of the delivery between the 202 and its
-- processing, so it is written durably before the answer, and it outlives its processing:
-- `(source, delivery_id)` is the key that makes a redelivery a no-op, for as long as the row
-- stays (pruning empties the body, never drops the row). `source` is in the key so that other
-- webhook sources can share the table.
CREATE TABLE inbox_deliveries (
    -- Arrival order, which workers follow. AUTOINCREMENT so a number is never reused, even if
    -- the newest row were ever deleted.
    n              INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL,
    delivery_id    TEXT    NOT NULL,
    event          TEXT    NOT NULL,
    -- The raw body, as signed: nothing is parsed before it is stored.
    body           BLOB    NOT NULL,
    -- Times are milliseconds since the Unix epoch, from the caller's clock.
    received_at    INTEGER NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    -- Claims so far; it only grows, so a claim's count fences a worker whose lease ran out.
    attempts       INTEGER NOT NULL DEFAULT 0,
    -- A claim's lease: no other worker claims the delivery until it has passed.
    claimed_until  INTEGER,
    -- A retry waits until then.
    not_before     INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    processed_at   INTEGER,
    UNIQUE (source, delivery_id)
);

-- Claiming walks the queued rows in arrival order; done rows pile up, so the walk goes through
-- a partial index of queued rows alone and never scans them. Queries must repeat the
-- predicate verbatim for the planner to use it.
CREATE INDEX inbox_deliveries_queued ON inbox_deliveries (n) WHERE state = 'queued';
-- Operators list failed deliveries; there are few.
CREATE INDEX inbox_deliveries_failed ON inbox_deliveries (n) WHERE state = 'failed';
-- Pruning empties the bodies of done deliveries processed before a time: the index holds only
-- the done rows that still have a body, so each prune reads what it empties.
CREATE INDEX inbox_deliveries_unpruned ON inbox_deliveries (processed_at) WHERE state = 'done' AND length(body) > 0;

-- Pull-request heads (commits) that were evaluated, so that a periodic resync re-evaluates only
-- the heads whose webhook was never processed. One row per head, written once.
CREATE TABLE evaluated_heads (
    repo          TEXT    NOT NULL,
    sha           TEXT    NOT NULL,
    evaluated_at  INTEGER NOT NULL,
    PRIMARY KEY (repo, sha)
);
