-- The Shared Signals Framework transmitter: the receivers an operator
-- registers, each one's event stream, and the Security Event Tokens queued
-- for it to poll (RFC 8936). Keep in lockstep with
-- migrations/sqlite/0011_shared_signals.sql.
--
-- An expand step: new tables only, which the previous release's binary
-- never reads.

-- A receiver authenticates with a bearer credential stored as its SHA-256
-- (32 bytes, like tokens), looked up by that hash.
CREATE TABLE ssf_receivers (
    id              TEXT PRIMARY KEY,
    -- The `aud` of every event sent to it.
    audience        TEXT NOT NULL,
    credential_hash BYTEA NOT NULL UNIQUE CHECK (length(credential_hash) = 32),
    created_at      TIMESTAMPTZ NOT NULL
);

-- One stream per receiver. Events are queued from the outbox after the
-- cursor (txid, event_id), like a webhook endpoint's.
CREATE TABLE ssf_streams (
    id               TEXT PRIMARY KEY,
    receiver_id      TEXT NOT NULL UNIQUE REFERENCES ssf_receivers (id) ON DELETE CASCADE,
    -- Event type URIs, space-separated.
    events_requested TEXT NOT NULL,
    events_delivered TEXT NOT NULL,
    description      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason    TEXT,
    cursor_txid      BIGINT NOT NULL,
    cursor_event_id  BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Signed SETs waiting for their receiver to poll and acknowledge them.
CREATE TABLE ssf_poll_queue (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id  TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    token      TEXT NOT NULL,
    queued_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (stream_id, jti)
);
CREATE INDEX ssf_poll_queue_stream ON ssf_poll_queue (stream_id, id);
