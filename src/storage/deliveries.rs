//! Webhook deliveries: the outbox's events queued per endpoint, claimed
//! by one instance at a time, retried until delivered or dead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::Page;
use crate::domain::event::RevocationEvent;
use crate::domain::webhook::{AttemptOutcome, DeliveryQuery, EndpointBacklog, WebhookDelivery};

/// One delivery row per (endpoint, event), and one cursor per endpoint
/// saying how far into the outbox it has been queued. Deliveries are
/// at least once: a delivery is leased to the instance that claimed it,
/// and a lease that runs out (the instance died) lets another claim it.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Queues a delivery to `endpoint` for each settled event after the
    /// endpoint's cursor (at first, the outbox's head: a new endpoint gets
    /// events from now on), `limit` at most, and moves the cursor, in one
    /// transaction that holds the cursor's row, so two instances queue one
    /// endpoint in turn. Answers how many it queued.
    async fn queue_deliveries(
        &self,
        endpoint: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Claims up to `limit` pending deliveries to `endpoints` that are due
    /// at `now` and not leased, leasing them until `lease_until` (another
    /// instance skips them meanwhile); with their events. One statement
    /// claims; an event purged meanwhile takes its delivery with it.
    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(WebhookDelivery, RevocationEvent)>, StoreError>;

    /// Records one attempt's outcome and releases the lease.
    async fn finish_delivery(
        &self,
        id: i64,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deliveries matching `query`, by id, one page (admin API).
    async fn webhook_deliveries(
        &self,
        query: &DeliveryQuery,
        page: Page,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Makes a dead delivery pending again, due now; `false` when no dead
    /// delivery has that id.
    async fn retry_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Each webhook endpoint's backlog (metrics), from two statements: the
    /// pending deliveries, reading at most `scan` of them (the count stops
    /// there: a larger backlog shows as `scan`), and the first event after
    /// each endpoint's cursor (one indexed read per endpoint). Endpoints
    /// with neither are absent.
    async fn webhook_backlog(&self, scan: u32) -> Result<Vec<EndpointBacklog>, StoreError>;
}
