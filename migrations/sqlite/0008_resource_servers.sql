-- Which confidential clients may introspect tokens. Keep in lockstep with
-- migrations/postgres/0008_resource_servers.sql.
--
-- Compatible with the previous release's binary: a new column with a default.
ALTER TABLE clients ADD COLUMN resource_server INTEGER NOT NULL DEFAULT 0
    CHECK (resource_server IN (0, 1));
