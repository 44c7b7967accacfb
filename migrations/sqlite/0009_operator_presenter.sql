-- An operator revoking one token at the command line (`rescind token
-- revoke`) is recorded with the presenter kind "operator". Keep in lockstep
-- with migrations/postgres/0009_operator_presenter.sql.
--
-- An expand step: the check accepts one kind more. The previous release's
-- binary never writes that kind and reads presenter kinds as text, so it
-- runs on this schema, also once rows with "operator" exist.
--
-- SQLite cannot alter a CHECK constraint: the audit table is rebuilt as in
-- migration 4, with every column (source_url from migration 7 included), row
-- (ids kept: audit pages use them as cursors), foreign key and index as they
-- were. No table, trigger or view refers to it, so it can be dropped and
-- renamed in place. The step is one transaction: the copy holds the write
-- lock, and an interrupted run leaves the old table as it was.
CREATE TABLE revocations_rebuilt (
    id                   INTEGER PRIMARY KEY,
    grant_id             BLOB NOT NULL REFERENCES grants (id),
    presented_token_hash BLOB,
    presented_kind       TEXT,
    presenter_kind       TEXT NOT NULL CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin', 'operator')),
    presenter_client_id  TEXT,
    foreign_client       INTEGER NOT NULL CHECK (foreign_client IN (0, 1)),
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TEXT NOT NULL,
    source_url           TEXT
) STRICT;

INSERT INTO revocations_rebuilt (id, grant_id, presented_token_hash, presented_kind,
    presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at,
    source_url)
SELECT id, grant_id, presented_token_hash, presented_kind, presenter_kind,
    presenter_client_id, foreign_client, reason, request_id, revoked_at, source_url
FROM revocations;

DROP TABLE revocations;
ALTER TABLE revocations_rebuilt RENAME TO revocations;
CREATE UNIQUE INDEX revocations_one_per_grant ON revocations (grant_id);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
