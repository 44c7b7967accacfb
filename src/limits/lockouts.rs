//! Lockouts: keys refused until a moment. Kept here rather than in
//! `governor`, which can only answer "may one more go through?" by spending
//! a cell, while a lockout must refuse an attempt before its argon2
//! verification runs and successful attempts spend nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Locked-out keys one kind of lockout remembers at most.
pub(super) const MAX_LOCKOUTS: usize = 100_000;

/// One kind of lockout (client and address pairs, addresses, addresses
/// sending bad signatures), bounded on its own: a flood that fills one kind
/// cannot crowd out another.
pub(super) struct Lockouts<K> {
    until: Mutex<HashMap<K, Instant>>,
    capacity: usize,
}

impl<K: Hash + Eq> Lockouts<K> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            until: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// How long `key` stays locked out, if it is.
    pub(super) fn remaining(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until
            .get(key)
            .filter(|until| **until > now)
            .map(|until| *until - now)
    }

    /// Locks `key` out until `now + duration`. When the map is full of
    /// lockouts still running, a key it does not hold is not recorded (and
    /// a warning says so): memory stays bounded, and the failure counters,
    /// which count overflowing callers together, still hold the attempts.
    pub(super) fn lock(&self, key: K, now: Instant, duration: Duration) {
        let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if until.len() >= self.capacity {
            until.retain(|_, until| *until > now);
        }
        if until.len() >= self.capacity && !until.contains_key(&key) {
            tracing::warn!("too many lockouts at once; this one is not recorded");
            return;
        }
        until.insert(key, now + duration);
    }

    /// Drops the lockouts that ended.
    pub(super) fn forget_ended(&self, now: Instant) {
        self.until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
