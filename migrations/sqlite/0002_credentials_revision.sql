-- A counter bumped whenever a client's secret or enabled state changes. The
-- revocation transaction checks the presenter's revision, so a cached
-- credential stops working the moment the client is rotated or disabled.
ALTER TABLE clients ADD COLUMN credentials_revision INTEGER NOT NULL DEFAULT 0;
