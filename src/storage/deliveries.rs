//! Webhook deliveries: the outbox's events queued per endpoint, claimed
//! by one instance at a time, retried until delivered or dead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};

mod backlog;

use self::backlog::{CursorBacklogRow, PendingRow};
use super::StoreError;
use super::backend::{Backend, Connection, Db, DbRow, Param, RowsAffected as _, row_struct};
use super::events::{EventRow, event_page_from_rows};
use super::statement::Statement;
use crate::domain::audit::Page;
use crate::domain::event::{EventPosition, RevocationEvent};
use crate::domain::webhook::{
    AttemptOutcome, DeliveryQuery, DeliveryState, EndpointBacklog, WebhookDelivery,
};

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

/// Events by id, for the deliveries just claimed.
const EVENTS_BY_ID: &str = "SELECT e.id, e.txid, e.grant_id, e.client_id, e.subject, \
     e.session_id, e.device_id, e.token_kinds, e.presenter_kind, e.reason, e.revoked_at, TRUE AS settled, \
     CAST(0 AS BIGINT) AS clients \
     FROM revocation_events e WHERE e.id IN (";

/// Webhook deliveries as the admin API lists them; filters are appended.
const DELIVERY_SELECT: &str = "SELECT id, endpoint, event_id, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at \
     FROM webhook_deliveries WHERE TRUE";

