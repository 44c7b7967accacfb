//! `rescind config check`: the configuration in force, validated, with
//! secrets redacted (the database password, the admin token hash, webhook
//! secrets: the settings redact them whenever they are serialized).

use super::{CliError, print_json};
use crate::config::Settings;

/// Prints the effective settings (defaults, file, environment merged and
/// validated: an invalid configuration never gets here, it stops at load
/// with one line naming the key).
pub fn check(settings: &Settings) -> Result<(), CliError> {
    let value = serde_json::to_value(settings)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    print_json(&serde_json::json!({ "valid": true, "settings": value }))
}
