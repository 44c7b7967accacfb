//! The month partitions of the audit records (`revocations`) and the outbox
//! (`revocation_events`), kept by the retention task (migration 18 made the
//! tables and the SQL functions called here).
//!
//! Months are created two ahead of the clock, so a revocation finds its
//! month's partition; a DEFAULT partition takes a row from a clock far
//! ahead, and the month's partition, when it is created, takes such rows
//! over. A month goes whole once it ended `retention.audit_days` ago: a
//! `DROP TABLE`, with no row deleted and nothing left for vacuum.
//!
//! Each call runs in a transaction of its own that gives up waiting for its
//! lock after [`LOCK_TIMEOUT`]: creating a month locks the DEFAULT partition
//! and grants, and dropping one locks the parent, in each case behind any
//! transaction using the table, and every revocation would queue behind the
//! wait. A call that gives up is tried again at the next run; nothing
//! depends on it happening on time.
//!
//! Rows are deleted one by one only from the two partitions that are not
//! months (the table the upgrade attached, and DEFAULT), never from a month,
//! which has no index by time: a month that could not be dropped this run
//! waits for the next.

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection, Postgres};

use crate::domain::audit::{PurgeCounts, PurgePlan, start_of_month};
use crate::storage::StoreError;
use crate::storage::maintenance::purge_all;

/// The partitioned tables.
const TABLES: [&str; 2] = ["revocations", "revocation_events"];

/// How long a partition change waits for its lock: longer than
/// PostgreSQL's `deadlock_timeout` (1 s by default), after which autovacuum
/// steps aside for a waiting lock.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '1500ms'";

/// Creates the months of `$1` through the month of `$2`.
const CREATE: &str = "SELECT create_audit_partitions($1::text::regclass, $2)";

/// Drops the months of `$1` that end by `$2`.
const DROP: &str = "SELECT drop_audit_partitions($1::text::regclass, $2)";

/// Creates and drops months as `plan` says, and deletes the old rows of the
/// partitions that are not months, recording what it did in `counts`.
pub async fn keep(
    connection: &mut PgConnection,
    plan: &PurgePlan,
    counts: &mut PurgeCounts,
) -> Result<(), StoreError> {
    for table in TABLES {
        match change(connection, CREATE, table, plan.partitions_through).await {
            Ok(created) => counts.partitions_created += created,
            Err(error) => note_failure(counts, "creating", table, &error),
        }
        let Some(before) = plan.audit_before else {
            continue;
        };
        match change(connection, DROP, table, before).await {
            Ok(dropped) => counts.partitions_dropped += dropped,
            Err(error) => note_failure(counts, "dropping", table, &error),
        }
        // Every record of a month goes at once, whichever partition holds it.
        let deleted =
            delete_outside_months(connection, table, start_of_month(before), plan.batch).await?;
        match table {
            "revocations" => counts.revocations += deleted,
            _ => counts.events += deleted,
        }
    }
    Ok(())
}

/// Deletes the rows from before `before` of `table`'s partitions that are
/// not months, a batch per statement.
async fn delete_outside_months(
    connection: &mut PgConnection,
    table: &str,
    before: DateTime<Utc>,
    batch: u32,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for partition in [
        format!("{table}_before_partitioning"),
        format!("{table}_default"),
    ] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&partition)
            .fetch_one(&mut *connection)
            .await?;
        if exists {
            let sql = format!(
                "DELETE FROM {partition} WHERE (id, revoked_at) IN (SELECT id, revoked_at \
                 FROM {partition} WHERE revoked_at < $1 LIMIT $2)"
            );
            deleted += purge_all::<Postgres>(connection, &sql, before, batch).await?;
        }
    }
    Ok(deleted)
}

/// Runs one partition function on `table` in its own transaction.
async fn change(
    connection: &mut PgConnection,
    sql: &'static str,
    table: &'static str,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = connection.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    let changed: i32 = sqlx::query_scalar(sql)
        .bind(table)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(changed).unwrap_or(0))
}

/// Keeps the first failure of the run (the retention task reports it).
fn note_failure(counts: &mut PurgeCounts, doing: &str, table: &str, error: &StoreError) {
    counts
        .partition_failure
        .get_or_insert_with(|| format!("{doing} month partitions of {table}: {error}"));
}
