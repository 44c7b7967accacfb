//! The PostgreSQL backend, for production: several instances share one database.

mod batches;
pub mod group_commit;
mod grouped_reads;
mod partitions;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Connection as _, PgConnection, Postgres, Transaction};

use self::group_commit::{GroupCommit, Pending};
use self::grouped_reads::GroupedReads;
use super::backend::{Backend, RowsAffected};
use super::introspection::{IntrospectRow, Lookup};
use super::migrations::{self, Applied, Dialect};
use super::revocation;
use super::{ChangeFeed, PoolSettings, StoreError, events};
use crate::domain::audit::{PurgeCounts, PurgePlan};
use crate::domain::event::EventPosition;
use crate::domain::health::Batching;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};

/// A batch of revocations in one statement (see [`group_commit`]), so
/// revoking live tokens costs one round trip and one commit for all the
/// requests waiting at that moment. For each request: the sighting
/// (presenter still current? which token and grant?), then, for each grant
/// some request may revoke, the claim of the grant row by the first such
/// request, the revocation event (outbox, with the grant's session and
/// device) and the audit record.
///
/// The grants are locked first, in id order (`locked`), as bulk
/// revocations lock theirs, so two batches never wait for each other in a
/// cycle. No token row is written: a token is dead exactly when its grant
/// is, so a token that a refresh rotation committed while this statement
/// waited for the grant row is dead as soon as the claim commits (a
/// rotation locks the grant row and adds no token to a revoked grant).
/// Until the contract step of migration 19 runs, the `grants_revoke_tokens`
/// trigger of migration 13 still copies the revocation time into the
/// tokens, for a previous release's readers during a rolling upgrade.
/// Data-modifying CTEs run to completion in one snapshot and one transaction
/// (autocommit); the lock's and the claim's `revoked_at IS NULL` are
/// re-checked after a row-lock wait, so of two concurrent revocations of one
/// grant exactly one claims it. The claim applies the revocation rule
/// ([`decide`]) as an optimisation, and each result row feeds that
/// function; `tests/api/revocation_rule.rs` holds the two to the same
/// answers on random cases and random batches.
///
/// Each parameter is an array with one element per request: `$1` token
/// hash, `$2` presenter client id (`NULL`: no client), `$3` its revision,
/// `$4` now, `$5` the reason when the token is the presenter's own, `$6`
/// when it is foreign, `$7` whether foreign tokens may be revoked, `$8`
/// presenter kind, `$9` request id, `$10` where a secret scanner found the
/// token (`NULL` otherwise). One row comes back per request, `ord` its
/// position (from 1). Public for the benchmark, which runs this very
/// statement under `pgbench`, one request per statement, to measure the
/// database's ceiling.
pub const REVOKE_STATEMENT: &str = concat!(
    "WITH request AS (\
       SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[], $4::timestamptz[], \
         $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::text[]) \
       WITH ORDINALITY AS r(token_hash, presenter_id, revision, now, own_reason, \
         foreign_reason, may_revoke_foreign, presenter_kind, request_id, source_url, ord)\
     ), sighting AS (\
       SELECT r.*, \
         r.presenter_id IS NULL OR EXISTS (SELECT 1 FROM clients c \
           WHERE c.id = r.presenter_id AND c.credentials_revision = r.revision \
           AND NOT c.disabled) AS current, \
         t.kind, t.grant_id, g.client_id, g.revoked_at IS NOT NULL AS grant_revoked, \
         (g.client_id <> r.presenter_id) IS TRUE AS foreign_client \
       FROM request r \
       LEFT JOIN tokens t ON t.token_hash = r.token_hash \
       LEFT JOIN grants g ON g.id = t.grant_id\
     ), chosen AS (\
       SELECT DISTINCT ON (s.grant_id) s.* FROM sighting s \
       WHERE s.grant_id IS NOT NULL AND NOT s.grant_revoked AND s.current \
         AND (NOT s.foreign_client OR s.may_revoke_foreign) \
       ORDER BY s.grant_id, s.ord\
     ), locked AS MATERIALIZED (\
       SELECT g.id FROM grants g \
       WHERE g.id IN (SELECT grant_id FROM chosen) AND g.revoked_at IS NULL \
       ORDER BY g.id FOR UPDATE\
     ), claimed AS (\
       UPDATE grants g SET revoked_at = c.now, \
         revocation_reason = CASE WHEN c.foreign_client THEN c.foreign_reason \
           ELSE c.own_reason END \
       FROM chosen c \
       WHERE g.id = c.grant_id AND g.revoked_at IS NULL \
         AND g.id IN (SELECT id FROM locked) \
       RETURNING g.id, g.client_id, g.subject, g.revocation_reason, c.ord\
     ), event AS (\
       INSERT INTO revocation_events (grant_id, client_id, subject, session_id, device_id, \
         token_kinds, presenter_kind, reason, revoked_at) \
       SELECT cl.id, cl.client_id, cl.subject, o.session_id, o.device_id, ",
    revocation::token_kinds_of_grant!("cl.id"),
    ", c.presenter_kind, cl.revocation_reason, c.now \
       FROM claimed cl JOIN chosen c ON c.ord = cl.ord \
       LEFT JOIN grant_origins o ON o.grant_id = cl.id\
     ), audit AS (\
       INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, presenter_kind, \
         presenter_client_id, foreign_client, reason, request_id, revoked_at, source_url) \
       SELECT cl.id, c.token_hash, c.kind, c.presenter_kind, c.presenter_id, c.foreign_client, \
         cl.revocation_reason, c.request_id, c.now, c.source_url \
       FROM claimed cl JOIN chosen c ON c.ord = cl.ord\
     ) \
     SELECT s.ord, s.current, s.kind, s.grant_id, s.client_id, s.grant_revoked, \
       cl.ord IS NOT NULL AS claimed \
     FROM sighting s LEFT JOIN claimed cl ON cl.ord = s.ord"
);

