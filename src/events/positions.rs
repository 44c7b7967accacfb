//! Where this instance's readers of the outbox stand: the follower and each
//! `/admin/events` subscriber. Only `/metrics` reads them (the outbox lag);
//! the readers write on every move, so the locks are held for a copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::event::EventPosition;

#[derive(Default)]
pub(super) struct Positions {
    follower: Mutex<Option<EventPosition>>,
    subscribers: Arc<Subscribers>,
}

#[derive(Default)]
struct Subscribers {
    next: AtomicU64,
    places: Mutex<HashMap<u64, EventPosition>>,
}

impl Subscribers {
    fn places(&self) -> std::sync::MutexGuard<'_, HashMap<u64, EventPosition>> {
        self.places.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One subscriber's place in the outbox; it stops counting when dropped
/// (the subscriber went away).
pub struct SubscriberPlace {
    id: u64,
    subscribers: Arc<Subscribers>,
}

impl SubscriberPlace {
    /// The subscriber has been handed every event up to `position`.
    pub fn moved_to(&self, position: EventPosition) {
        self.subscribers.places().insert(self.id, position);
    }
}

impl Drop for SubscriberPlace {
    fn drop(&mut self) {
        self.subscribers.places().remove(&self.id);
    }
}

impl Positions {
    pub(super) fn set_follower(&self, position: EventPosition) {
        *self.follower.lock().unwrap_or_else(PoisonError::into_inner) = Some(position);
    }

    pub(super) fn follower(&self) -> Option<EventPosition> {
        *self.follower.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn subscriber(&self, position: EventPosition) -> SubscriberPlace {
        let id = self.subscribers.next.fetch_add(1, Ordering::Relaxed);
        let place = SubscriberPlace {
            id,
            subscribers: self.subscribers.clone(),
        };
        place.moved_to(position);
        place
    }

    pub(super) fn slowest_subscriber(&self) -> Option<EventPosition> {
        self.subscribers.places().values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_subscriber_counts_until_it_leaves() {
        let positions = Positions::default();
        assert_eq!(positions.slowest_subscriber(), None);
        let at = |id| EventPosition { txid: 0, id };
        let fast = positions.subscriber(at(5));
        let slow = positions.subscriber(at(3));
        assert_eq!(positions.slowest_subscriber(), Some(at(3)));
        slow.moved_to(at(9));
        assert_eq!(positions.slowest_subscriber(), Some(at(5)));
        drop(fast);
        assert_eq!(positions.slowest_subscriber(), Some(at(9)));
        drop(slow);
        assert_eq!(positions.slowest_subscriber(), None);
    }
}
