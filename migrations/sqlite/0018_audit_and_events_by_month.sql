-- PostgreSQL partitions the audit records and the outbox by month here, so
-- that retention drops a month at a time. SQLite keeps one table each: an
-- embedded database is sized for far fewer records, and its retention
-- deletes rows by time through the revoked_at indexes. Kept so both
-- backends share version numbers.
SELECT 1;
