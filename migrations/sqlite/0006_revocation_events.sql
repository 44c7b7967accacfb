-- The revocation event outbox, as in PostgreSQL's migration 6:
-- every path that revokes a grant inserts the event next to the grant's
-- audit record, in the same transaction. Readers follow the outbox by id.
CREATE TABLE revocation_events (
    id             INTEGER PRIMARY KEY,
    grant_id       BLOB NOT NULL,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    token_kinds    TEXT NOT NULL,
    presenter_kind TEXT NOT NULL,
    reason         TEXT NOT NULL,
    revoked_at     TEXT NOT NULL
) STRICT;

CREATE INDEX revocation_events_revoked_at ON revocation_events (revoked_at);
