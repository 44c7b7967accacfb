-- Where a grant was given: the authorisation server's login session (the
-- OpenID Connect `sid`) and the device it went to, both optional, so that a
-- logout or a lost device revokes every grant carrying the label. Also the
-- presenter kind "backchannel_logout" and the logout token ids already
-- seen, for the back-channel logout receiver. Keep in lockstep with
-- migrations/postgres/0010_sessions_and_devices.sql (which says why the
-- labels have a table of their own).
--
-- An expand step. The previous release's binary never reads the new tables
-- or columns, and reads presenter kinds as text.

-- 1 to 255 visible ASCII characters each (domain::session checks the same).
-- Deleted with the grant (retention; foreign keys are on).
CREATE TABLE grant_origins (
    grant_id   BLOB PRIMARY KEY REFERENCES grants (id) ON DELETE CASCADE,
    session_id TEXT CHECK (length(session_id) BETWEEN 1 AND 255),
    device_id  TEXT CHECK (length(device_id) BETWEEN 1 AND 255),
    CHECK (session_id IS NOT NULL OR device_id IS NOT NULL)
) STRICT;

CREATE INDEX grant_origins_session ON grant_origins (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX grant_origins_device ON grant_origins (device_id) WHERE device_id IS NOT NULL;

-- Events carry the labels as they were: the grant row may be purged
-- before its events are.
ALTER TABLE revocation_events ADD COLUMN session_id TEXT;
ALTER TABLE revocation_events ADD COLUMN device_id TEXT;

-- SQLite cannot alter a CHECK constraint: the audit table is rebuilt as in
-- migration 9, with every column, row (ids kept: audit pages use them as
-- cursors), foreign key and index as they were. No table, trigger or view
-- refers to it. The step is one transaction: the copy holds the write lock,
-- and an interrupted run leaves the old table as it was.
CREATE TABLE revocations_rebuilt (
    id                   INTEGER PRIMARY KEY,
    grant_id             BLOB NOT NULL REFERENCES grants (id),
    presented_token_hash BLOB,
    presented_kind       TEXT,
    presenter_kind       TEXT NOT NULL CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin', 'operator', 'backchannel_logout')),
    presenter_client_id  TEXT,
    foreign_client       INTEGER NOT NULL CHECK (foreign_client IN (0, 1)),
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TEXT NOT NULL,
    source_url           TEXT
) STRICT;

INSERT INTO revocations_rebuilt (id, grant_id, presented_token_hash, presented_kind,
    presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at,
    source_url)
SELECT id, grant_id, presented_token_hash, presented_kind, presenter_kind,
    presenter_client_id, foreign_client, reason, request_id, revoked_at, source_url
FROM revocations;

DROP TABLE revocations;
ALTER TABLE revocations_rebuilt RENAME TO revocations;
CREATE UNIQUE INDEX revocations_one_per_grant ON revocations (grant_id);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);

-- The logout tokens already accepted, by issuer and `jti`: a replay is
-- refused. Kept until the token's own `expires_at`; retention deletes them
-- after that.
CREATE TABLE logout_tokens_seen (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL CHECK (length(jti) BETWEEN 1 AND 256),
    expires_at TEXT NOT NULL,
    -- When a delivery took the token on, and whether its revocation
    -- finished: a claim never finished (the request was cut off, the
    -- database failed) is taken over by a later delivery after a while.
    claimed_at TEXT NOT NULL,
    completed  INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    PRIMARY KEY (issuer, jti)
) STRICT;

CREATE INDEX logout_tokens_seen_expires_at ON logout_tokens_seen (expires_at);