/// The advisory lock key of the retention task ("rescind" + 1).
pub const RETENTION_LOCK: i64 = 0x7265_7363_696e_6401;

/// How often a migration waiting for another instance's tries the lock.
const MIGRATION_LOCK_POLL: Duration = Duration::from_millis(100);

/// The advisory lock key sqlx's migrator uses for the current database
/// (its CRC-32 times a constant), so a previous release's `migrate` and
/// this one's exclude each other.
async fn migration_lock_key(connection: &mut PgConnection) -> Result<i64, StoreError> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(connection)
        .await?;
    Ok(sqlx_migration_lock_key(&database))
}

fn sqlx_migration_lock_key(database: &str) -> i64 {
    i64::from(crc32fast::hash(database.as_bytes())) * 0x3d32_ad9e
}

/// A pooled connection idle this long is pinged before use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    group_commit: Arc<GroupCommit>,
    grouped_reads: Arc<GroupedReads>,
}

impl PostgresStore {
    /// Builds a lazy pool: the server starts (and answers `503`) while the
    /// database is down, and recovers without a restart when it comes back.
    pub fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let statement_timeout_ms = settings.timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Unavailable)?
            .application_name("rescind")
            .options([
                ("statement_timeout", statement_timeout_ms.as_str()),
                // Every statement here finds rows by key, so one generic plan
                // per prepared statement is right for all parameters. By
                // default PostgreSQL may re-plan the revocation statement on
                // every execution (custom plans), which cost more CPU than
                // running it.
                ("plan_cache_mode", "force_generic_plan"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            // sqlx pings every connection before lending it out by default: a
            // second round trip per request. A connection in steady use was
            // proven alive by its last statement; only one that sat idle
            // (the database may have restarted meanwhile) is pinged first.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for < PING_IDLE_AFTER {
                        return Ok(true);
                    }
                    connection.ping().await.map(|()| true)
                })
            })
            .connect_lazy_with(options);
        let workers = batches::workers_per_kind(settings);
        let group_commit = Arc::new(GroupCommit::new(pool.clone(), workers));
        // As many for introspection's reads, which take no lock.
        let grouped_reads = Arc::new(GroupedReads::new(pool.clone(), workers));
        Ok(Self {
            pool,
            group_commit,
            grouped_reads,
        })
    }
}

impl Backend for PostgresStore {
    type Db = Postgres;

