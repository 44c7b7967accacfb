//! Revocation events on their way out of the outbox (migration 6): to the
//! [`RevocationHook`]s registered at start (the introspection answer cache),
//! to admin-listener subscribers (SSE), and to webhooks.
//!
//! Each instance runs one [`follower`]: it reads the outbox by position,
//! tells the hooks of every revoked grant, and passes settled
//! events on to subscribers. It reads when a PostgreSQL `NOTIFY` from
//! another instance wakes it (at most every [`follower::MIN_GAP`]) and every
//! `events.poll_interval` otherwise, so a lost notice only delays it.
//! Revocations never notify inside their own transaction (measured: it
//! halved the rate); this instance sends one coalesced `NOTIFY` shortly after
//! its revocations commit instead ([`notifier`]).

pub mod backlog;
pub mod follower;
pub mod notifier;
mod positions;
pub mod set;
pub mod webhooks;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, watch};

use crate::domain::event::{EventPosition, RevocationEvent};
use crate::domain::grant::GrantId;

use positions::Positions;
pub use positions::SubscriberPlace;

/// How recently the follower must have read the outbox for cached answers
/// to be used: the bound on how long another instance's revocation may go
/// unnoticed here.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// Settled events kept for slow subscribers before they lag (and resume
/// from the outbox).
const BROADCAST_CAPACITY: usize = 4096;

/// Told of revocations as soon as this instance learns of them (its own at
/// once, other instances' at the follower's next read), before subscribers
/// and webhooks, and also of revocations not yet settled: for state that
/// must not outlive a revoked grant, such as cached introspection answers.
/// Events owns no such state; whoever does registers a hook.
pub trait RevocationHook: Send + Sync {
    /// Every token of `grant` is dead.
    fn grant_revoked(&self, grant: &GrantId);
    /// Anything may have changed: a batch of grants, or clients'
    /// credentials.
    fn anything_changed(&self);
}

/// The shared state of this instance's event handling.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    hooks: Vec<Arc<dyn RevocationHook>>,
    settled: broadcast::Sender<Arc<RevocationEvent>>,
    /// Wakes the follower.
    wake_follower: Notify,
    /// Asks the notifier to tell the other instances.
    wake_notifier: Notify,
    /// Wakes the webhook dispatcher.
    wake_dispatcher: Notify,
    /// Moves when Shared Signals deliveries should look again (new events
    /// followed, a stream enabled or verified): waiting poll requests and
    /// the push sender.
    pollers: watch::Sender<u64>,
    /// When the last complete read of the outbox started.
    last_read: Mutex<Option<Instant>>,
    /// Where the follower and each subscriber stand (metrics).
    positions: Positions,
}

impl Events {
    /// Event handling that tells `hooks` of every revocation.
    #[must_use]
    pub fn new(hooks: Vec<Arc<dyn RevocationHook>>) -> Self {
        let (settled, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                hooks,
                settled,
                wake_follower: Notify::new(),
                wake_notifier: Notify::new(),
                wake_dispatcher: Notify::new(),
                pollers: watch::Sender::new(0),
                last_read: Mutex::new(None),
                positions: Positions::default(),
            }),
        }
    }

    /// Tells every hook that `grant` was revoked.
    pub(crate) fn grant_revoked(&self, grant: &GrantId) {
        for hook in &self.inner.hooks {
            hook.grant_revoked(grant);
        }
    }

    /// Tells every hook that anything may have changed.
    pub(crate) fn anything_changed(&self) {
        for hook in &self.inner.hooks {
            hook.anything_changed();
        }
    }

    /// Whether the follower read the outbox within [`FRESHNESS`]: only then
    /// may cached answers be used.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.last_read()
            .is_some_and(|started| started.elapsed() < FRESHNESS)
    }

    fn last_read(&self) -> Option<Instant> {
        *self
            .inner
            .last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a complete read of the outbox that started at `started`.
    pub(crate) fn read_outbox(&self, started: Instant) {
        *self
            .inner
            .last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(started);
    }

    /// This instance committed revocations: `grant` when it was one grant,
    /// `None` for a batch. Tells the hooks at once and wakes the notifier, which tells the other instances. The follower is
    /// not woken: it would only find what was just done here (subscribers
    /// and webhooks get it at its next read, within `events.poll_interval`),
    /// and waking it per revocation costs a query per revocation under load.
    pub fn revoked_here(&self, grant: Option<&GrantId>) {
        match grant {
            Some(grant) => self.grant_revoked(grant),
            None => self.anything_changed(),
        }
        self.inner.wake_notifier.notify_one();
    }

    /// Records that the follower has passed on every event up to `position`.
    pub(crate) fn followed_to(&self, position: EventPosition) {
        self.inner.positions.set_follower(position);
    }

    /// Where the follower stands; `None` before its first read.
    #[must_use]
    pub fn follower_position(&self) -> Option<EventPosition> {
        self.inner.positions.follower()
    }

    /// A subscriber's place, starting at `position`, counted among
    /// [`Self::slowest_subscriber`] until dropped.
    #[must_use]
    pub fn subscriber_place(&self, position: EventPosition) -> SubscriberPlace {
        self.inner.positions.subscriber(position)
    }

    /// The place of the subscriber furthest behind; `None` without one.
    #[must_use]
    pub fn slowest_subscriber(&self) -> Option<EventPosition> {
        self.inner.positions.slowest_subscriber()
    }

    /// Settled events as the follower passes them on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RevocationEvent>> {
        self.inner.settled.subscribe()
    }

    pub(crate) fn publish(&self, event: RevocationEvent) {
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.inner.settled.send(Arc::new(event));
    }

    pub(crate) fn wake_follower(&self) {
        self.inner.wake_follower.notify_one();
    }

    pub(crate) async fn follower_woken(&self) {
        self.inner.wake_follower.notified().await;
    }

    pub(crate) async fn notifier_woken(&self) {
        self.inner.wake_notifier.notified().await;
    }

    /// Wakes every waiting poll request and the push sender (each looks at
    /// its queues again).
    pub fn wake_pollers(&self) {
        self.inner
            .pollers
            .send_modify(|turn| *turn = turn.wrapping_add(1));
    }

    /// For a poll request about to wait: `changed()` is ready after the
    /// next [`Self::wake_pollers`] from now on.
    #[must_use]
    pub fn poller_wakes(&self) -> watch::Receiver<u64> {
        self.inner.pollers.subscribe()
    }

    pub(crate) fn wake_dispatcher(&self) {
        self.inner.wake_dispatcher.notify_one();
    }

    pub(crate) async fn dispatcher_woken(&self) {
        self.inner.wake_dispatcher.notified().await;
    }
}
