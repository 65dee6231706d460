-- PostgreSQL's 0006 announces head moves with NOTIFY; SQLite has no such channel, and
-- `Store::watch_head` polls the head there. Kept so that both backends number alike.
SELECT 1;
