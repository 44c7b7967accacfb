-- A step of PostgreSQL's partitioning of the audit records and the outbox
-- by month (migration 18), which SQLite does not need: one file holds its
-- database and retention deletes rows. Kept so both backends share version
-- numbers.
SELECT 1;
