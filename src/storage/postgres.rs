//! The PostgreSQL backend, for production: several instances share one database.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::portable::impl_store;
use super::{PoolSettings, Readiness, StoreError, migrations, rows};
use crate::domain::client::{Client, ClientId};
use crate::domain::grant::{NewGrant, TokenRecord};
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};
use crate::domain::secret::SecretHash;
use crate::domain::token::TokenHash;

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
            .options([("statement_timeout", statement_timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// READ COMMITTED is enough: the revocation claims the grant row with an
    /// `UPDATE … WHERE revoked_at IS NULL`, which re-checks after a lock wait.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        migrations::postgres()
            .run(&self.pool)
            .await
            .map_err(StoreError::from_migration)
    }

    async fn applied_version(&self) -> Result<Option<i64>, StoreError> {
        let applied = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await;
        match applied {
            Ok(version) => Ok(version),
            // undefined_table: the bookkeeping table does not exist, nothing is applied.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

impl_store!(PostgresStore, Postgres);
