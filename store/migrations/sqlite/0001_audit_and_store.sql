-- The audit chain and the records it covers. Append-only: later changes add new migrations.

-- The single head row every append locks and compare-and-swaps (see docs/audit/format.md).
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    time  TEXT    NOT NULL
);
INSERT INTO audit_head (id, size, hash, time) VALUES (1, 0, zeroblob(32), '');

CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY,
    time       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    prev_hash  BLOB    NOT NULL,
    hash       BLOB    NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);

-- Defence in depth against accidental edits; `audit verify` is what detects deliberate ones.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE audit_checkpoints (
    size        INTEGER PRIMARY KEY,
    chain_hash  BLOB    NOT NULL,
    root        BLOB    NOT NULL,
    time        TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    -- The Merkle frontier (compact range) at `size`, so the next checkpoint extends it.
    frontier    BLOB    NOT NULL
);

-- Domain records. Each row points at the audit event that recorded it; `doc` is the record as
-- canonical JSON.
CREATE TABLE releases     (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE TABLE decisions    (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE TABLE approvals    (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE TABLE gate_results (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE TABLE promotions   (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE TABLE model_cards  (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq INTEGER NOT NULL REFERENCES audit_events (seq));
CREATE INDEX releases_time     ON releases (recorded_at);
CREATE INDEX decisions_time    ON decisions (recorded_at);
CREATE INDEX approvals_time    ON approvals (recorded_at);
CREATE INDEX gate_results_time ON gate_results (recorded_at);
CREATE INDEX promotions_time   ON promotions (recorded_at);
CREATE INDEX model_cards_time  ON model_cards (recorded_at);
