-- PostgreSQL's migration 5 revokes a grant's tokens from a trigger, to see
-- tokens a concurrent refresh rotation committed while the revocation waited.
-- SQLite has one writer: the revocation's BEGIN IMMEDIATE transaction revokes
-- the tokens after taking the write lock, so it sees every committed token.
-- Kept so both backends share version numbers.
SELECT 1;
