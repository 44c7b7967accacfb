//! `rescind migrate [--force]`: the expand (and, forced, contract) steps of
//! an upgrade, run once per release.

use serde_json::json;

use super::{CliError, print_json};
use crate::config::Settings;
use crate::server;
use crate::storage::{ContractSteps, Readiness};

pub async fn run(mut settings: Settings, force: bool) -> Result<(), CliError> {
    // Migrate here, with the operator's choice, not in `open_store`.
    settings.database.migrate_on_start = false;
    let store = server::open_store(&settings).await?;
    let contract = if force {
        ContractSteps::Apply
    } else {
        ContractSteps::HoldBack
    };
    let report = store.migrate(contract).await?;
    store.close().await;
    if let Readiness::SchemaIncompatible {
        contracted,
        supported,
        ..
    } = report.compatibility
    {
        return Err(CliError::Incompatible(format!(
            "the database has contract migration {contracted} of a newer release, \
             and this binary (migrations up to {supported}) cannot run on it: use the newer release"
        )));
    }
    server::log_migration(&report);
    print_json(&json!({
        "applied": report.applied,
        "held_back": report.held_back,
        "schema_version": report.schema_version,
        "ready": report.compatibility == Readiness::Ready,
    }))
}
