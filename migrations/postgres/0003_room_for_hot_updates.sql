-- A revocation rewrites its grant's row and its tokens' rows once. Leaving a
-- fifth of each page free lets PostgreSQL keep the new row versions on the
-- same page (HOT updates), so no index entry is written for them: with full
-- pages, each revocation wrote six index entries for these two tables. The
-- setting applies to pages written from now on; rows already stored gain it
-- when the table is rewritten (VACUUM FULL, pg_repack).
ALTER TABLE grants SET (fillfactor = 80);
ALTER TABLE tokens SET (fillfactor = 80);
