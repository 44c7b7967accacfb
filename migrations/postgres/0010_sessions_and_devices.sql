-- Where a grant was given: the authorisation server's login session (the
-- OpenID Connect `sid`) and the device it went to, both optional, so that a
-- logout or a lost device revokes every grant carrying the label. Also the
-- presenter kind "backchannel_logout" and the logout token ids already
-- seen, for the back-channel logout receiver. Keep in lockstep with
-- migrations/sqlite/0010_sessions_and_devices.sql.
--
-- An expand step. The previous release's binary never reads the new table
-- or columns: grants it stores simply have no session or device.
--
-- The labels live in a table of their own, keyed by grant, rather than in
-- two columns of grants: the bulk revocations look them up by index, and an
-- index on the existing grants table would have to be built CONCURRENTLY,
-- alone in a step outside any transaction (see src/storage/migrations.rs).
-- On a new, empty table the indexes are built at once, here. Most grants
-- carry neither label and have no row, so the table stays small.
--
-- Every statement on an existing table takes a brief lock on it (ACCESS
-- EXCLUSIVE to add columns and replace the check, SHARE ROW EXCLUSIVE on
-- grants for the new foreign key): none scans or rewrites a table, so each
-- is a catalogue change. Taking a lock still waits for the transactions
-- using the table, and every later revocation queues behind the wait:
-- lock_timeout gives up after half a second instead, so a long transaction
-- elsewhere costs a failed migration (run it again) rather than seconds of
-- refused revocations. The step is one transaction: a failed run leaves
-- nothing behind.
SET LOCAL lock_timeout = '500ms';

-- 1 to 255 visible ASCII characters each (domain::session checks the same).
-- Deleted with the grant (retention).
CREATE TABLE grant_origins (
    grant_id   UUID PRIMARY KEY REFERENCES grants (id) ON DELETE CASCADE,
    session_id TEXT CHECK (length(session_id) BETWEEN 1 AND 255),
    device_id  TEXT CHECK (length(device_id) BETWEEN 1 AND 255),
    CHECK (session_id IS NOT NULL OR device_id IS NOT NULL)
);

CREATE INDEX grant_origins_session ON grant_origins (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX grant_origins_device ON grant_origins (device_id) WHERE device_id IS NOT NULL;

-- Events carry the labels as they were: the grant row may be purged
-- before its events are.
ALTER TABLE revocation_events ADD COLUMN session_id TEXT, ADD COLUMN device_id TEXT;

-- Widened NOT VALID, as in migration 9: every existing row passed the
-- narrower check, so there is nothing to validate.
ALTER TABLE revocations
    DROP CONSTRAINT revocations_presenter_kind_check,
    ADD CONSTRAINT revocations_presenter_kind_check
        CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin', 'operator', 'backchannel_logout'))
        NOT VALID;

-- The logout tokens already accepted, by issuer and `jti`: a replay is
-- refused on every instance. Kept until the token's own `expires_at`, when
-- a replay fails on its age anyway; retention deletes them after that.
CREATE TABLE logout_tokens_seen (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL CHECK (length(jti) BETWEEN 1 AND 256),
    expires_at TIMESTAMPTZ NOT NULL,
    -- When a delivery took the token on, and whether its revocation
    -- finished: a claim never finished (the request was cut off, the
    -- database failed) is taken over by a later delivery after a while.
    claimed_at TIMESTAMPTZ NOT NULL,
    completed  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (issuer, jti)
);

CREATE INDEX logout_tokens_seen_expires_at ON logout_tokens_seen (expires_at);
