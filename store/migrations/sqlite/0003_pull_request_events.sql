-- Pull-request promotion events (`promotion.pull_request_*`) are decision inputs in
-- `pullRequest` mode, read by action. A partial index over just those rows keeps the read a
-- lookup rather than a scan of the whole chain, and costs other appends nothing but the test of
-- the predicate. Queries must repeat the predicate verbatim for the planner to use it.
CREATE INDEX audit_events_pull_requests ON audit_events (seq) WHERE action LIKE 'promotion.pull_request%';
