-- PostgreSQL's migration 3 sets a fill factor for HOT updates; SQLite has no
-- such setting. Kept so both backends share version numbers.
SELECT 1;
