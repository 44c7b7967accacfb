//! The PostgreSQL backend, for production: several instances share one database.

use std::str::FromStr as _;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Connection as _, FromRow as _, PgConnection, Postgres, Row as _, Transaction};

use super::backend::{Backend, RowsAffected};
use super::migrations::{self, Applied, Dialect};
use super::revocation::{self, SightingRow, presenter_columns};
use super::{ChangeFeed, PoolSettings, StoreError, events};
use crate::domain::event::EventPosition;
use crate::domain::revocation::{ForeignPolicy, RevocationOutcome, RevocationRequest};
use crate::domain::revocation_rule::{Decision, Sighting, decide};

/// A whole revocation in one statement, so revoking a live token costs one
/// round trip: the sighting (presenter still current? which token and grant?),
/// the claim of the grant row, the revocation event (outbox, with the
/// grant's session and device) and the audit record. Claiming the grant fires
/// the `grants_revoke_tokens` trigger (migration 5), which revokes every live
/// token of the grant with a snapshot taken after the claim: a token that a
/// refresh rotation committed while this statement waited for the row is
/// revoked too, which an update inside this statement (whose snapshot
/// predates the wait) would miss. Data-modifying CTEs run to completion in one
/// snapshot and one transaction (autocommit); the claim's
/// `WHERE revoked_at IS NULL` is re-checked after a row-lock wait, so of two
/// concurrent revocations of one grant exactly one claims it. The claim
/// applies the revocation rule ([`decide`]) as an optimisation, and the
/// result row feeds that function; `tests/api/revocation_rule.rs` holds the
/// two to the same answers on random cases.
///
/// `$1` token hash, `$2` presenter client id (`NULL`: no client), `$3` its
/// revision, `$4` now, `$5` the reason when the token is the presenter's own,
/// `$6` when it is foreign, `$7` whether foreign tokens may be revoked,
/// `$8` presenter kind, `$9` request id, `$10` where a secret scanner found
/// the token (`NULL` otherwise). Public for the benchmark, which runs
/// this very statement under `pgbench` to measure the database's ceiling.
pub const REVOKE_STATEMENT: &str = concat!(
    "WITH sighting AS (",
    revocation::sighting_select!(),
    "), claimed AS (\
       UPDATE grants g SET revoked_at = $4, \
         revocation_reason = CASE WHEN (s.client_id <> $2) IS TRUE THEN $6 ELSE $5 END \
       FROM sighting s \
       WHERE g.id = s.grant_id AND g.revoked_at IS NULL AND s.current \
         AND ((s.client_id <> $2) IS NOT TRUE OR $7) \
       RETURNING g.id, g.client_id, g.subject, g.revocation_reason, \
         (s.client_id <> $2) IS TRUE AS foreign_client\
     ), event AS (\
       INSERT INTO revocation_events (grant_id, client_id, subject, session_id, device_id, \
         token_kinds, presenter_kind, reason, revoked_at) \
       SELECT c.id, c.client_id, c.subject, o.session_id, o.device_id, ",
    revocation::token_kinds_of_grant!("c.id"),
    ", $8, c.revocation_reason, $4 FROM claimed c \
       LEFT JOIN grant_origins o ON o.grant_id = c.id\
     ), audit AS (\
       INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, presenter_kind, \
         presenter_client_id, foreign_client, reason, request_id, revoked_at, source_url) \
       SELECT c.id, $1, s.kind, $8, $2, c.foreign_client, c.revocation_reason, $9, $4, $10 \
       FROM claimed c, sighting s\
     ) \
     SELECT s.current, s.kind, s.grant_id, s.client_id, s.grant_revoked, \
       EXISTS (SELECT 1 FROM claimed) AS claimed \
     FROM sighting s"
);

/// The advisory lock key of the retention task ("rescind" + 1).
pub const RETENTION_LOCK: i64 = 0x7265_7363_696e_6401;

/// A pooled connection idle this long is pinged before use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        Ok(Self { pool })
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
        let applied = sqlx::query_as(migrations::APPLIED)
            .fetch_all(&self.pool)
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

    /// One round trip: [`REVOKE_STATEMENT`].
    async fn revoke(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError> {
        let (presenter_id, revision) = presenter_columns(request.presenter);
        let own = request.reason(false);
        let foreign = request.reason(true);
        let row = sqlx::query(REVOKE_STATEMENT)
            .bind(&request.token_hash.as_bytes()[..])
            .bind(presenter_id)
            .bind(revision)
            .bind(request.now)
            .bind(own.as_str())
            .bind(foreign.as_str())
            .bind(request.foreign_policy == ForeignPolicy::Revoke)
            .bind(request.presenter.kind_label())
            .bind(request.request_id)
            .bind(request.found_at)
            .fetch_one(&self.pool)
            .await?;
        // The sighting's columns, then whether the grant was claimed.
        let sighting = Sighting::try_from(SightingRow::from_row(&row)?)?;
        let claimed: bool = row.try_get("claimed")?;
        match (decide(&sighting, request), claimed) {
            (Decision::Revoke(plan), true) => Ok(RevocationOutcome::Revoked {
                grant_id: plan.grant_id,
                foreign: plan.foreign,
            }),
            // Another revocation of the same grant committed first.
            (Decision::Revoke(_), false) => Ok(RevocationOutcome::AlreadyRevoked),
            (Decision::Answer(outcome), false) => Ok(outcome),
            (Decision::Answer(_), true) => Err(StoreError::Corrupt(
                "the revocation statement and the revocation policy disagree",
            )),
        }
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
