-- Delivering revocation events, as in PostgreSQL's migration 7.
-- SQLite has one writer at a time, so ids are committed in order: txid stays
-- 0 and followers read by id alone, with the same (txid, id) queries.
ALTER TABLE revocation_events ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revocation_events_position ON revocation_events (txid, id);

CREATE TABLE change_marks (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    clients   INTEGER NOT NULL
) STRICT;
INSERT INTO change_marks (singleton, clients) VALUES (1, 0);

CREATE TRIGGER clients_mark_change
    AFTER UPDATE OF credentials_revision ON clients
    FOR EACH ROW
    WHEN OLD.credentials_revision IS NOT NEW.credentials_revision
BEGIN
    UPDATE change_marks SET clients = clients + 1;
END;

ALTER TABLE revocations ADD COLUMN source_url TEXT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    event_id        INTEGER NOT NULL REFERENCES revocation_events (id) ON DELETE CASCADE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    leased_until    TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (endpoint, event_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_cursors (
    endpoint TEXT PRIMARY KEY,
    txid     INTEGER NOT NULL,
    event_id INTEGER NOT NULL
) STRICT;
