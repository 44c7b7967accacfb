-- A token's state is its grant's: a token is revoked exactly when its grant
-- is, and since this release nothing reads or writes tokens.revoked_at. A
-- contract step: the previous release's `rescind token inspect` reads the
-- column (and, after a rollback before this step, shows tokens of grants
-- this release revoked as active: nothing here copies the time into it).
--
-- SQLite copies the table to drop a column, holding the write lock for as
-- long as copying the tokens takes: revocations and issuance wait (and
-- answer 503 past database.timeout) meanwhile.
ALTER TABLE tokens DROP COLUMN revoked_at;