    const ROW_LOCK: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const EVENTS_AFTER: &'static str = EVENTS_AFTER;
    const DIALECT: Dialect = Dialect::Postgres;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One connection, like the pool's but with no statement timeout.
    fn migration_pool(&self) -> Option<PgPool> {
        let options = (*self.pool.connect_options())
            .clone()
            .options([("statement_timeout", "0")]);
        Some(
            PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options),
        )
    }

    /// READ COMMITTED is enough for grant issuing; revocation is one statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Every event of a transaction older than all running ones is settled:
    /// a reader starts just past them.
    async fn head_position(connection: &mut PgConnection) -> Result<EventPosition, StoreError> {
        let xmin: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                .fetch_one(connection)
                .await?;
        Ok(EventPosition {
            txid: xmin - 1,
            id: i64::MAX,
        })
    }

    async fn applied_migrations(&self) -> Result<Vec<Applied>, StoreError> {
        Self::applied_migrations_on(&mut *self.pool.acquire().await?).await
    }

    async fn applied_migrations_on(
        connection: &mut PgConnection,
    ) -> Result<Vec<Applied>, StoreError> {
        let applied = sqlx::query_as(migrations::APPLIED)
            .fetch_all(connection)
            .await;
        match applied {
            Ok(rows) => Ok(rows.into_iter().map(Applied::from_row).collect()),
            // undefined_table: the bookkeeping table does not exist, nothing is applied.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => {
                Ok(Vec::new())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Tries sqlx's advisory lock every [`MIGRATION_LOCK_POLL`] until it
    /// is granted, with no statement running in between.
    async fn lock_migrations(connection: &mut PgConnection) -> Result<(), StoreError> {
        let key = migration_lock_key(connection).await?;
        let mut waiting = false;
        loop {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *connection)
                .await?;
            if locked {
                return Ok(());
            }
            if !waiting {
                tracing::info!("waiting for another instance's migrations to finish");
                waiting = true;
            }
            tokio::time::sleep(MIGRATION_LOCK_POLL).await;
        }
    }

    async fn unlock_migrations(connection: &mut PgConnection) -> Result<(), StoreError> {
        let key = migration_lock_key(connection).await?;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(connection)
            .await?;
        Ok(())
    }

    /// Runs `work` on one connection holding the session advisory lock
    /// [`RETENTION_LOCK`], so one instance at a time purges; `None` when
    /// another holds it. The lock goes with the connection if it breaks.
    async fn with_retention_lock<T: Send>(
        &self,
        work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send,
    ) -> Result<Option<T>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RETENTION_LOCK)
            .fetch_one(&mut *connection)
            .await?;
        if !locked {
            return Ok(None);
        }
        let outcome = work(&mut connection).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RETENTION_LOCK)
            .execute(&mut *connection)
            .await;
        if unlocked.is_err() {
            // Never hand a connection that may still hold the lock back to
            // the pool: closing it releases the lock.
            let _ = connection.detach().close().await;
        }
        outcome.map(Some)
    }

    /// See [`partitions`].
    async fn keep_audit_partitions(
        connection: &mut PgConnection,
        plan: &PurgePlan,
        counts: &mut PurgeCounts,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        partitions::keep(connection, plan, counts).await?;
        Ok(None)
    }

    /// Through the group commit: [`REVOKE_STATEMENT`] once for every
    /// revocation waiting at that moment.
    async fn revoke(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError> {
        let seen = self.group_commit.revoke(Pending::new(request)).await?;
        group_commit::outcome(request, &seen)
    }

    /// Through [`grouped_reads`]: one statement for every lookup waiting
    /// at that moment.
    async fn introspection_row(&self, lookup: Lookup) -> Result<IntrospectRow, StoreError> {
        self.grouped_reads.introspection_row(lookup).await
    }

    fn batching(&self) -> Option<Batching> {
        Some(Batching {
            revocations: self.group_commit.counts(),
            introspection_lookups: self.grouped_reads.counts(),
        })
    }

    async fn send_change_notice(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, 'events')")
            .bind(CHANGES_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The `LISTEN` connection comes from a pool of its own (one
    /// connection, kept), so it never takes one of the requests' connections.
    async fn open_change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Box::new(PgChangeFeed(listener))))
    }
}

impl RowsAffected for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        PgQueryResult::rows_affected(self)
    }
}

/// The outbox read: an event is settled when its transaction is older than
/// every transaction still running (`pg_snapshot_xmin`), since only those
/// could still commit events that sort before it (migration 7).
const EVENTS_AFTER: &str = events::events_after_select!(
    settled = "e.txid < x.xmin",
    from = " CROSS JOIN (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) x"
);

/// The channel of change notices between instances.
const CHANGES_CHANNEL: &str = "rescind_changes";

/// A dedicated `LISTEN` connection, re-established by sqlx after a loss.
struct PgChangeFeed(PgListener);

#[async_trait::async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn changed(&mut self) -> Result<(), StoreError> {
        // `None`: the connection was lost (and notices with it); the next
        // call reconnects. Either way the caller reads the outbox now.
        self.0.try_recv().await?;
        Ok(())
    }
}
