//! Persistence behind one trait, with a PostgreSQL and a SQLite backend.
//!
//! The trait offers use cases, not tables: each method is one transaction,
//! opened and committed inside it, so a caller can never leave work half done.
//! Dialect stays inside the backend files; both pass the same contract tests
//! (`tests/api`).

mod migrations;
mod portable;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use migrations::Dialect;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::audit::{
    ActionQuery, AdminAction, BulkRevocation, ClientUpdate, NewAdminAction, Page, PurgeCounts,
    PurgePlan, RevocationQuery, RevocationRecord, TokenAddition,
};
use crate::domain::client::{Client, ClientId};
use crate::domain::event::{EventPage, EventPosition, RevocationEvent};
use crate::domain::grant::{GrantId, NewGrant, NewToken, TokenRecord};
use crate::domain::introspection::Introspection;
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};
use crate::domain::secret::SecretHash;
use crate::domain::token::TokenHash;
use crate::domain::webhook::{AttemptOutcome, DeliveryQuery, EndpointBacklog, WebhookDelivery};

pub use migrations::{ContractSteps, LATEST_VERSION as LATEST_MIGRATION, MigrationReport};

/// What [`Store::delete_client`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDeletion {
    Deleted,
    /// Deleted by an earlier call, which may have failed before revoking
    /// every grant.
    AlreadyDeleted,
    Unknown,
}

/// A store fault. Not-found is never an error: `find_*` answers `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, timed out, or failed mid-operation.
    /// The operation did not commit; the HTTP layer answers `503`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique key is taken (for example a duplicate client id).
    #[error("already exists")]
    Conflict,
    /// A referenced row is missing (for example a grant for an unknown client).
    #[error("referenced row does not exist")]
    MissingReference,
    /// A stored row does not parse into a domain type: the data is corrupt.
    #[error("stored data is invalid: {0}")]
    Corrupt(&'static str),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// A migration that could not reach the database is an outage, not a
    /// broken migration: say so, so an operator looks at the right thing.
    pub(crate) fn from_migration(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(inner) => Self::from(inner),
            other => Self::Migration(other),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return Self::Conflict,
                sqlx::error::ErrorKind::ForeignKeyViolation => return Self::MissingReference,
                _ => {}
            }
        }
        Self::Unavailable(error)
    }
}

/// The result of a readiness probe (`/health/ready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Reachable, but the schema is older than this binary needs.
    MigrationsPending {
        applied: Option<i64>,
        expected: i64,
    },
    /// Reachable, but a newer release applied a contract step (`contracted`)
    /// that this binary, which knows steps up to `supported`, cannot run on.
    SchemaIncompatible {
        applied: Option<i64>,
        contracted: i64,
        supported: i64,
    },
}

/// How many connections a pool holds, and how many of them are idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Bounds waiting for a connection, and each statement (PostgreSQL
    /// `statement_timeout`, SQLite `busy_timeout`).
    pub timeout: Duration,
}

/// Change notices from other instances (PostgreSQL `LISTEN`).
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next notice. `Ok` may also mean the connection was
    /// re-established and notices may have been lost meanwhile: the caller
    /// reads the outbox either way. An error means the feed is down for now.
    async fn changed(&mut self) -> Result<(), StoreError>;
}

