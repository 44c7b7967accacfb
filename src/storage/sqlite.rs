//! The SQLite backend: the embedded zero-configuration default, one instance.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::backend::{Backend, RowsAffected};
use super::introspection::{INTROSPECT_SELECT, IntrospectRow, Lookup};
use super::migrations::{self, Applied, Dialect};
use super::revocation::{self, SightingRow, presenter_columns};
use super::{ChangeFeed, PoolSettings, StoreError, events};
use crate::domain::audit::{PurgeCounts, PurgePlan};
use crate::domain::event::EventPosition;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};
use crate::domain::revocation_rule::{Decision, Sighting, decide};

/// A pool of connections to one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (and creates if missing) the database file. WAL lets readers run
    /// beside the one writer; `synchronous = FULL` makes a committed revocation
    /// survive a power cut.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(settings.timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

/// The outbox read: SQLite's single writer commits ids in order, so every
/// visible event is settled.
const EVENTS_AFTER: &str = events::events_after_select!(settled = "e.id IS NOT NULL", from = "");

impl Backend for SqliteStore {
    type Db = Sqlite;

    const ROW_LOCK: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const EVENTS_AFTER: &'static str = EVENTS_AFTER;
    const DIALECT: Dialect = Dialect::Sqlite;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// SQLite bounds no statement's time: the migrations share the pool.
    fn migration_pool(&self) -> Option<SqlitePool> {
        None
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never
    /// fails half way when upgrading a read lock, and waits `busy_timeout` for it.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Just past the newest event.
    async fn head_position(connection: &mut SqliteConnection) -> Result<EventPosition, StoreError> {
        let id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM revocation_events")
            .fetch_one(connection)
            .await?;
        Ok(EventPosition { txid: 0, id })
    }

    async fn applied_migrations(&self) -> Result<Vec<Applied>, StoreError> {
        Self::applied_migrations_on(&mut *self.pool.acquire().await?).await
    }

    async fn applied_migrations_on(
        connection: &mut SqliteConnection,
    ) -> Result<Vec<Applied>, StoreError> {
        let table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut *connection)
        .await?;
        if table.is_none() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as(migrations::APPLIED)
            .fetch_all(&mut *connection)
            .await?;
        Ok(rows.into_iter().map(Applied::from_row).collect())
    }

    /// One instance serves a SQLite file: no migration lock (sqlx has none
    /// for SQLite either).
    async fn lock_migrations(_connection: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    async fn unlock_migrations(_connection: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// SQLite serves one instance, and its single writer serialises the
    /// deletes: `work` runs on a pooled connection, no lock needed.
    async fn with_retention_lock<T: Send>(
        &self,
        work: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send,
    ) -> Result<Option<T>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        work(&mut connection).await.map(Some)
    }

    /// SQLite keeps one table each: records go row by row, exactly at
    /// `audit_before`.
    async fn keep_audit_partitions(
        _connection: &mut SqliteConnection,
        plan: &PurgePlan,
        _counts: &mut PurgeCounts,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(plan.audit_before)
    }

    /// The read half (presenter check and token lookup) runs outside the
    /// write lock, so unknown and already-revoked tokens never queue behind
    /// writers; the write half re-checks the grant under `BEGIN IMMEDIATE`.
    async fn revoke(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError> {
        let (presenter_id, revision) = presenter_columns(request.presenter);
        let row: SightingRow = sqlx::query_as(revocation::sighting_select!())
            .bind(&request.token_hash.as_bytes()[..])
            .bind(presenter_id)
            .bind(revision)
            .fetch_one(&self.pool)
            .await?;
        let plan = match decide(&Sighting::try_from(row)?, request) {
            Decision::Answer(outcome) => return Ok(outcome),
            Decision::Revoke(plan) => plan,
        };
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE grants SET revoked_at = $2, revocation_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(plan.grant_id.as_uuid())
        .bind(request.now)
        .bind(plan.reason.as_str())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(RevocationOutcome::AlreadyRevoked);
        }
        sqlx::query(
            "INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, \
             presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at, \
             source_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(plan.grant_id.as_uuid())
        .bind(&request.token_hash.as_bytes()[..])
        .bind(plan.presented_kind.as_str())
        .bind(request.presenter.kind_label())
        .bind(presenter_id)
        .bind(plan.foreign)
        .bind(plan.reason.as_str())
        .bind(request.request_id)
        .bind(request.now)
        .bind(request.found_at)
        .execute(&mut *tx)
        .await?;
        let event = format!(
            "{}$1{}$2)",
            revocation::EVENTS_FOR_GRANTS,
            revocation::EVENTS_FOR_GRANTS_TAIL
        );
        sqlx::query(&event)
            .bind(request.presenter.kind_label())
            .bind(plan.grant_id.as_uuid())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RevocationOutcome::Revoked {
            grant_id: plan.grant_id,
            foreign: plan.foreign,
        })
    }

    /// One statement per lookup: SQLite has no round trip to share.
    async fn introspection_row(&self, lookup: Lookup) -> Result<IntrospectRow, StoreError> {
        Ok(sqlx::query_as(INTROSPECT_SELECT)
            .bind(lookup.token_hash)
            .bind(lookup.presenter_id)
            .bind(lookup.revision)
            .fetch_one(&self.pool)
            .await?)
    }

    /// One instance: its follower is woken in process.
    async fn send_change_notice(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn open_change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        Ok(None)
    }
}
