-- PostgreSQL's migration 19 drops the trigger that copied a grant's
-- revocation time into its tokens: a token's state is its grant's. SQLite
-- has no such trigger (see migration 5). Kept so both backends share
-- version numbers, and a contract step on both.
SELECT 1;
