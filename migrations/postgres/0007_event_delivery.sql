-- Delivering revocation events: followers of the outbox, webhook
-- deliveries, client changes other instances must notice, and where a
-- secret scanner found a token.

-- The writing transaction's id. Identity values are drawn when a row is
-- inserted, not when its transaction commits, so a follower reading "ids
-- after the last one seen" would skip an event whose transaction commits
-- after a later id's. Followers read in (txid, id) order instead, and treat
-- as settled only the events of transactions older than every transaction
-- still running (pg_snapshot_xmin): no event can appear before those later.
ALTER TABLE revocation_events
    ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX revocation_events_position ON revocation_events (txid, id);

-- A counter that moves whenever a client's credentials revision moves
-- (rotation, disabling, re-enabling, deletion), so each instance notices
-- with one indexed read that answers it cached may be stale. Client changes
-- are operator actions, rare enough for a trigger, a single-row update and
-- a NOTIFY in their transaction (revocations, frequent, notify outside theirs).
CREATE TABLE change_marks (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    clients   BIGINT NOT NULL
);
INSERT INTO change_marks (singleton, clients) VALUES (TRUE, 0);

CREATE FUNCTION mark_client_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_marks SET clients = clients + 1;
    -- Wakes every instance's event follower at commit, so cached answers
    -- for the client go at once rather than at the next poll.
    PERFORM pg_notify('rescind_changes', 'clients');
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_mark_change
    AFTER UPDATE OF credentials_revision ON clients
    FOR EACH ROW
    WHEN (OLD.credentials_revision IS DISTINCT FROM NEW.credentials_revision)
    EXECUTE FUNCTION mark_client_change();

-- Where a secret scanner saw the token (GitHub/GitLab partner programs).
ALTER TABLE revocations ADD COLUMN source_url TEXT;

-- One row per (webhook endpoint, event): pending until the endpoint answers
-- 2xx (delivered) or the attempts run out (dead, kept for the operator).
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    event_id        BIGINT NOT NULL REFERENCES revocation_events (id) ON DELETE CASCADE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- An instance sending it holds it until then; a crashed one lets go.
    leased_until    TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (endpoint, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- How far each endpoint's deliveries have been queued from the outbox.
CREATE TABLE webhook_cursors (
    endpoint TEXT PRIMARY KEY,
    txid     BIGINT NOT NULL,
    event_id BIGINT NOT NULL
);
