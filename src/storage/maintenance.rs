//! Keeping the database fit to serve: schema, health, retention, the pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, Pool};

use super::StoreError;
use super::backend::{Backend, Connection, Db, Param, RowsAffected};
use super::migrations::{self, ContractSteps, MigrationReport, Plan};
use crate::domain::audit::{PurgeCounts, PurgePlan};
use crate::domain::health::{PoolUsage, Readiness};

/// What operators and the background tasks run on the database itself,
/// rather than on its data's meaning.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Applies pending migrations (one transaction each unless a step says
    /// otherwise, under the backend's lock), contract steps only when
    /// `contract` allows them. Migrations the database knows and this binary
    /// does not (a newer release's) are left alone, never an error.
    async fn migrate(&self, contract: ContractSteps) -> Result<MigrationReport, StoreError>;

    /// Checks the database answers and its schema is one this binary runs on.
    async fn readiness(&self) -> Result<Readiness, StoreError>;

    /// Deletes what `plan` names, a batch per statement (each its own
    /// transaction, so a long purge never holds locks for long), while
    /// holding the retention lock: `Ok(None)` when another instance holds it
    /// (PostgreSQL advisory lock; SQLite's single writer needs none).
    async fn purge(&self, plan: &PurgePlan) -> Result<Option<PurgeCounts>, StoreError>;

    /// The connection pool's current size and idle connections, and what
    /// its request batches ran (metrics).
    fn pool_usage(&self) -> PoolUsage;

    /// Closes every pooled connection (graceful shutdown, tests dropping a database).
    async fn close(&self);
}

/// The retention deletes, each of one batch: `$1` the cutoff, `$2` the batch.
///
/// A live grant's tokens are kept while any of them has not expired (before
/// `$1`): presenting an expired or superseded token of a live grant must
/// still revoke it (a logout with an old access token). They go together
/// once every one has, when the grant can no longer be used.
const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE token_hash IN \
     (SELECT t.token_hash FROM tokens t JOIN grants g ON g.id = t.grant_id \
      WHERE t.expires_at < $1 AND (g.revoked_at IS NOT NULL OR NOT EXISTS \
        (SELECT 1 FROM tokens u WHERE u.grant_id = g.id AND u.expires_at >= $1)) \
      LIMIT $2)";
/// Grants with no token left and no revocation record: nothing refers to them.
const PURGE_GRANTS: &str = "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g \
     WHERE g.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = g.id) \
     AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.grant_id = g.id) LIMIT $2)";
/// Audit records and events by their key (on PostgreSQL, where they are
/// partitioned by month, `(id, revoked_at)`: an id alone may not be unique).
const PURGE_REVOCATIONS: &str = "DELETE FROM revocations WHERE (id, revoked_at) IN \
     (SELECT id, revoked_at FROM revocations WHERE revoked_at < $1 LIMIT $2)";
const PURGE_EVENTS: &str = "DELETE FROM revocation_events WHERE (id, revoked_at) IN \
     (SELECT id, revoked_at FROM revocation_events WHERE revoked_at < $1 LIMIT $2)";
/// Webhook deliveries of events retention removed: a partitioned outbox
/// cannot be the target of a foreign key (its unique keys hold the month),
/// so its dropped events do not take their deliveries with them. Event ids
/// only grow, so a delivery whose event id is below every event left has
/// lost its event. `$1` (now) keeps deliveries queued during this run.
const PURGE_ORPHAN_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE id IN \
     (SELECT id FROM webhook_deliveries WHERE created_at < $1 AND event_id < \
       coalesce((SELECT min(id) FROM revocation_events), 9223372036854775807) LIMIT $2)";
const PURGE_LOGOUT_TOKENS: &str = "DELETE FROM logout_tokens_seen WHERE (issuer, jti) IN \
     (SELECT issuer, jti FROM logout_tokens_seen WHERE expires_at < $1 LIMIT $2)";
/// Tokens queued for a Shared Signals receiver that never acknowledged them.
const PURGE_SSF_SETS: &str = "DELETE FROM ssf_poll_queue WHERE id IN \
     (SELECT id FROM ssf_poll_queue WHERE queued_at < $1 LIMIT $2)";
const PURGE_ADMIN_ACTIONS: &str = "DELETE FROM admin_actions WHERE id IN \
     (SELECT id FROM admin_actions WHERE started_at < $1 LIMIT $2)";

#[async_trait]
impl<B: Backend> Maintenance for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    i64: Param<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
{
    async fn migrate(&self, contract: ContractSteps) -> Result<MigrationReport, StoreError> {
        let own_pool = self.migration_pool();
        let migrated =
            migrate_under_lock::<B>(own_pool.as_ref().unwrap_or(self.pool()), contract).await;
        if let Some(pool) = own_pool {
            pool.close().await;
        }
        Ok(migrated?.report(&self.applied_migrations().await?))
    }

