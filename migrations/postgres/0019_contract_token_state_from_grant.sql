-- A token's state is its grant's: a token is revoked exactly when its grant
-- is. Keep in lockstep with
-- migrations/sqlite/0019_contract_token_state_from_grant.sql.
--
-- Since this release no reader looks at tokens.revoked_at and no revocation
-- writes it; until this step, migration 13's trigger kept copying each
-- grant's revocation time into its tokens for the previous release's
-- readers (its admin token listing) during a rolling upgrade. A revocation
-- then wrote one grant row and no token rows: the trigger's UPDATE was about
-- a fifth of the database's work per revocation.
--
-- A contract step: the previous release shows revoked tokens as live in its
-- token listing without the column, so run it (`rescind migrate --force`)
-- once no instance of the previous release is left.
--
-- Dropping the trigger needs ACCESS EXCLUSIVE on grants, dropping the column
-- ACCESS EXCLUSIVE on tokens. Both are taken first, in the order a
-- revocation takes them (it reads tokens before grants), so the step waits
-- for revocations in flight rather than deadlocking with one; lock_timeout
-- gives up (run it again) rather than hold up every revocation queued
-- behind it, and is longer than PostgreSQL's deadlock_timeout (1 s by
-- default), after which autovacuum steps aside for a waiting lock.
SET LOCAL lock_timeout = '1500ms';
LOCK TABLE tokens, grants IN ACCESS EXCLUSIVE MODE;

DROP TRIGGER grants_revoke_tokens ON grants;
DROP FUNCTION revoke_tokens_of_revoked_grants();

-- Dropping a column rewrites nothing: its space in each row is reclaimed as
-- rows are rewritten.
ALTER TABLE tokens DROP COLUMN revoked_at;

-- Tokens are never updated now: full pages again (migration 3 left a fifth
-- of each free for updates). Applies to pages written from now on.
ALTER TABLE tokens RESET (fillfactor);