row_struct! {
    /// A row of [`DELIVERY_SELECT`].
    pub struct DeliveryRow {
        id: i64,
        endpoint: String,
        event_id: i64,
        state: String,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        last_status: Option<i32>,
        last_error: Option<String>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            endpoint: row.endpoint,
            event_id: row.event_id,
            state: DeliveryState::from_stored(&row.state)
                .ok_or(StoreError::Corrupt("webhook delivery state"))?,
            attempts: u32::try_from(row.attempts)
                .map_err(|_| StoreError::Corrupt("webhook delivery attempts"))?,
            next_attempt_at: row.next_attempt_at,
            last_status: row
                .last_status
                .and_then(|status| u16::try_from(status).ok()),
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

row_struct! {
    /// A webhook endpoint's cursor: how far into the outbox it is queued.
    pub struct CursorRow {
        txid: i64,
        event_id: i64,
    }
}

impl From<CursorRow> for EventPosition {
    fn from(row: CursorRow) -> Self {
        Self {
            txid: row.txid,
            id: row.event_id,
        }
    }
}

#[async_trait]
impl<B: Backend> DeliveryStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    i32: Param<Db<B>>,
    Option<i32>: Param<Db<B>>,
    i64: Param<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
    Option<DateTime<Utc>>: Param<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> CursorRow: FromRow<'r, DbRow<B>>,
    for<'r> EventRow: FromRow<'r, DbRow<B>>,
    for<'r> DeliveryRow: FromRow<'r, DbRow<B>>,
    for<'r> PendingRow: FromRow<'r, DbRow<B>>,
    for<'r> CursorBacklogRow: FromRow<'r, DbRow<B>>,
{
    async fn queue_deliveries(
        &self,
        endpoint: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let head = B::head_position(&mut tx).await?;
        sqlx::query(
            "INSERT INTO webhook_cursors (endpoint, txid, event_id) VALUES ($1, $2, $3) \
             ON CONFLICT (endpoint) DO NOTHING",
        )
        .bind(endpoint)
        .bind(head.txid)
        .bind(head.id)
        .execute(&mut *tx)
        .await?;
        // Locked until commit: two instances queue one endpoint in turn.
        let lock = format!(
            "SELECT txid, event_id FROM webhook_cursors WHERE endpoint = $1{}",
            B::ROW_LOCK
        );
        let cursor: CursorRow = sqlx::query_as(&lock)
            .bind(endpoint)
            .fetch_one(&mut *tx)
            .await?;
        let cursor = EventPosition::from(cursor);
        let found: Vec<EventRow> = sqlx::query_as(B::EVENTS_AFTER)
            .bind(cursor.txid)
            .bind(cursor.id)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let page = event_page_from_rows(found)?;
        let settled = &page.events[..page.settled];
        if settled.is_empty() {
            // Committed: a cursor created just now must stay where it
            // started, or the next call would start it later still.
            tx.commit().await?;
            return Ok(0);
        }
        let mut insert = Statement::<Db<B>>::new(
            "INSERT INTO webhook_deliveries (endpoint, event_id, state, attempts, \
             next_attempt_at, created_at, updated_at) ",
        );
        insert.push_values(settled, |row, event| {
            row.bind(endpoint)
                .bind(event.id)
                .bind("pending")
                .bind(0_i32)
                .bind(now)
                .bind(now)
                .bind(now);
        });
        insert.push(" ON CONFLICT (endpoint, event_id) DO NOTHING");
        let (sql, arguments) = insert.into_parts()?;
        let queued = sqlx::query_with(&sql, arguments)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let next = page.settled_position(cursor);
        sqlx::query("UPDATE webhook_cursors SET txid = $2, event_id = $3 WHERE endpoint = $1")
            .bind(endpoint)
            .bind(next.txid)
            .bind(next.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(WebhookDelivery, RevocationEvent)>, StoreError> {
        if endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let mut claim = Statement::<Db<B>>::new("UPDATE webhook_deliveries SET leased_until = ");
        claim
            .push_bind(lease_until)
            .push(" WHERE state = 'pending' AND (leased_until IS NULL OR leased_until <= ")
            .push_bind(now)
            .push(
                ") AND id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' \
                 AND next_attempt_at <= ",
            )
            .push_bind(now)
            .push(" AND (leased_until IS NULL OR leased_until <= ")
            .push_bind(now)
            .push(") AND endpoint IN (")
            .push_list(endpoints.iter().map(String::as_str))
            .push(") ORDER BY next_attempt_at LIMIT ")
            .push_bind(i64::from(limit))
            .push(B::SKIP_LOCKED)
            .push(
                ") RETURNING id, endpoint, event_id, state, attempts, next_attempt_at, \
                 last_status, last_error, created_at, updated_at",
            );
        let (sql, arguments) = claim.into_parts()?;
        let claimed: Vec<DeliveryRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let deliveries = claimed
            .into_iter()
            .map(WebhookDelivery::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut select = Statement::<Db<B>>::new(EVENTS_BY_ID);
        select
            .push_list(deliveries.iter().map(|delivery| delivery.event_id))
            .push(")");
        let (sql, arguments) = select.into_parts()?;
        let found: Vec<EventRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        let events = event_page_from_rows(found)?.events;
        Ok(deliveries
            .into_iter()
            .filter_map(|delivery| {
                // An event purged meanwhile took its delivery with it.
                let event = events.iter().find(|event| event.id == delivery.event_id)?;
                Some((delivery, event.clone()))
            })
            .collect())
    }

    async fn finish_delivery(
        &self,
        id: i64,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, status, error, retry_at) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, None, None),
            AttemptOutcome::Failed {
                status,
                error,
                retry_at,
            } => (
                if retry_at.is_some() {
                    "pending"
                } else {
                    "dead"
                },
                *status,
                Some(error.as_str()),
                *retry_at,
            ),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, \
             last_status = $3, last_error = $4, \
             next_attempt_at = COALESCE($5, next_attempt_at), leased_until = NULL, \
             updated_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(status.map(i32::from))
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        query: &DeliveryQuery,
        page: Page,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut sql = Statement::<Db<B>>::new(DELIVERY_SELECT);
        if let Some(endpoint) = &query.endpoint {
            sql.push(" AND endpoint = ").push_bind(endpoint.as_str());
        }
        if let Some(state) = query.state {
            sql.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(after) = page.after {
            sql.push(" AND id > ").push_bind(after);
        }
        sql.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(page.limit));
        let (sql, arguments) = sql.into_parts()?;
        let found: Vec<DeliveryRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        found.into_iter().map(WebhookDelivery::try_from).collect()
    }

    async fn retry_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, \
             next_attempt_at = $2, leased_until = NULL, updated_at = $2 \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn webhook_backlog(&self, scan: u32) -> Result<Vec<EndpointBacklog>, StoreError> {
        let pending: Vec<PendingRow> = sqlx::query_as(backlog::PENDING)
            .bind(i64::from(scan))
            .fetch_all(self.pool())
            .await?;
        let cursors: Vec<CursorBacklogRow> = sqlx::query_as(backlog::CURSORS)
            .fetch_all(self.pool())
            .await?;
        Ok(backlog::merge(pending, cursors))
    }
}
