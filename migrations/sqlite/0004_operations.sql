-- Operations (admin API, bulk revocation, retention). Keep in lockstep with
-- migrations/postgres/0004_operations.sql.

ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at TEXT;
ALTER TABLE clients ADD COLUMN deleted_at TEXT;

-- SQLite cannot alter a column's constraints: the audit table is rebuilt
-- with the presented columns optional and "admin" among the presenter kinds.
-- Nothing references it, so it can be dropped and renamed in place.
CREATE TABLE revocations_rebuilt (
    id                   INTEGER PRIMARY KEY,
    grant_id             BLOB NOT NULL REFERENCES grants (id),
    presented_token_hash BLOB,
    presented_kind       TEXT,
    presenter_kind       TEXT NOT NULL CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin')),
    presenter_client_id  TEXT,
    foreign_client       INTEGER NOT NULL CHECK (foreign_client IN (0, 1)),
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TEXT NOT NULL
) STRICT;

INSERT INTO revocations_rebuilt (id, grant_id, presented_token_hash, presented_kind,
    presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at)
SELECT id, grant_id, presented_token_hash, presented_kind, presenter_kind,
    presenter_client_id, foreign_client, reason, request_id, revoked_at
FROM revocations;

DROP TABLE revocations;
ALTER TABLE revocations_rebuilt RENAME TO revocations;
CREATE UNIQUE INDEX revocations_one_per_grant ON revocations (grant_id);

CREATE INDEX grants_subject ON grants (subject);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

CREATE TABLE admin_actions (
    id          INTEGER PRIMARY KEY,
    action      TEXT NOT NULL,
    target      TEXT,
    request_id  TEXT NOT NULL,
    peer        TEXT,
    status      INTEGER,
    started_at  TEXT NOT NULL,
    finished_at TEXT
) STRICT;

CREATE INDEX admin_actions_started_at ON admin_actions (started_at);
