-- no-transaction
-- Audit records are found by grant (an operator's audit query, and the
-- retention task, which keeps a grant while a record names it). Today the
-- unique index revocations_one_per_grant serves; a partitioned table cannot
-- have it (its unique indexes must hold the partition key), so the
-- partitioned table of migration 18 has this plain index instead, built
-- here without blocking writes and adopted by the old table as it becomes
-- a partition. If the build fails half way: DROP INDEX CONCURRENTLY
-- revocations_by_grant, and migrate again.
CREATE INDEX CONCURRENTLY revocations_by_grant ON revocations (grant_id);
