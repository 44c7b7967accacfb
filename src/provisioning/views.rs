//! The JSON shapes the CLI and the admin API share for clients and minted
//! grants.

use chrono::{DateTime, Utc};

use crate::domain::client::Client;

/// The one JSON shape of a client, shared by the CLI and the admin API.
/// Never the secret or its hash.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    /// `confidential` or `public`.
    pub kind: &'static str,
    pub name: Option<String>,
    /// Browser origins allowed to call the revocation endpoint (public clients).
    pub allowed_origins: Vec<String>,
    pub disabled: bool,
    /// May introspect tokens.
    pub resource_server: bool,
    /// When the secret replaced by the last rotation stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ClientView {
    /// The view of `client`; a previous secret shows only while it works.
    #[must_use]
    pub fn of(client: &Client, now: DateTime<Utc>) -> Self {
        Self {
            client_id: client.id.as_str().to_owned(),
            kind: client.kind.as_str(),
            name: client.name.clone(),
            allowed_origins: client.allowed_origins.clone(),
            disabled: client.disabled,
            resource_server: client.resource_server,
            previous_secret_expires_at: client
                .previous_secret
                .as_ref()
                .map(|previous| previous.expires_at)
                .filter(|expires_at| *expires_at > now),
            created_at: client.created_at,
            updated_at: client.updated_at,
        }
    }
}

/// The one JSON shape of a minted grant (a CLI line, an admin API item).
/// The token values appear here once and are stored only as hashes.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MintedGrantView {
    pub grant_id: String,
    pub access_token: String,
    pub refresh_token: String,
    /// The access token's lifetime, in seconds.
    pub expires_in: u64,
}
