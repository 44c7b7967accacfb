//! Each instance's reader of the outbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Events;
use crate::domain::event::EventPosition;
use crate::storage::{EventStore, StoreError};

/// Events read per query.
const PAGE: u32 = 500;

/// The shortest time between two reads: notices from many busy instances
/// cost at most this many queries per second.
pub const MIN_GAP: Duration = Duration::from_millis(10);

/// How long to wait before reopening a lost change feed.
const FEED_RETRY: Duration = Duration::from_secs(1);

/// Follows the outbox forever: woken by change notices from other
/// instances, or every `poll` otherwise.
pub async fn run(events: Events, store: Arc<dyn EventStore>, poll: Duration) {
    // One task for both: stopping the follower (server shutdown) also closes
    // its `LISTEN` connection.
    tokio::join!(
        listen_for_notices(events.clone(), store.clone()),
        follow(events, store, poll)
    );
}

async fn follow(events: Events, store: Arc<dyn EventStore>, poll: Duration) {
    let mut follower = Follower {
        events,
        store,
        position: None,
        clients_mark: None,
    };
    loop {
        let started = Instant::now();
        match follower.read().await {
            Ok(()) => follower.events.read_outbox(started),
            Err(error) => {
                tracing::warn!(%error, "cannot read the revocation event outbox");
            }
        }
        tokio::time::sleep(MIN_GAP).await;
        tokio::select! {
            () = follower.events.follower_woken() => {}
            () = tokio::time::sleep(poll.saturating_sub(MIN_GAP)) => {}
        }
    }
}

struct Follower {
    events: Events,
    store: Arc<dyn EventStore>,
    /// After the last settled event passed on; `None` until the first read.
    position: Option<EventPosition>,
    clients_mark: Option<i64>,
}

impl Follower {
    /// Reads everything committed so far: tells the hooks of every revoked
    /// grant (settled or not), passes settled events on, and moves
    /// past them.
    async fn read(&mut self) -> Result<(), StoreError> {
        let mut position = match self.position {
            Some(position) => position,
            None => self.store.event_head().await?,
        };
        let mut scan = position;
        let mut all_settled = true;
        loop {
            let page = self.store.events_after(scan, PAGE).await?;
            if self
                .clients_mark
                .is_some_and(|mark| mark != page.clients_mark)
            {
                self.events.anything_changed();
            }
            self.clients_mark = Some(page.clients_mark);
            for event in &page.events {
                self.events.grant_revoked(&event.grant_id);
            }
            if all_settled {
                position = page.settled_position(position);
                for event in &page.events[..page.settled] {
                    self.events.publish(event.clone());
                }
                all_settled = page.settled == page.events.len();
            }
            match page.events.last() {
                Some(last) if page.events.len() == PAGE as usize => scan = last.position,
                _ => break,
            }
        }
        if self.position.is_some_and(|before| before != position) {
            self.events.wake_dispatcher();
            self.events.wake_pollers();
        }
        self.position = Some(position);
        self.events.followed_to(position);
        Ok(())
    }
}

/// Wakes the follower on every change notice from another instance, for as
/// long as the store offers a feed (PostgreSQL), reopening it when lost.
async fn listen_for_notices(events: Events, store: Arc<dyn EventStore>) {
    loop {
        match store.change_feed().await {
            Ok(None) => return,
            Ok(Some(mut feed)) => {
                // Notices sent while no feed was open are lost: read now.
                events.wake_follower();
                while feed.changed().await.is_ok() {
                    events.wake_follower();
                }
                tracing::warn!("lost the change notice connection; reopening it");
            }
            Err(error) => tracing::warn!(%error, "cannot listen for change notices"),
        }
        tokio::time::sleep(FEED_RETRY).await;
    }
}
