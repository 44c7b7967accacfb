//! Opening the configured store and reporting what its migrations left.

use secrecy::ExposeSecret as _;
use std::sync::Arc;

use crate::config::Settings;
use crate::storage::{self, ContractSteps, MigrationReport, PoolSettings, Readiness, Store};
use crate::tls::{self};

use super::StartupError;

/// Opens the store named by the configuration, creating the data directory
/// for the embedded default, and applies migrations when configured to.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartupError> {
    tls::install_crypto_provider();
    if settings.database.url.is_none() {
        crate::private_files::create_private_dir(&settings.data_dir).map_err(|source| {
            StartupError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            }
        })?;
    }
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        batch_workers: settings.database.batch_workers,
        timeout: settings.database.timeout,
    };
    let store = storage::open(settings.database_url().expose_secret(), &pool).await?;
    if settings.database.migrate_on_start {
        let report = store.migrate(ContractSteps::HoldBack).await?;
        log_migration(&report);
    }
    Ok(store)
}

/// Tells the operator what a migration run left to do: contract steps held
/// back, or a schema this binary cannot serve.
pub fn log_migration(report: &MigrationReport) {
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, "migrations applied");
    }
    if let Some(first) = report.held_back.first() {
        tracing::warn!(
            contract_step = first,
            held_back = ?report.held_back,
            "contract migrations are held back: run `rescind migrate --force` once no \
             instance of the previous release runs"
        );
    }
    if let Readiness::SchemaIncompatible {
        contracted,
        supported,
        ..
    } = report.compatibility
    {
        tracing::error!(
            contracted,
            supported,
            "a newer release applied a contract migration this binary cannot run on: \
             it stays unready; run the newer release"
        );
    }
}
