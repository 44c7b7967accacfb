-- The revocation event outbox (issue 5), as in PostgreSQL's migration 6: a
-- trigger on the audit record's insert adds the event in the same
-- transaction. Readers follow the outbox by id.
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

CREATE TRIGGER revocations_record_event
AFTER INSERT ON revocations
BEGIN
    INSERT INTO revocation_events
        (grant_id, client_id, subject, token_kinds, presenter_kind, reason, revoked_at)
    SELECT g.id, g.client_id, g.subject,
           COALESCE((SELECT group_concat(kind, ',')
                     FROM (SELECT DISTINCT kind FROM tokens
                           WHERE grant_id = g.id ORDER BY kind)), ''),
           NEW.presenter_kind, NEW.reason, NEW.revoked_at
    FROM grants g WHERE g.id = NEW.grant_id;
END;
