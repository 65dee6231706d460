-- Break-glass admissions and their after-the-fact reviews are read back by `tollgate status`
-- and the controller; a partial index finds those few events without scanning the log.
CREATE INDEX audit_events_break_glass ON audit_events (seq)
    WHERE action IN ('admission.break_glass', 'break_glass.review_requested', 'break_glass.reviewed');
