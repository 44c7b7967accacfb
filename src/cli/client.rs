//! `rescind client …`: register and manage OAuth clients.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::secret::ClientSecret;
use crate::provisioning::{self, ProvisioningError};
use crate::server;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Create {
        #[arg(long)]
        id: String,
        /// A public client: no secret, it identifies itself by its id alone.
        #[arg(long)]
        public: bool,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Replace a confidential client's secret; the new one is printed once.
    RotateSecret {
        #[arg(long)]
        id: String,
    },
    /// Disable a client: its credentials stop working at once.
    Disable {
        #[arg(long)]
        id: String,
    },
    /// List clients as a JSON array (never secrets).
    List,
}

pub async fn run(command: ClientCommand, settings: &Settings) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    let now = SystemClock.now();
    match command {
        ClientCommand::Create { id, public, name } => {
            let id = parse_id(&id)?;
            let kind = if public {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            };
            let secret =
                provisioning::create_client(store.as_ref(), id.clone(), kind, name, now).await?;
            print_json(&json!({
                "client_id": id.as_str(),
                "client_secret": secret.as_ref().map(ClientSecret::expose),
            }))
        }
        ClientCommand::RotateSecret { id } => {
            let id = parse_id(&id)?;
            let secret = ClientSecret::generate();
            provisioning::set_secret(store.as_ref(), &id, &secret, now).await?;
            print_json(&json!({ "client_id": id.as_str(), "client_secret": secret.expose() }))
        }
        ClientCommand::Disable { id } => {
            let id = parse_id(&id)?;
            if !store.disable_client(&id, now).await? {
                return Err(ProvisioningError::UnknownClient(id.to_string()).into());
            }
            print_json(&json!({ "client_id": id.as_str(), "disabled": true }))
        }
        ClientCommand::List => {
            let clients = store.list_clients().await?;
            let listed: Vec<_> = clients
                .iter()
                .map(|client| {
                    json!({
                        "client_id": client.id.as_str(),
                        "kind": client.kind.as_str(),
                        "name": client.name,
                        "disabled": client.disabled,
                        "allowed_origins": client.allowed_origins,
                        "created_at": client.created_at.to_rfc3339(),
                        "updated_at": client.updated_at.to_rfc3339(),
                    })
                })
                .collect();
            print_json(&serde_json::Value::from(listed))
        }
    }
}

pub(super) fn parse_id(raw: &str) -> Result<ClientId, CliError> {
    ClientId::parse(raw)
        .map_err(|error| CliError::Usage(format!("invalid client id {raw:?}: {error}")))
}
