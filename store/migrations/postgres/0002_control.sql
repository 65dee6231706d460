-- The controller's state next to the audit chain: lookups by subject and API tokens. The
-- reconcile leader is elected with an advisory lock, so PostgreSQL needs no lease table.

CREATE INDEX decisions_subject    ON decisions (subject, audit_seq);
CREATE INDEX approvals_subject    ON approvals (subject, audit_seq);
CREATE INDEX promotions_subject   ON promotions (subject, audit_seq);
CREATE INDEX gate_results_subject ON gate_results (subject, audit_seq);

-- The reconciler reads what was recorded since its last look, by sequence number.
CREATE INDEX decisions_seq  ON decisions (audit_seq);
CREATE INDEX approvals_seq  ON approvals (audit_seq);
CREATE INDEX promotions_seq ON promotions (audit_seq);

-- API tokens: only the SHA-256 of the secret is kept. `id` is the token's public prefix.
CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,
    user_name    TEXT    NOT NULL,
    secret_hash  BYTEA   NOT NULL,
    created_at   TEXT    NOT NULL,
    revoked_at   TEXT,
    audit_seq    BIGINT  NOT NULL REFERENCES audit_events (seq)
);
