-- Revoking a grant revokes its tokens, in the same transaction, as seen when
-- the grant row is claimed rather than when the revoking statement started.
--
-- The revocation statement takes its snapshot when it starts. If a refresh
-- rotation (adding a token under the grant row's lock) commits while that
-- statement waits for the row, the statement still claims the grant, but a
-- token update in the statement itself cannot see the new token: it would
-- stay live in a revoked grant. A row trigger's statements run with a fresh
-- snapshot (PL/pgSQL functions are VOLATILE), taken after the wait, so they
-- see every token committed before the claim; a token added after the claim
-- waits for the revocation to commit and is then refused. This holds for
-- every path that revokes a grant (a presented token, bulk revocation,
-- client deletion).
CREATE FUNCTION revoke_tokens_of_revoked_grant() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE tokens SET revoked_at = NEW.revoked_at
    WHERE grant_id = NEW.id AND revoked_at IS NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER grants_revoke_tokens
    AFTER UPDATE OF revoked_at ON grants
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION revoke_tokens_of_revoked_grant();
