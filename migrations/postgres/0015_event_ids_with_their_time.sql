-- no-transaction
-- As migration 14, for the outbox: its primary key becomes (id, revoked_at)
-- in migration 18. If the build fails half way: DROP INDEX CONCURRENTLY
-- revocation_events_id_revoked_at, and migrate again.
CREATE UNIQUE INDEX CONCURRENTLY revocation_events_id_revoked_at
    ON revocation_events (id, revoked_at);
