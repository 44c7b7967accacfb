//! Keeping the database fit to serve: schema, health, retention, the pool.

use async_trait::async_trait;

use super::StoreError;
use super::migrations::{ContractSteps, MigrationReport};
use crate::domain::audit::{PurgeCounts, PurgePlan};

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

    /// The connection pool's current size and idle connections (metrics).
    fn pool_usage(&self) -> PoolUsage;

    /// Closes every pooled connection (graceful shutdown, tests dropping a database).
    async fn close(&self);
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