    async fn readiness(&self) -> Result<Readiness, StoreError> {
        Ok(migrations::compatibility(&self.applied_migrations().await?))
    }

    async fn purge(&self, plan: &PurgePlan) -> Result<Option<PurgeCounts>, StoreError> {
        let plan = *plan;
        self.with_retention_lock(move |connection| {
            Box::pin(async move {
                let mut counts = PurgeCounts::default();
                let batch = plan.batch;
                let audit_rows_before =
                    B::keep_audit_partitions(connection, &plan, &mut counts).await?;
                // Audit first: a grant whose record goes may then go too.
                if let Some(before) = plan.audit_before {
                    counts.admin_actions =
                        purge_all::<Db<B>>(connection, PURGE_ADMIN_ACTIONS, before, batch).await?;
                    counts.ssf_sets =
                        purge_all::<Db<B>>(connection, PURGE_SSF_SETS, before, batch).await?;
                }
                if let Some(before) = audit_rows_before {
                    counts.revocations +=
                        purge_all::<Db<B>>(connection, PURGE_REVOCATIONS, before, batch).await?;
                    counts.events +=
                        purge_all::<Db<B>>(connection, PURGE_EVENTS, before, batch).await?;
                }
                if plan.audit_before.is_some() {
                    counts.deliveries =
                        purge_all::<Db<B>>(connection, PURGE_ORPHAN_DELIVERIES, plan.now, batch)
                            .await?;
                }
                let before = plan.tokens_expired_before;
                counts.tokens = purge_all::<Db<B>>(connection, PURGE_TOKENS, before, batch).await?;
                counts.grants = purge_all::<Db<B>>(connection, PURGE_GRANTS, before, batch).await?;
                counts.logout_tokens = purge_all::<Db<B>>(
                    connection,
                    PURGE_LOGOUT_TOKENS,
                    plan.logout_tokens_before,
                    batch,
                )
                .await?;
                Ok(counts)
            })
        })
        .await
    }

    fn pool_usage(&self) -> PoolUsage {
        let idle = u32::try_from(self.pool().num_idle()).unwrap_or(u32::MAX);
        PoolUsage {
            size: self.pool().size(),
            idle,
            batching: self.batching(),
        }
    }

    async fn close(&self) {
        self.pool().close().await;
    }
}

/// Plans and applies the migrations on one connection that holds the
/// migration lock throughout, so the plan is made from what the run finds:
/// of two binaries starting at once on a new PostgreSQL database, only the
/// first sees it new (and applies contract steps there), the second sees
/// the first one's steps. SQLite has no such lock (one instance serves a
/// file). See [`Backend::lock_migrations`] for how it is waited for.
async fn migrate_under_lock<B: Backend>(
    pool: &Pool<Db<B>>,
    contract: ContractSteps,
) -> Result<Plan, StoreError> {
    let mut connection = pool.acquire().await?;
    B::lock_migrations(&mut connection).await?;
    let migrated = async {
        let plan = B::DIALECT.plan(&B::applied_migrations_on(&mut connection).await?, contract);
        let mut migrator = B::DIALECT.migrator(plan.through);
        // This connection holds the lock already.
        migrator.set_locking(false);
        // `run_direct` is what sqlx's public `run` calls once it has a
        // connection; `run` itself cannot take this generic connection.
        migrator
            .run_direct(&mut *connection)
            .await
            .map_err(StoreError::from_migration)?;
        Ok::<_, StoreError>(plan)
    }
    .await;
    if let Err(error) = B::unlock_migrations(&mut connection).await {
        // The session (and its lock) ends with the connection.
        connection.close_on_drop();
        tracing::warn!(%error, "the migration lock could not be released; closing its connection");
    }
    migrated
}

/// Runs one retention delete in batches until a batch comes back short.
pub(super) async fn purge_all<DB>(
    connection: &mut DB::Connection,
    sql: &str,
    before: DateTime<Utc>,
    batch: u32,
) -> Result<u64, StoreError>
where
    DB: Database<QueryResult: RowsAffected>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    i64: Param<DB>,
    DateTime<Utc>: Param<DB>,
{
    let mut deleted = 0;
    loop {
        let done = sqlx::query(sql)
            .bind(before)
            .bind(i64::from(batch))
            .execute(&mut *connection)
            .await?
            .rows_affected();
        deleted += done;
        if done < u64::from(batch) {
            return Ok(deleted);
        }
    }
}
