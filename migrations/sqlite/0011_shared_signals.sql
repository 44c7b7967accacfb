-- The Shared Signals Framework transmitter's receivers, streams and poll
-- queue. Keep in lockstep with migrations/postgres/0011_shared_signals.sql.
--
-- An expand step: new tables only.

CREATE TABLE ssf_receivers (
    id              TEXT PRIMARY KEY,
    audience        TEXT NOT NULL,
    credential_hash BLOB NOT NULL UNIQUE CHECK (length(credential_hash) = 32),
    created_at      TEXT NOT NULL
);

CREATE TABLE ssf_streams (
    id               TEXT PRIMARY KEY,
    receiver_id      TEXT NOT NULL UNIQUE REFERENCES ssf_receivers (id) ON DELETE CASCADE,
    events_requested TEXT NOT NULL,
    events_delivered TEXT NOT NULL,
    description      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason    TEXT,
    cursor_txid      INTEGER NOT NULL,
    cursor_event_id  INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE ssf_poll_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id  TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    token      TEXT NOT NULL,
    queued_at  TEXT NOT NULL,
    UNIQUE (stream_id, jti)
);
CREATE INDEX ssf_poll_queue_stream ON ssf_poll_queue (stream_id, id);
