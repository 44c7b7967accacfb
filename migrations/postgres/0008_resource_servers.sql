-- Which confidential clients may introspect tokens (RFC 7662 §2.1: the
-- introspection endpoint must be protected, and only the resource servers
-- the operator names may ask it). Existing clients are not resource servers:
-- an operator marks each one after upgrading.
--
-- Compatible with the previous release's binary: a new column with a default.
ALTER TABLE clients ADD COLUMN resource_server BOOLEAN NOT NULL DEFAULT FALSE;
