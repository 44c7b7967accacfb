-- The audit records (revocations) and the outbox (revocation_events)
-- partitioned by month of revoked_at (UTC), so that retention drops a month
-- at a time (a catalog change: no row deleted, nothing left for vacuum)
-- instead of deleting rows one batch after another.
--
-- Each table is renamed and becomes the first partition of a new
-- partitioned table of its name, covering everything before next month: no
-- row is copied (but the few from a clock far ahead, which move to their
-- month or the DEFAULT partition), and ids carry on from where they were.
-- Migrations 14 to 17 built and validated beforehand what would otherwise
-- be built here under ACCESS EXCLUSIVE; what is left under the lock is one
-- read of each old table, checking its rows fall in the range it is given
-- (about a second per few million rows: see docs/scaling.md). Then a
-- partition per month from the next one through two months ahead, and a
-- DEFAULT partition that catches a row no month partition takes (a clock
-- far ahead), so a revocation never fails for want of a partition. The
-- retention task keeps creating months two ahead (create_audit_partitions)
-- and drops those wholly older than retention.audit_days
-- (drop_audit_partitions).
--
-- What the unique indexes said now rests on the statements: one audit
-- record per grant (revocations_one_per_grant) holds because only the
-- statement that claims a grant (revoked_at IS NULL to a time) writes its
-- record. webhook_deliveries no longer has a foreign key to its event (no
-- unique index on the event id alone can exist); the retention task deletes
-- the deliveries of events it dropped.
--
-- The previous release runs on the new tables unchanged: its inserts go
-- through the parent, its reads are the same, and its deletes by time still
-- work (without an index by time on the new partitions; its retention runs
-- slower until it is replaced).
--
-- Renaming needs ACCESS EXCLUSIVE on both tables, and attaching the old
-- audit table ACCESS EXCLUSIVE on grants too (its foreign key's triggers
-- there give way to the new table's): every revocation uses all three. The
-- locks are taken first, in the order a revocation takes them (grants, then
-- the outbox, then the audit records, then the webhook deliveries a
-- follower queues after reading the outbox), and grants at once in the mode
-- needed, so that the step waits for revocations in flight rather than
-- deadlocking with one (a revocation reads grants before it updates them,
-- and may not hold the read while the step waits to upgrade). The
-- wait is bounded: lock_timeout gives up (run it again) rather than hold
-- up every revocation queued behind it. It is longer than PostgreSQL's
-- deadlock_timeout (1 s by default) because autovacuum, often busy on
-- these tables, steps aside for a waiting lock only after that long.
SET LOCAL lock_timeout = '1500ms';
LOCK TABLE grants IN ACCESS EXCLUSIVE MODE;
LOCK TABLE revocation_events, revocations, webhook_deliveries IN ACCESS EXCLUSIVE MODE;

-- The first instant (UTC) of the month after the one `at` is in.
CREATE FUNCTION audit_month_after(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$
    SELECT (date_trunc('month', at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
$$;

-- Where a range partition ends; NULL for a DEFAULT partition. The bound is
-- read back from its text, written and parsed with the same settings.
CREATE FUNCTION audit_partition_end(partition regclass) RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path FROM CURRENT SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' AS $$
    SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
    FROM pg_class c WHERE c.oid = partition
$$;

-- Locks, SHARE ROW EXCLUSIVE, the tables `parent`'s foreign keys refer to:
-- what attaching a partition takes on them.
CREATE FUNCTION audit_lock_referenced(parent regclass) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    referenced regclass;
BEGIN
    FOR referenced IN
        SELECT DISTINCT confrelid::regclass FROM pg_constraint
        WHERE conrelid = parent AND contype = 'f'
    LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', referenced);
    END LOOP;
END
$$;

-- Creates the month partitions of `parent` from the end of its last one
-- through the month `through` is in; returns how many. Rows already in the
-- DEFAULT partition for a month (a clock that ran far ahead, or months left
-- uncreated) move into that month's new partition, with the DEFAULT
-- partition and grants locked: more than `move_at_most` of them is refused
-- with an error saying what to do (NULL: no limit, for a run by hand in a
-- quiet hour). Each new table is attached rather than created as
-- a partition: attaching takes SHARE UPDATE EXCLUSIVE on the parent, so
-- inserts of other months go on. It locks the DEFAULT partition while
-- checking it holds no row of the month, and the tables the parent's
-- foreign keys refer to (grants, for the audit records) while the key is
-- added to the month: those are locked first, in the order a revocation
-- locks them, and revocations wait for that moment.
CREATE FUNCTION create_audit_partitions(
    parent regclass, through timestamptz, move_at_most integer DEFAULT 100000
) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    starts timestamptz;
    ends timestamptz;
    partition text;
    waiting bigint;
    created integer := 0;
BEGIN
    SELECT max(audit_partition_end(i.inhrelid)) INTO starts
    FROM pg_inherits i WHERE i.inhparent = parent;
    starts := coalesce(starts, audit_month_after(now()));
    IF starts <= through THEN
        PERFORM audit_lock_referenced(parent);
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', base || '_default');
    END IF;
    WHILE starts <= through LOOP
        ends := audit_month_after(starts);
        partition := base || '_' || to_char(starts AT TIME ZONE 'UTC', 'YYYY_MM');
        IF move_at_most IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE revoked_at >= %L '
                'AND revoked_at < %L LIMIT %s) AS waiting',
                base || '_default', starts, ends, move_at_most + 1) INTO waiting;
            IF waiting > move_at_most THEN
                RAISE EXCEPTION '% holds more than % rows of the month from %: create the '
                    'month in a quiet hour, with SET statement_timeout = 0 and '
                    'SELECT create_audit_partitions(%L, %L, NULL)',
                    base || '_default', move_at_most, starts, base, through;
            END IF;
        END IF;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
            partition, base);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE revoked_at >= %L AND revoked_at < %L '
            'RETURNING *) INSERT INTO %I SELECT * FROM moved',
            base || '_default', starts, ends, partition);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            base, partition, starts, ends);
        created := created + 1;
        starts := ends;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the partitions of `parent` that end at or before `before`; returns
