-- Push delivery of Security Event Tokens (RFC 8935). Keep in lockstep with
-- migrations/sqlite/0012_shared_signals_push.sql.
--
-- An expand step: new columns with constant defaults (no table rewrite, a
-- brief lock only), which the previous release's binary never reads.
--
-- Each ALTER TABLE waits for an ACCESS EXCLUSIVE lock behind any open
-- transaction on its table, and receivers' calls would queue behind it:
-- lock_timeout gives up after half a second instead (run it again).
SET LOCAL lock_timeout = '500ms';

-- The origins (scheme, host, port) an operator lets a receiver push to,
-- space-separated; empty: the receiver can only poll.
ALTER TABLE ssf_receivers ADD COLUMN push_origins TEXT NOT NULL DEFAULT '';

-- A stream delivers by push when it has an endpoint, by poll otherwise. The
-- authorization header is sent with every push; it is never shown again.
ALTER TABLE ssf_streams ADD COLUMN push_endpoint TEXT;
ALTER TABLE ssf_streams ADD COLUMN push_authorization TEXT;

-- A queued token of a push stream is sent, retried with backoff and, when
-- its attempts run out or the receiver refuses it, kept as dead (for the
-- operator to see and retry) until retention purges it. A poll stream's
-- tokens leave these as they are.
ALTER TABLE ssf_poll_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ssf_poll_queue ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE ssf_poll_queue ADD COLUMN leased_until TIMESTAMPTZ;
ALTER TABLE ssf_poll_queue ADD COLUMN last_status INTEGER;
ALTER TABLE ssf_poll_queue ADD COLUMN last_error TEXT;
ALTER TABLE ssf_poll_queue ADD COLUMN dead_at TIMESTAMPTZ;
