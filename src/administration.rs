//! The operator's use cases, as the admin API and the health endpoints reach
//! them: registering clients and grants (through [`crate::provisioning`],
//! which the CLI shares), reading the audit log and the outbox, retrying
//! webhook deliveries, recording admin calls, and the database's health.
//!
//! The HTTP layer holds this and never a store: every way it reaches the
//! database is named here, with the storage traits behind it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::audit::ClientUpdate;
use crate::domain::audit::{
    ActionQuery, AdminAction, NewAdminAction, Page, RevocationQuery, RevocationRecord,
};
use crate::domain::client::{Client, ClientId};
use crate::domain::event::{EventPage, EventPosition};
use crate::domain::grant::{GrantId, NewGrant, NewToken};
use crate::domain::health::{PoolUsage, Readiness};
use crate::domain::minted::TokenFormat;
use crate::domain::secret::ClientSecret;
use crate::domain::webhook::{DeliveryQuery, WebhookDelivery};
use crate::events::Events;
use crate::provisioning::{self, GrantTemplate, MintedGrant, NewClient, ProvisioningError};
use crate::revocation::Revoker;
use crate::storage::{Store, StoreError};

/// The operator's use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct Administration {
    store: Arc<dyn Store>,
    revoker: Revoker,
    format: TokenFormat,
    events: Events,
}

impl Administration {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        revoker: Revoker,
        format: TokenFormat,
        events: Events,
    ) -> Self {
        Self {
            store,
            revoker,
            format,
            events,
        }
    }

    // Health.

    /// Whether the database answers and its schema is one this binary runs on.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        self.store.readiness().await
    }

    /// The connection pool's size and idle connections.
    #[must_use]
    pub fn pool_usage(&self) -> PoolUsage {
        self.store.pool_usage()
    }

    // Clients.

    /// Every public client's allowed origins (the CORS policy's stored half).
    pub async fn public_client_origins(&self) -> Result<Vec<String>, StoreError> {
        self.store.public_client_origins().await
    }

    pub async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.store.find_client(id).await
    }

    /// Up to `limit` clients after `after`, in id order.
    pub async fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError> {
        self.store.list_clients(after, limit).await
    }

    /// See [`provisioning::create_client`].
    pub async fn create_client(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<Option<ClientSecret>, ProvisioningError> {
        provisioning::create_client(self.store.as_ref(), new, now).await
    }

    /// See [`provisioning::update_client`].
    pub async fn update_client(
        &self,
        id: &ClientId,
        update: &ClientUpdate,
        now: DateTime<Utc>,
    ) -> Result<Client, ProvisioningError> {
        provisioning::update_client(self.store.as_ref(), id, update, now).await
    }

    /// See [`provisioning::set_secret`].
    pub async fn set_secret(
        &self,
        id: &ClientId,
        secret: &ClientSecret,
        grace: Option<std::time::Duration>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ProvisioningError> {
        provisioning::set_secret(self.store.as_ref(), id, secret, grace, now).await
    }

    /// See [`provisioning::delete_client`]: answers how many grants were revoked.
    pub async fn delete_client(
        &self,
        id: &ClientId,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, ProvisioningError> {
        provisioning::delete_client(self.store.as_ref(), &self.revoker, id, request_id, now).await
    }

    // Grants.

    /// See [`provisioning::register_grant`].
    pub async fn register_grant(&self, grant: &NewGrant) -> Result<(), ProvisioningError> {
        provisioning::register_grant(self.store.as_ref(), grant).await
    }

    /// See [`provisioning::add_tokens`].
    pub async fn add_tokens(
        &self,
        grant_id: GrantId,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> Result<(), ProvisioningError> {
        provisioning::add_tokens(self.store.as_ref(), grant_id, tokens, now).await
    }

    /// Mints `count` grants from `template` after checking its client may
    /// receive them (see [`provisioning::issue_grants`]).
    pub async fn issue_grants(
        &self,
        template: &GrantTemplate,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<MintedGrant>, ProvisioningError> {
        provisioning::check_client_may_receive_grants(self.store.as_ref(), &template.client_id)
            .await?;
        provisioning::issue_grants(self.store.as_ref(), &self.format, template, count, now).await
    }

    // Records.

    /// Records an admin call as started, before it acts; its id.
    pub async fn begin_action(&self, action: &NewAdminAction<'_>) -> Result<i64, StoreError> {
        self.store.begin_admin_action(action).await
    }

    /// Completes an admin call's record with the status it answered.
    pub async fn finish_action(
        &self,
        id: i64,
        status: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.finish_admin_action(id, status, now).await
    }

    /// A page of the revocation audit log.
    pub async fn revocation_records(
        &self,
        query: &RevocationQuery,
        page: Page,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        self.store.revocation_records(query, page).await
    }

    /// A page of the admin-call log.
    pub async fn admin_actions(
        &self,
        query: &ActionQuery,
        page: Page,
    ) -> Result<Vec<AdminAction>, StoreError> {
        self.store.admin_actions(query, page).await
    }

    // The outbox and webhook deliveries.

    /// The position after the last event committed so far.
    pub async fn event_head(&self) -> Result<EventPosition, StoreError> {
        self.store.event_head().await
    }

    /// Up to `limit` events after `after`.
    pub async fn events_after(
        &self,
        after: EventPosition,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        self.store.events_after(after, limit).await
    }

    /// A page of webhook deliveries.
    pub async fn webhook_deliveries(
        &self,
        query: &DeliveryQuery,
        page: Page,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.store.webhook_deliveries(query, page).await
    }

    /// Makes a dead delivery pending again, due now, and wakes this
    /// instance's dispatcher to send it; `false` when no dead delivery has
    /// this id.
    pub async fn retry_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let retried = self.store.retry_delivery(id, now).await?;
        if retried {
            self.events.wake_dispatcher();
        }
        Ok(retried)
    }
}