-- how many. Dropping takes ACCESS EXCLUSIVE on the parent for a moment: the
-- caller bounds the wait with lock_timeout.
CREATE FUNCTION drop_audit_partitions(parent regclass, before timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' AS $$
DECLARE
    partition regclass;
    dropped integer := 0;
BEGIN
    FOR partition IN
        SELECT i.inhrelid::regclass FROM pg_inherits i
        WHERE i.inhparent = parent AND audit_partition_end(i.inhrelid) <= before
    LOOP
        EXECUTE format('DROP TABLE %s', partition);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;

-- Called by the retention task, as the owner of the tables.
REVOKE EXECUTE ON FUNCTION create_audit_partitions(regclass, timestamptz, integer),
    drop_audit_partitions(regclass, timestamptz), audit_lock_referenced(regclass) FROM PUBLIC;

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;

-- The audit records.
ALTER TABLE revocations RENAME TO revocations_before_partitioning;
ALTER SEQUENCE revocations_id_seq RENAME TO revocations_before_partitioning_id_seq;
ALTER TABLE revocations_before_partitioning
    DROP CONSTRAINT revocations_pkey,
    ADD CONSTRAINT revocations_before_partitioning_pkey
        PRIMARY KEY USING INDEX revocations_id_revoked_at;
CREATE TABLE revocations (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY,
    grant_id             UUID NOT NULL,
    presented_token_hash BYTEA,
    presented_kind       TEXT,
    presenter_kind       TEXT NOT NULL,
    presenter_client_id  TEXT,
    foreign_client       BOOLEAN NOT NULL,
    reason               TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    revoked_at           TIMESTAMPTZ NOT NULL,
    source_url           TEXT,
    PRIMARY KEY (id, revoked_at),
    CONSTRAINT revocations_grant_id_fkey FOREIGN KEY (grant_id) REFERENCES grants (id),
    CONSTRAINT revocations_presenter_kind_check CHECK (presenter_kind IN
        ('confidential', 'public', 'anonymous', 'admin', 'operator', 'backchannel_logout'))
) PARTITION BY RANGE (revoked_at);
CREATE INDEX revocations_grant ON revocations (grant_id);
-- Ids carry on past every id drawn or stored (a sequence set back by hand
-- included): the key is (id, revoked_at) now, so nothing else would refuse
-- a second row with an old id.
SELECT setval(pg_get_serial_sequence('revocations', 'id'), greatest(1,
    (SELECT last_value FROM revocations_before_partitioning_id_seq),
    (SELECT max(id) FROM revocations_before_partitioning)));
ALTER TABLE revocations_before_partitioning ALTER COLUMN id DROP IDENTITY;

-- The outbox.
ALTER TABLE revocation_events RENAME TO revocation_events_before_partitioning;
ALTER SEQUENCE revocation_events_id_seq RENAME TO revocation_events_before_partitioning_id_seq;
ALTER TABLE revocation_events_before_partitioning
    DROP CONSTRAINT revocation_events_pkey,
    ADD CONSTRAINT revocation_events_before_partitioning_pkey
        PRIMARY KEY USING INDEX revocation_events_id_revoked_at;
CREATE TABLE revocation_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY,
    grant_id       UUID NOT NULL,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    token_kinds    TEXT NOT NULL,
    presenter_kind TEXT NOT NULL,
    reason         TEXT NOT NULL,
    revoked_at     TIMESTAMPTZ NOT NULL,
    txid           BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    session_id     TEXT,
    device_id      TEXT,
    PRIMARY KEY (id, revoked_at)
) PARTITION BY RANGE (revoked_at);
CREATE INDEX revocation_events_in_commit_order ON revocation_events (txid, id);
SELECT setval(pg_get_serial_sequence('revocation_events', 'id'), greatest(1,
    (SELECT last_value FROM revocation_events_before_partitioning_id_seq),
    (SELECT max(id) FROM revocation_events_before_partitioning)));
ALTER TABLE revocation_events_before_partitioning ALTER COLUMN id DROP IDENTITY;

-- The DEFAULT partitions, and the months from next month through two
-- months ahead.
CREATE TABLE revocations_default PARTITION OF revocations DEFAULT;
CREATE TABLE revocation_events_default PARTITION OF revocation_events DEFAULT;
SELECT create_audit_partitions('revocations', now() + interval '62 days');
SELECT create_audit_partitions('revocation_events', now() + interval '62 days');

-- The old tables become the first partitions, of everything before next
-- month. Rows from a clock that ran ahead (revoked_at next month or later)
-- move first to their month or the DEFAULT partition, so that such a row
-- cannot stretch the old table's range and keep the months from starting.
DO $$
DECLARE
    parent text;
    bound timestamptz := audit_month_after(now());
BEGIN
    FOREACH parent IN ARRAY ARRAY['revocations', 'revocation_events'] LOOP
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE revoked_at >= %L RETURNING *) '
            'INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM moved',
            parent || '_before_partitioning', bound, parent);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
            parent, parent || '_before_partitioning', bound);
    END LOOP;
END
$$;
