-- Migrations 9 and 10 widened the audit table's presenter check NOT VALID
-- (no scan under ACCESS EXCLUSIVE). A table can only become a partition of
-- a table with a valid check, so migration 18 needs it validated: this
-- scans the table under SHARE UPDATE EXCLUSIVE, which lets revocations and
-- audit reads go on, so waiting for that lock holds up no revocation: the
-- wait may outlast autovacuum's work on the table.
SET LOCAL lock_timeout = '1min';
ALTER TABLE revocations VALIDATE CONSTRAINT revocations_presenter_kind_check;