/// Everything Rescind persists.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (one transaction each unless a step says
    /// otherwise, under the backend's lock), contract steps only when
    /// `contract` allows them. Migrations the database knows and this binary
    /// does not (a newer release's) are left alone, never an error.
    async fn migrate(&self, contract: ContractSteps) -> Result<MigrationReport, StoreError>;

    /// Closes every pooled connection (graceful shutdown, tests dropping a database).
    async fn close(&self);

    /// Checks the database answers and its schema is one this binary runs on.
    async fn readiness(&self) -> Result<Readiness, StoreError>;

    /// Looks a client up by id.
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Registers a client; `Conflict` when the id is taken.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Replaces a confidential client's secret hash; `false` when no
    /// confidential client has that id. With `previous_valid_until`, the
    /// replaced secret keeps working until then (one previous secret at most);
    /// without, it stops at once.
    async fn set_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
        previous_valid_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Applies `update` and returns the client as it now is; `None` when it
    /// does not exist. Changing `disabled` moves the credentials revision.
    async fn update_client(
        &self,
        id: &ClientId,
        update: &ClientUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError>;

    /// Deletes a client: it disappears from lookups and listings, its
    /// credentials stop working, and its id stays taken (its grants and audit
    /// records keep pointing at it). Says whether it was deleted now, had
    /// been before (its grants may still need revoking), or never existed.
    async fn delete_client(
        &self,
        id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<ClientDeletion, StoreError>;

    /// Up to `limit` clients with ids after `after`, ordered by id.
    async fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError>;

    /// Every allowed origin of every enabled public client (CORS).
    async fn public_client_origins(&self) -> Result<Vec<String>, StoreError>;

    /// Stores grants with their tokens, all in one transaction.
    async fn issue_grants(&self, grants: &[NewGrant]) -> Result<(), StoreError>;

    /// Adds tokens to a live grant (refresh rotation), in one transaction
    /// that refuses a revoked grant.
    async fn add_tokens(
        &self,
        grant_id: &GrantId,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> Result<TokenAddition, StoreError>;

    /// Revokes one batch of the live grants `request.filter` selects, with
    /// their tokens and one audit record each, in one transaction. Answers
    /// how many grants it revoked; zero means none is left.
    async fn revoke_grants(&self, request: &BulkRevocation<'_>) -> Result<u64, StoreError>;

    /// Revocation records matching `query`, oldest first, one page.
    async fn revocation_records(
        &self,
        query: &RevocationQuery,
        page: Page,
    ) -> Result<Vec<RevocationRecord>, StoreError>;

    /// Records an admin call before it acts; returns the record's id.
    async fn begin_admin_action(&self, action: &NewAdminAction<'_>) -> Result<i64, StoreError>;

    /// Completes an admin call's record with the status it answered.
    async fn finish_admin_action(
        &self,
        id: i64,
        status: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Admin call records matching `query`, oldest first, one page.
    async fn admin_actions(
        &self,
        query: &ActionQuery,
        page: Page,
    ) -> Result<Vec<AdminAction>, StoreError>;

    /// Deletes what `plan` names, a batch per statement (each its own
    /// transaction, so a long purge never holds locks for long), while
    /// holding the retention lock: `Ok(None)` when another instance holds it
    /// (PostgreSQL advisory lock; SQLite's single writer needs none).
    async fn purge(&self, plan: &PurgePlan) -> Result<Option<PurgeCounts>, StoreError>;

    /// The connection pool's current size and idle connections (metrics).
    fn pool_usage(&self) -> PoolUsage;

    /// Looks a token up for introspection, checking in the same statement
    /// that the presenter is still a current resource server (enabled, not
    /// rotated, still marked).
    async fn introspect(
        &self,
        hash: &TokenHash,
        presenter: &Presenter,
    ) -> Result<Introspection, StoreError>;

    /// Whether `presenter` is still a current resource server: the check
    /// [`Self::introspect`] makes, alone, for an answer taken from the cache.
    async fn resource_server_is_current(&self, presenter: &Presenter) -> Result<bool, StoreError>;

    /// Up to `limit` outbox events after `after`, in position order, saying
    /// which are settled, with the clients change mark.
    async fn events_after(&self, after: EventPosition, limit: u32)
    -> Result<EventPage, StoreError>;

    /// When the first event after `after`, in position order, was revoked;
    /// `None` when no event follows (the outbox lag metric). One indexed
    /// read.
    async fn next_event_time(
        &self,
        after: EventPosition,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Each webhook endpoint's backlog (metrics), from two statements: the
    /// pending deliveries, reading at most `scan` of them (the count stops
    /// there: a larger backlog shows as `scan`), and the first event after
    /// each endpoint's cursor (one indexed read per endpoint). Endpoints
    /// with neither are absent.
    async fn webhook_backlog(&self, scan: u32) -> Result<Vec<EndpointBacklog>, StoreError>;

    /// Where a new reader of the outbox starts: after every settled event.
    async fn event_head(&self) -> Result<EventPosition, StoreError>;

    /// Wakes every instance's event follower (PostgreSQL `NOTIFY`, sent
    /// outside any revocation's transaction); nothing on SQLite, whose one
    /// instance wakes its follower itself.
    async fn notify_changes(&self) -> Result<(), StoreError>;

    /// Change notices from other instances; `None` where there are none (SQLite).
    async fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError>;

    /// Queues a delivery to `endpoint` for each settled event after the
    /// endpoint's cursor (at first, the outbox's head: a new endpoint gets
    /// events from now on), `limit` at most, and moves the cursor, in one
    /// transaction. Answers how many it queued.
    async fn queue_deliveries(
        &self,
        endpoint: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Claims up to `limit` pending deliveries to `endpoints` that are due
    /// at `now` and not leased, leasing them until `lease_until` (another
    /// instance skips them meanwhile); with their events.
    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(WebhookDelivery, RevocationEvent)>, StoreError>;

    /// Records one attempt's outcome and releases the lease.
    async fn finish_delivery(
        &self,
        id: i64,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deliveries matching `query`, by id, one page (admin API).
    async fn webhook_deliveries(
        &self,
        query: &DeliveryQuery,
        page: Page,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Makes a dead delivery pending again, due now; `false` when no dead
    /// delivery has that id.
    async fn retry_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Which of `hashes` are stored, in any state, in one statement. A
    /// secret scanner's batch of up to thousands of candidates is mostly
    /// false positives: this finds the few worth a revocation without a
    /// round trip for each of the others.
    async fn stored_token_hashes(&self, hashes: &[TokenHash])
    -> Result<Vec<TokenHash>, StoreError>;

    /// Looks a token up by hash (for `token inspect`).
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;

    /// Revokes the grant of the token with this hash: every not-yet-revoked
    /// token of the grant, the grant itself and one audit record, in one
    /// transaction. Concurrent calls for one grant all succeed; exactly one
    /// answers `Revoked`, the others `AlreadyRevoked`.
    async fn revoke_by_token_hash(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError>;
}

/// Opens the store a database URL names: `postgres://` / `postgresql://`, or
/// `sqlite:` (created if missing). The URL scheme is validated by configuration.
pub async fn open(url: &str, settings: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url, settings)?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, settings).await?))
    }
}
