-- Rescind schema, SQLite dialect. Keep in lockstep with migrations/postgres.
-- Tokens are stored as SHA-256 digests only; client secrets as argon2id PHC strings.
-- Timestamps are written by sqlx as UTC text that sorts chronologically.

CREATE TABLE clients (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    kind            TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash     TEXT,
    name            TEXT,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
) STRICT;

CREATE TABLE grants (
    id                BLOB PRIMARY KEY CHECK (length(id) = 16),
    client_id         TEXT NOT NULL REFERENCES clients (id),
    subject           TEXT NOT NULL,
    scope             TEXT,
    created_at        TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason TEXT
) STRICT;

CREATE INDEX grants_client_subject ON grants (client_id, subject);

CREATE TABLE tokens (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id   BLOB NOT NULL REFERENCES grants (id),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX tokens_grant ON tokens (grant_id);

-- One row per grant revocation (the audit record). Never the token.
CREATE TABLE revocations (
    id                   INTEGER PRIMARY KEY,
    grant_id             BLOB NOT NULL REFERENCES grants (id),
    presented_token_hash BLOB NOT NULL,
    presented_kind       TEXT NOT NULL,
    presenter_kind       TEXT NOT NULL CHECK (presenter_kind IN ('confidential', 'public', 'anonymous')),
    presenter_client_id  TEXT,
    foreign_client       INTEGER NOT NULL CHECK (foreign_client IN (0, 1)),
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX revocations_one_per_grant ON revocations (grant_id);
