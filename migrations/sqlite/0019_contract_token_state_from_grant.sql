-- A token's state is its grant's: a token is revoked exactly when its grant
-- is (see PostgreSQL's migration 19). Since this release no reader looks at
-- tokens.revoked_at and no revocation writes it. A contract step: the
-- previous release's token listing reads the column.
--
-- SQLite rewrites the table to drop a column: on a large database this
-- takes the write lock for as long as copying the tokens takes.
ALTER TABLE tokens DROP COLUMN revoked_at;
