//! The outbox of revocation events, and the change notices that wake its
//! readers on other instances.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::event::{EventPage, EventPosition};

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
