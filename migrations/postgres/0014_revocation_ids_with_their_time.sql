-- no-transaction
-- The first of five steps that partition the audit records (revocations)
-- and the outbox (revocation_events) by month (migration 18). A unique
-- index of a partitioned table must hold its partition key, so each table's
-- primary key becomes (id, revoked_at). Built here, without blocking writes,
-- so that migration 18 turns it into the old table's primary key at no cost.
-- If the build fails half way it leaves an invalid index: drop it
-- (DROP INDEX CONCURRENTLY revocations_id_revoked_at) and migrate again.
CREATE UNIQUE INDEX CONCURRENTLY revocations_id_revoked_at ON revocations (id, revoked_at);
