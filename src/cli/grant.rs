//! `rescind grant …`: what an operator does to grants without the admin
//! listener, through the same use cases as the admin API.

use clap::Subcommand;
use serde_json::json;

use super::client::parse_id;
use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::audit::{GrantCriteria, GrantFilter};
use crate::domain::grant::GrantOrigin;
use crate::domain::revocation::RevocationReason;
use crate::domain::session::{DeviceId, SessionId};
use crate::server;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Revoke every live grant of a subject, of a client, of a login
    /// session, of a device, or of any combination (a grant must match
    /// them all), as `POST /admin/revocations`: in batches, each grant with
    /// its audit record (reason `admin_bulk`) and event. Interrupted, the
    /// batches done stay revoked and running it again finishes the job.
    Revoke {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long = "client", value_name = "ID")]
        client: Option<String>,
        /// The authorisation server's login session (OpenID Connect `sid`).
        #[arg(long = "session", value_name = "SID")]
        session: Option<String>,
        /// The device the grants were given to.
        #[arg(long = "device", value_name = "ID")]
        device: Option<String>,
    },
}

pub async fn run(command: GrantCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        GrantCommand::Revoke {
            subject,
            client,
            session,
            device,
        } => {
            let client_id = client.as_deref().map(parse_id).transpose()?;
            let origin = parse_origin(session.as_deref(), device.as_deref())?;
            let filter = GrantFilter::matching(GrantCriteria {
                client_id,
                clients: Vec::new(),
                subject,
                session_id: origin.session_id,
                device_id: origin.device_id,
            })
            .ok_or_else(|| {
                CliError::Usage(
                    "name --subject, --client, --session, --device, or several".to_owned(),
                )
            })?;
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

/// The `--session` and `--device` options, checked (a value is refused for
/// its form alone, never echoed).
pub fn parse_origin(session: Option<&str>, device: Option<&str>) -> Result<GrantOrigin, CliError> {
    let usage = |option: &str, why| CliError::Usage(format!("{option} {why}"));
    Ok(GrantOrigin {
        session_id: session
            .map(SessionId::parse)
            .transpose()
            .map_err(|why| usage("--session", why))?,
        device_id: device
            .map(DeviceId::parse)
            .transpose()
            .map_err(|why| usage("--device", why))?,
    })
}
