-- PostgreSQL's migration 13 revokes the tokens of the grants a statement
-- revoked once per statement instead of once per grant. SQLite has no such
-- trigger (see migration 5): the revocation's own transaction revokes the
-- tokens. Kept so both backends share version numbers.
SELECT 1;
