-- An operator revoking one token at the command line (`rescind token
-- revoke`) is recorded with the presenter kind "operator". Keep in lockstep
-- with migrations/sqlite/0009_operator_presenter.sql.
--
-- An expand step: the check accepts one kind more. The previous release's
-- binary never writes that kind and reads presenter kinds as text, so it
-- runs on this schema, also once rows with "operator" exist.
--
-- Adding a CHECK constraint normally scans the table to validate every
-- existing row, holding ACCESS EXCLUSIVE on it all along: on a large audit
-- table every revocation (each inserts a row here) and every audit read
-- would wait for the scan, and the scan could outlast the statement timeout
-- (database.timeout) that migrations run under, failing the step. NOT VALID
-- skips the scan: the constraint holds for every row written from now on,
-- and the lock is held only for the catalogue change. Taking the lock still
-- waits for the transactions using the table, and while it waits every
-- later revocation queues behind it: lock_timeout gives up after half a
-- second instead, so a long transaction elsewhere costs a failed migration
-- (run it again) rather than seconds of refused revocations.
--
-- The usual second step, VALIDATE CONSTRAINT, is left out on purpose. It
-- would scan under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on,
-- but only in a transaction of its own (in this one the ACCESS EXCLUSIVE lock
-- is still held), again under the statement timeout; and it can find
-- nothing: every existing row passed the previous, narrower check. An
-- operator who wants the constraint marked valid can run, at any time:
--   ALTER TABLE revocations VALIDATE CONSTRAINT revocations_presenter_kind_check;
SET LOCAL lock_timeout = '500ms';
ALTER TABLE revocations
    DROP CONSTRAINT revocations_presenter_kind_check,
    ADD CONSTRAINT revocations_presenter_kind_check
        CHECK (presenter_kind IN ('confidential', 'public', 'anonymous', 'admin', 'operator'))
        NOT VALID;
