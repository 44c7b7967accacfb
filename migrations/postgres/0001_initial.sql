-- Rescind schema, PostgreSQL dialect. Keep in lockstep with migrations/sqlite.
-- Tokens are stored as SHA-256 digests only; client secrets as argon2id PHC strings.

CREATE TABLE clients (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    kind            TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash     TEXT,
    name            TEXT,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);

CREATE TABLE grants (
    id                UUID PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES clients (id),
    subject           TEXT NOT NULL,
    scope             TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    revoked_at        TIMESTAMPTZ,
    revocation_reason TEXT
);

CREATE INDEX grants_client_subject ON grants (client_id, subject);

CREATE TABLE tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id   UUID NOT NULL REFERENCES grants (id),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX tokens_grant ON tokens (grant_id);

-- One row per grant revocation (the audit record). Never the token.
CREATE TABLE revocations (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grant_id             UUID NOT NULL REFERENCES grants (id),
    presented_token_hash BYTEA NOT NULL,
    presented_kind       TEXT NOT NULL,
    presenter_kind       TEXT NOT NULL CHECK (presenter_kind IN ('confidential', 'public', 'anonymous')),
    presenter_client_id  TEXT,
    foreign_client       BOOLEAN NOT NULL,
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX revocations_one_per_grant ON revocations (grant_id);
