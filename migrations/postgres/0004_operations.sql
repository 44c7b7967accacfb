-- Operations (admin API, bulk revocation, retention). Keep in lockstep with
-- migrations/sqlite/0004_operations.sql.

-- Secret rotation with a grace period: the previous secret keeps working
-- until previous_secret_expires_at. A deleted client is a tombstone: its id
-- stays taken and its grants and audit records stay readable.
ALTER TABLE clients
    ADD COLUMN previous_secret_hash       TEXT,
    ADD COLUMN previous_secret_expires_at TIMESTAMPTZ,
    ADD COLUMN deleted_at                 TIMESTAMPTZ;

-- An operator's bulk revocation presents no token: the presented columns
-- become optional and "admin" joins the presenter kinds.
ALTER TABLE revocations
    ALTER COLUMN presented_token_hash DROP NOT NULL,
    ALTER COLUMN presented_kind DROP NOT NULL,
    DROP CONSTRAINT revocations_presenter_kind_check,
    ADD CONSTRAINT revocations_presenter_kind_check
        CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin'));

-- Bulk revocation by subject alone; audit reads and retention by time.
CREATE INDEX grants_subject ON grants (subject);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- One row per authenticated admin API call, written before the call acts
-- (so no change goes unrecorded) and completed with its status after.
CREATE TABLE admin_actions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action      TEXT NOT NULL,
    target      TEXT,
    request_id  TEXT NOT NULL,
    peer        TEXT,
    status      INTEGER,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE INDEX admin_actions_started_at ON admin_actions (started_at);
