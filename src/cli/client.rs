//! `rescind client …`: register and manage OAuth clients.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;

use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::audit::ClientUpdate;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::secret::ClientSecret;
use crate::provisioning::{self, ClientView, NewClient};
use crate::server;
use crate::storage::ClientStore;

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
        /// May introspect tokens (confidential clients only).
        #[arg(long, conflicts_with = "public")]
        resource_server: bool,
    },
    /// Let a confidential client introspect tokens, or (`--off`) no longer.
    SetResourceServer {
        #[arg(long)]
        id: String,
        /// Take the right away instead.
        #[arg(long)]
        off: bool,
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
    /// Enable a disabled client again.
    Enable {
        #[arg(long)]
        id: String,
    },
    /// Delete a client: its credentials stop working at once, then every
    /// grant it holds is revoked (reason `client_deleted`). Its id stays taken.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Replace a public client's allowed CORS origins (`scheme://host[:port]`);
    /// without any `--origin`, the list is emptied.
    SetOrigins {
        #[arg(long)]
        id: String,
        /// An allowed origin; repeat for several.
        #[arg(long = "origin", value_name = "ORIGIN")]
        origins: Vec<String>,
    },
    /// List clients as a JSON array (never secrets).
    List,
}

pub async fn run(command: ClientCommand, settings: &Settings) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    let now = SystemClock.now();
    match command {
        ClientCommand::Create {
            id,
            public,
            name,
            resource_server,
        } => {
            let id = parse_id(&id)?;
            let kind = if public {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            };
            let new = NewClient {
                name,
                resource_server,
                ..NewClient::plain(id.clone(), kind)
            };
            let secret = provisioning::create_client(store.as_ref(), new, now).await?;
            print_json(&json!({
                "client_id": id.as_str(),
                "client_secret": secret.as_ref().map(ClientSecret::expose),
                "resource_server": resource_server,
            }))
        }
        ClientCommand::SetResourceServer { id, off } => {
            let id = parse_id(&id)?;
            let update = ClientUpdate {
                resource_server: Some(!off),
                ..ClientUpdate::default()
            };
            provisioning::update_client(store.as_ref(), &id, &update, now).await?;
            print_json(&json!({ "client_id": id.as_str(), "resource_server": !off }))
        }
        ClientCommand::RotateSecret { id } => {
            let id = parse_id(&id)?;
            let secret = ClientSecret::generate();
            provisioning::set_secret(store.as_ref(), &id, &secret, None, now).await?;
            print_json(&json!({ "client_id": id.as_str(), "client_secret": secret.expose() }))
        }
        ClientCommand::Disable { id } => set_disabled(store.as_ref(), &id, true, now).await,
        ClientCommand::Enable { id } => set_disabled(store.as_ref(), &id, false, now).await,
        ClientCommand::Delete { id } => {
            let id = parse_id(&id)?;
            let revoker = super::revoker(settings, &store)?;
            let grants = provisioning::delete_client(
                store.as_ref(),
                &revoker,
                &id,
                &super::request_id(),
                now,
            )
            .await?;
            super::notify_instances(store.as_ref()).await;
            print_json(&json!({
                "client_id": id.as_str(),
                "deleted": true,
                "revoked_grants": grants,
            }))
        }
        ClientCommand::SetOrigins { id, origins } => {
            let id = parse_id(&id)?;
            let update = ClientUpdate {
                allowed_origins: Some(origins),
                ..ClientUpdate::default()
            };
            let client = provisioning::update_client(store.as_ref(), &id, &update, now).await?;
            print_json(&json!({
                "client_id": client.id.as_str(),
                "allowed_origins": client.allowed_origins,
            }))
        }
        ClientCommand::List => {
            let mut listed = Vec::new();
            let mut after: Option<ClientId> = None;
            loop {
                let page = store.list_clients(after.as_ref(), LIST_PAGE).await?;
                for client in &page {
                    listed.push(
                        serde_json::to_value(ClientView::of(client, now))
                            .map_err(|error| CliError::Output(std::io::Error::other(error)))?,
                    );
                }
                match page.last() {
                    Some(last) if page.len() == LIST_PAGE as usize => after = Some(last.id.clone()),
                    _ => break,
                }
            }
            print_json(&serde_json::Value::from(listed))
        }
    }
}

async fn set_disabled(
    store: &dyn ClientStore,
    id: &str,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let id = parse_id(id)?;
    let update = ClientUpdate {
        disabled: Some(disabled),
        ..ClientUpdate::default()
    };
    provisioning::update_client(store, &id, &update, now).await?;
    print_json(&json!({ "client_id": id.as_str(), "disabled": disabled }))
}

/// Clients read per query by `client list`.
const LIST_PAGE: u32 = 500;

pub(super) fn parse_id(raw: &str) -> Result<ClientId, CliError> {
    ClientId::parse(raw)
        .map_err(|error| CliError::Usage(format!("invalid client id {raw:?}: {error}")))
}
