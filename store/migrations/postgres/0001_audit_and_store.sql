-- The audit chain and the records it covers. Append-only: later changes add new migrations.

-- The single head row every append locks (FOR UPDATE) and compare-and-swaps.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  BIGINT  NOT NULL,
    hash  BYTEA   NOT NULL,
    time  TEXT    NOT NULL
);
INSERT INTO audit_head (id, size, hash, time) VALUES (1, 0, decode(repeat('00', 32), 'hex'), '');

CREATE TABLE audit_events (
    seq        BIGINT  PRIMARY KEY,
    time       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       BYTEA   NOT NULL,
    prev_hash  BYTEA   NOT NULL,
    hash       BYTEA   NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);

-- Defence in depth against accidental edits; `audit verify` is what detects deliberate ones.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE audit_checkpoints (
    size        BIGINT PRIMARY KEY,
    chain_hash  BYTEA  NOT NULL,
    root        BYTEA  NOT NULL,
    time        TEXT   NOT NULL,
    key_id      TEXT   NOT NULL,
    note        TEXT   NOT NULL,
    -- The Merkle frontier (compact range) at `size`, so the next checkpoint extends it.
    frontier    BYTEA  NOT NULL
);

CREATE TABLE releases     (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE TABLE decisions    (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE TABLE approvals    (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE TABLE gate_results (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE TABLE promotions   (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE TABLE model_cards  (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, doc TEXT NOT NULL, recorded_at TEXT NOT NULL, audit_seq BIGINT NOT NULL REFERENCES audit_events (seq));
CREATE INDEX releases_time     ON releases (recorded_at);
CREATE INDEX decisions_time    ON decisions (recorded_at);
CREATE INDEX approvals_time    ON approvals (recorded_at);
CREATE INDEX gate_results_time ON gate_results (recorded_at);
CREATE INDEX promotions_time   ON promotions (recorded_at);
CREATE INDEX model_cards_time  ON model_cards (recorded_at);
