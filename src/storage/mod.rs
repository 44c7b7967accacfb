//! Persistence, one trait per concern, with a PostgreSQL and a SQLite backend.
//!
//! Each trait offers use cases, not tables: each method is one transaction,
//! opened and committed inside it, so a caller can never leave work half
//! done. A use case holds only the traits it needs ([`RevocationStore`] for
//! revoking, [`ClientStore`] for authenticating, ...); [`Store`] is all of
//! them, what [`open`] returns and the composition root hands out, each
//! `Arc<dyn Store>` coercing to the narrower `Arc<dyn ClientStore>` and so
//! on.
//!
//! Each concern's file holds its trait, its SQL, its row structs and one
//! implementation for both backends, generic over `backend::Backend`;
//! `postgres/` and `sqlite.rs` hold the dialect, as plain code; PostgreSQL
//! revokes presented tokens through a group commit
//! (`postgres/group_commit.rs`), SQLite one at a time under its single
//! writer; on PostgreSQL the audit records and the outbox are partitioned
//! by month, kept by the retention task (`postgres/partitions.rs`). Both
//! pass the same contract tests (`tests/api`).

mod audit;
mod backend;
mod clients;
mod deliveries;
mod events;
mod grants;
mod introspection;
mod logout;
mod maintenance;
mod migrations;
pub mod postgres;
mod push_queue;
mod revocation;
mod shared_signals;
pub mod sqlite;
mod statement;

pub use migrations::Dialect;

use std::sync::Arc;
use std::time::Duration;

pub use crate::domain::health::{PoolUsage, Readiness};
pub use audit::AuditStore;
pub use clients::{ClientDeletion, ClientStore};
pub use deliveries::DeliveryStore;
pub use events::{ChangeFeed, EventStore};
pub use grants::GrantStore;
pub use introspection::IntrospectionStore;
pub use logout::{LogoutClaim, LogoutStore};
pub use maintenance::Maintenance;
pub use migrations::{
    ContractSteps, LATEST_VERSION as LATEST_MIGRATION, MigrationReport, needed_version,
};
pub use push_queue::PushQueueStore;
pub use revocation::RevocationStore;
pub use shared_signals::{SharedSignalsStore, TakenSets};

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
    /// The failure of a statement several requests shared (a batch of
    /// revocations or of introspection lookups): each of them is answered
    /// with it.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// One request's share of a failure: the error itself when no other
    /// request holds it any more.
    pub(crate) fn shared(error: std::sync::Arc<Self>) -> Self {
        std::sync::Arc::try_unwrap(error).unwrap_or_else(Self::Shared)
    }

    /// A migration that could not reach the database is an outage, not a
    /// broken migration: say so, so an operator looks at the right thing.
    pub(crate) fn from_migration(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(inner) => Self::from(inner),
            other => Self::Migration(other),
        }
    }
}

/// Exhaustive, so a new fault does not compile until it is classed: a
/// database fault is never a `500` and never a `200`, and only an outage is
/// logged as one that passes.
impl crate::domain::fault::Fault for StoreError {
    fn is_outage(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Conflict | Self::MissingReference | Self::Corrupt(_) | Self::Migration(_) => {
                false
            }
            Self::Shared(error) => crate::domain::fault::Fault::is_outage(&**error),
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

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// PostgreSQL: statements of each kind of batch (revocations,
    /// introspection's reads) that may run at once, capped at a quarter of
    /// `max_connections` (one at least).
    pub batch_workers: u32,
    /// Bounds waiting for a connection, and each statement (PostgreSQL
    /// `statement_timeout`, SQLite `busy_timeout`).
    pub timeout: Duration,
}

/// Everything Rescind persists: every concern's trait, implemented by each
/// backend. Only the composition root (the server, the CLI, the tests) holds
/// one; a use case gets the narrower traits it needs.
pub trait Store:
    ClientStore
    + GrantStore
    + RevocationStore
    + IntrospectionStore
    + AuditStore
    + EventStore
    + DeliveryStore
    + LogoutStore
    + SharedSignalsStore
    + PushQueueStore
    + Maintenance
    + 'static
{
}

impl Store for postgres::PostgresStore {}
impl Store for sqlite::SqliteStore {}

/// Opens the store a database URL names: `postgres://` / `postgresql://`, or
/// `sqlite:` (created if missing). The URL scheme is validated by configuration.
pub async fn open(url: &str, settings: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url, settings)?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, settings).await?))
    }
}
