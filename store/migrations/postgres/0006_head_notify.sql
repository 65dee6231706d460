-- Replicas follow the audit trail: every move of the head is announced on the channel
-- `tollgate_audit` (the new size as payload), delivered when the appending transaction commits.
-- `Store::watch_head` listens; on SQLite it polls the head instead.
CREATE FUNCTION tollgate_audit_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tollgate_audit', NEW.size::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_head_notify AFTER UPDATE OF size ON audit_head
    FOR EACH ROW WHEN (NEW.size IS DISTINCT FROM OLD.size)
    EXECUTE FUNCTION tollgate_audit_notify();
