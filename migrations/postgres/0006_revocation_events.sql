-- The revocation event outbox. Every path that revokes a grant
-- (a presented token, a bulk revocation, a client deletion) inserts the
-- event next to the grant's audit record, in the same transaction, so an
-- event exists exactly when a revocation committed. Readers follow the
-- outbox by id.
--
-- Written by the revocation statements themselves rather than by a trigger:
-- under pgbench (16 clients, the revocation statement) a PL/pgSQL trigger on
-- the audit insert cost 10-20 % of the rate, while the statement's own insert
-- costs about 3 %, within this machine's run-to-run spread (two runs each:
-- 5,275 and 4,977 revocations per second with it, 4,959 and 5,611 without).
-- A NOTIFY in the revocation's transaction halved the rate (2,334 against
-- 4,882): it takes PostgreSQL's global notification lock at each notifying
-- commit. Listeners are woken outside the revocation's transaction instead.
CREATE TABLE revocation_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grant_id       UUID NOT NULL,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    -- The kinds of the grant's tokens, sorted, comma-separated ("access,refresh").
    token_kinds    TEXT NOT NULL,
    presenter_kind TEXT NOT NULL,
    reason         TEXT NOT NULL,
    revoked_at     TIMESTAMPTZ NOT NULL
);

CREATE INDEX revocation_events_revoked_at ON revocation_events (revoked_at);
