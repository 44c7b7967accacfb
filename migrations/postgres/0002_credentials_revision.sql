-- A counter bumped whenever a client's secret or enabled state changes. The
-- revocation statement checks the presenter's revision, so a credential cached
-- by any instance stops working the moment the client is rotated or disabled.
ALTER TABLE clients ADD COLUMN credentials_revision BIGINT NOT NULL DEFAULT 0;
