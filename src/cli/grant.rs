//! `rescind grant …`: what an operator does to grants without the admin
//! listener, through the same use cases as the admin API.

use clap::Subcommand;
use serde_json::json;

use super::client::parse_id;
use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::audit::GrantFilter;
use crate::domain::revocation::RevocationReason;
use crate::server;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Revoke every live grant of a subject, of a client, or of a subject at
    /// one client (as `POST /admin/revocations`): in batches, each grant
    /// with its audit record (reason `admin_bulk`) and event. Interrupted,
    /// the batches done stay revoked and running it again finishes the job.
    Revoke {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long = "client", value_name = "ID")]
        client: Option<String>,
    },
}

pub async fn run(command: GrantCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        GrantCommand::Revoke { subject, client } => {
            let client_id = client.as_deref().map(parse_id).transpose()?;
            let filter = GrantFilter::new(client_id, subject)
                .ok_or_else(|| CliError::Usage("name --subject, --client, or both".to_owned()))?;
            let store = server::open_store(settings).await?;
            let revoker = super::revoker(settings, &store)?;
            let grants = revoker
                .revoke_grants(&filter, RevocationReason::AdminBulk, &super::request_id())
                .await?;
            super::notify_instances(store.as_ref()).await;
            print_json(&json!({ "revoked_grants": grants }))
        }
    }
}
