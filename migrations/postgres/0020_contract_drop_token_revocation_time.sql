-- The column migration 19's trigger filled (see there): nothing reads or
-- writes tokens.revoked_at since. A step of its own, after the trigger is
-- gone (its function wrote the column), locking tokens only (ACCESS
-- EXCLUSIVE, for a moment), for the reason step 19 locks grants only.
SET LOCAL lock_timeout = '1500ms';

-- Dropping a column rewrites nothing: its space in each row is reclaimed as
-- rows are rewritten.
ALTER TABLE tokens DROP COLUMN revoked_at;

-- Tokens are never updated now: full pages again (migration 3 left a fifth
-- of each free for updates). Applies to pages written from now on.
ALTER TABLE tokens RESET (fillfactor);
