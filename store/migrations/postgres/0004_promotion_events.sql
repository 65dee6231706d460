-- Every `promotion.*` event is read by the reconciler's store view: the pull-request events
-- (decision inputs in `pullRequest` mode) and `promotion.failed` / `promotion.recovered` (a
-- promotion that could not be carried out, shown by `status` and `explain`). One partial index
-- over all of them replaces the one over pull-request events alone (0003); there are a few per
-- promotion, so reading them stays a lookup rather than a scan of the whole chain. Queries must
-- repeat the predicate verbatim for the planner to use it.
DROP INDEX audit_events_pull_requests;
CREATE INDEX audit_events_promotions ON audit_events (seq) WHERE action LIKE 'promotion.%';
