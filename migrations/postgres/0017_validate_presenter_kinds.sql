-- Migrations 9 and 10 widened the audit table's presenter check NOT VALID
-- (no scan under ACCESS EXCLUSIVE). A table can only become a partition of
-- a table with a valid check, so migration 18 needs it validated: this
-- scans the table under SHARE UPDATE EXCLUSIVE, which lets revocations and
-- audit reads go on.
SET LOCAL lock_timeout = '500ms';
ALTER TABLE revocations VALIDATE CONSTRAINT revocations_presenter_kind_check;
