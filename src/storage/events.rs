//! The outbox of revocation events, and the change notices that wake its
//! readers on other instances.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, FromRow};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, row_struct};
use super::grants::grant_origin;
use crate::domain::event::{EventPage, EventPosition, RevocationEvent};
use crate::domain::grant::GrantId;
use crate::domain::recorded::Recorded;

/// The outbox: every revocation's transaction appends one event per grant
/// (see [`super::RevocationStore`]); each instance's follower reads them in
/// position order. Each method is one statement.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` outbox events after `after`, in position order, saying
    /// which are settled, with the clients change mark.
    async fn events_after(&self, after: EventPosition, limit: u32)
    -> Result<EventPage, StoreError>;

    /// When the first event after `after`, in position order, was revoked;
    /// `None` when no event follows (the outbox lag metric). One indexed
    /// read.
    async fn next_event_time(
        &self,
        after: EventPosition,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Where a new reader of the outbox starts: after every settled event.
    async fn event_head(&self) -> Result<EventPosition, StoreError>;

    /// Wakes every instance's event follower (PostgreSQL `NOTIFY`, sent
    /// outside any revocation's transaction); nothing on SQLite, whose one
    /// instance wakes its follower itself.
    async fn notify_changes(&self) -> Result<(), StoreError>;

    /// Change notices from other instances; `None` where there are none (SQLite).
    async fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError>;
}

/// Change notices from other instances (PostgreSQL `LISTEN`).
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next notice. `Ok` may also mean the connection was
    /// re-established and notices may have been lost meanwhile: the caller
    /// reads the outbox either way. An error means the feed is down for now.
    async fn changed(&mut self) -> Result<(), StoreError>;
}

/// The outbox after position (`$1` txid, `$2` id), `$3` events at most, in
/// `(txid, id)` order, with the clients change mark. One row always comes
/// back (event columns `NULL` when none is left). `settled` says whether
/// an event is settled, `from` adds what it needs; see each backend.
macro_rules! events_after_select {
    (settled = $settled:literal, from = $from:literal) => {
        concat!(
            "SELECT e.id, e.txid, e.grant_id, e.client_id, e.subject, e.session_id, \
             e.device_id, e.token_kinds, e.presenter_kind, e.reason, e.revoked_at, ",
            $settled,
            " AS settled, m.clients FROM change_marks m",
            $from,
            " LEFT JOIN revocation_events e ON (e.txid, e.id) > ($1, $2) \
             ORDER BY e.txid, e.id LIMIT $3"
        )
    };
}
pub(crate) use events_after_select;

/// When the first event after a position was revoked.
const NEXT_EVENT_TIME: &str = "SELECT revoked_at FROM revocation_events \
     WHERE (txid, id) > ($1, $2) ORDER BY txid, id LIMIT 1";

row_struct! {
    /// A row of [`events_after_select`] or [`EVENTS_BY_ID`]: the event columns
    /// are `NULL` in the one row of an empty read.
    pub struct EventRow {
        id: Option<i64>,
        txid: Option<i64>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        subject: Option<String>,
        session_id: Option<String>,
        device_id: Option<String>,
        token_kinds: Option<String>,
        presenter_kind: Option<String>,
        reason: Option<String>,
        revoked_at: Option<DateTime<Utc>>,
        settled: Option<bool>,
        clients: i64,
    }
}

/// Reads an outbox page from [`events_after_select`]'s rows.
pub fn event_page_from_rows(rows: Vec<EventRow>) -> Result<EventPage, StoreError> {
    let mut page = EventPage::default();
    let mut settled_run = true;
    for row in rows {
        page.clients_mark = row.clients;
        let (
            Some(id),
            Some(txid),
            Some(grant_id),
            Some(client_id),
            Some(subject),
            Some(kinds),
            Some(presenter_kind),
            Some(reason),
            Some(revoked_at),
            Some(settled),
        ) = (
            row.id,
            row.txid,
            row.grant_id,
            row.client_id,
            row.subject,
            row.token_kinds,
            row.presenter_kind,
            row.reason,
            row.revoked_at,
            row.settled,
        )
        else {
            // The one row of an empty read has no event; columns are NOT NULL.
            if row.id.is_some() {
                return Err(StoreError::Corrupt("revocation event"));
            }
            continue;
        };
        // Settled events come first in (txid, id) order; count the leading run.
        settled_run &= settled;
        if settled_run {
            page.settled += 1;
        }
        page.events.push(RevocationEvent {
            id,
            position: EventPosition { txid, id },
            grant_id: GrantId::from_uuid(grant_id),
            client_id,
            subject,
            origin: grant_origin(row.session_id.as_deref(), row.device_id.as_deref())?,
            token_kinds: kinds
                .split(',')
                .filter(|kind| !kind.is_empty())
                .map(str::to_owned)
                .collect(),
            presenter_kind: Recorded::from_stored(&presenter_kind),
            reason: Recorded::from_stored(&reason),
            revoked_at,
        });
    }
    Ok(page)
}

#[async_trait]
impl<B: Backend> EventStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    i64: Param<Db<B>>,
    DateTime<Utc>: Column<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> EventRow: FromRow<'r, DbRow<B>>,
{
    async fn events_after(
        &self,
        after: EventPosition,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        let found: Vec<EventRow> = sqlx::query_as(B::EVENTS_AFTER)
            .bind(after.txid)
            .bind(after.id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        event_page_from_rows(found)
    }

    async fn next_event_time(
        &self,
        after: EventPosition,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(NEXT_EVENT_TIME)
            .bind(after.txid)
            .bind(after.id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn event_head(&self) -> Result<EventPosition, StoreError> {
        let mut connection = self.pool().acquire().await?;
        B::head_position(&mut connection).await
    }

    async fn notify_changes(&self) -> Result<(), StoreError> {
        self.send_change_notice().await
    }

    async fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        self.open_change_feed().await
    }
}
