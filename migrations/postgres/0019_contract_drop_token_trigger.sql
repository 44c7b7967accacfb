-- A token's state is its grant's: a token is revoked exactly when its grant
-- is. Steps 19 and 20 are contract steps; keep them in lockstep with
-- migrations/sqlite/0019_contract_drop_token_trigger.sql and
-- migrations/sqlite/0020_contract_drop_token_revocation_time.sql.
--
-- Since this release no reader looks at tokens.revoked_at and no revocation
-- writes it; until this step, migration 13's trigger keeps copying each
-- grant's revocation time into its tokens, which the previous release's
-- `rescind token inspect` reads. Without the trigger a revocation writes
-- one grant row and no token rows: PostgreSQL spent 24 % less CPU per
-- live revocation without the trigger's UPDATE (bench/README.md).
--
-- Run (`rescind migrate --force`) once no instance of the previous release
-- is left: its `rescind token inspect` would show tokens of grants revoked
-- from then on as active.
--
-- Only grants is locked (ACCESS EXCLUSIVE, for a moment), so the step
-- cannot wait in a cycle with a transaction that holds grants and wants
-- tokens (issuance, rotation, bulk revocation) or the reverse (a
-- revocation's statement): it waits for them, and lock_timeout gives up
-- (run it again) rather than hold up every revocation queued behind it,
-- after PostgreSQL's deadlock_timeout (1 s by default), when autovacuum
-- steps aside for a waiting lock.
SET LOCAL lock_timeout = '1500ms';

DROP TRIGGER grants_revoke_tokens ON grants;
DROP FUNCTION revoke_tokens_of_revoked_grants();
