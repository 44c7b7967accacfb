-- Revoking grants revokes their tokens once per statement rather than once
-- per grant. Keep in lockstep with
-- migrations/sqlite/0013_revoke_tokens_once_per_statement.sql.
--
-- Migration 5's row trigger ran one UPDATE of tokens for each claimed grant:
-- a PL/pgSQL call and a statement start per grant. A revocation statement now
-- claims a batch of grants (group commit), and a statement-level trigger
-- revokes all of their tokens in one UPDATE, from the statement's transition
-- tables (the grants' rows before and after it).
--
-- The guarantee is migration 5's: the trigger's UPDATE runs with a snapshot
-- taken when the claiming statement has finished (after any wait for a grant
-- row lock), so it sees every token committed before the claim, including
-- one a refresh rotation added while the revocation waited; a token added
-- after the claim waits for the revocation to commit and is then refused. It
-- holds for every statement that revokes grants, including a previous
-- release's (one grant per statement) during a rolling upgrade.
--
-- A trigger with transition tables cannot name columns, so it fires after
-- every UPDATE of grants; only revocations update grants, and the join keeps
-- just the rows whose revoked_at went from NULL to a time.
--
-- DROP TRIGGER waits for an ACCESS EXCLUSIVE lock on grants behind any open
-- transaction on it, and revocations would queue behind it: lock_timeout
-- gives up after half a second instead (run it again).
SET LOCAL lock_timeout = '500ms';

CREATE FUNCTION revoke_tokens_of_revoked_grants() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE tokens t SET revoked_at = after.revoked_at
    FROM grants_after after
    JOIN grants_before before ON before.id = after.id
    WHERE t.grant_id = after.id AND t.revoked_at IS NULL
      AND before.revoked_at IS NULL AND after.revoked_at IS NOT NULL;
    RETURN NULL;
END
$$;

DROP TRIGGER grants_revoke_tokens ON grants;

CREATE TRIGGER grants_revoke_tokens
    AFTER UPDATE ON grants
    REFERENCING OLD TABLE AS grants_before NEW TABLE AS grants_after
    FOR EACH STATEMENT
    EXECUTE FUNCTION revoke_tokens_of_revoked_grants();

-- Migration 5's function, which only its trigger called.
DROP FUNCTION revoke_tokens_of_revoked_grant();
