//! Registered clients: who may present tokens, with which credentials.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::ClientUpdate;
use crate::domain::client::{Client, ClientId};
use crate::domain::secret::SecretHash;

/// The client registry: authentication reads it, operators write it.
///
/// Every method is one statement, so one transaction: a change is seen
/// whole or not at all. A change that affects credentials (a new secret,
/// disabling, deletion, the resource-server mark) moves the client's
/// `credentials_revision` in the same statement, which is how every
/// instance's credential cache and every revocation in flight learn that
/// what they authenticated is stale.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Looks a client up by id; a deleted client is not found.
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Registers a client; `Conflict` when the id is taken (also by a
    /// deleted client).
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Replaces a confidential client's secret hash; `false` when no
    /// confidential client has that id. With `previous_valid_until`, the
    /// replaced secret keeps working until then (one previous secret at most);
    /// without, it stops at once.
    async fn set_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
        previous_valid_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Applies `update` and returns the client as it now is; `None` when it
    /// does not exist. Changing `disabled` or `resource_server` moves the
    /// credentials revision.
    async fn update_client(
        &self,
        id: &ClientId,
        update: &ClientUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError>;

    /// Deletes a client: it disappears from lookups and listings, its
    /// credentials stop working, and its id stays taken (its grants and audit
    /// records keep pointing at it). Says whether it was deleted now, had
    /// been before (its grants may still need revoking), or never existed.
    async fn delete_client(
        &self,
        id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<ClientDeletion, StoreError>;

    /// Up to `limit` clients with ids after `after`, ordered by id.
    async fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError>;

    /// Every allowed origin of every enabled public client (CORS).
    async fn public_client_origins(&self) -> Result<Vec<String>, StoreError>;
}

/// What [`ClientStore::delete_client`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDeletion {
    Deleted,
    /// Deleted by an earlier call, which may have failed before revoking
    /// every grant.
    AlreadyDeleted,
    Unknown,
}
