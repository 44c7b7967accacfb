//! The OpenID Shared Signals Framework 1.0 transmitter: receivers the
//! operator registers ([`receivers`]), each one's stream managed by the
//! receiver ([`streams`]), and the revocations of the outbox delivered to it
//! as signed Security Event Tokens, each built by [`mapping`], that it
//! polls for (RFC 8936, [`poll`]) or that are pushed to it (RFC 8935,
//! [`push`]).
//!
//! Tokens are queued lazily: a poll, or the push sender for a push stream,
//! first queues what the outbox settled since the stream's cursor, and
//! moves the cursor with them in one transaction. Only committed, settled events are in the outbox, so
//! nothing uncommitted is ever sent; a paused stream's cursor stays (its
//! events wait), a disabled stream's queue is dropped and its cursor starts
//! again at the head when it is turned back on.

pub mod mapping;
pub mod poll;
pub mod push;
pub mod receivers;
pub mod streams;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::SsfSettings;
use crate::domain::clock::Clock;
use crate::domain::webhook::Backoff;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::signing::{SignError, SigningKeys};
use crate::storage::{EventStore, PushQueueStore, SharedSignalsStore, StoreError};

/// Why a transmitter call did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    /// The request is malformed or asks for what is not offered; the text
    /// names the field, never its value.
    #[error("{0}")]
    Invalid(&'static str),
    /// No such stream for this receiver (another receiver's stream too).
    #[error("no such stream")]
    NotFound,
    /// The receiver already has its one stream (or the receiver id is taken).
    #[error("already exists")]
    Conflict,
    /// Too soon after the stream's last verification request, or its queue
    /// is full: ask again after the delay.
    #[error("too many requests")]
    TooSoon(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// How poll and push delivery are bounded.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryBounds {
    pub wait: Duration,
    pub waiters_per_receiver: u32,
    pub max_events: u32,
    pub max_queued: u32,
    pub min_verification_interval: Duration,
    pub push_timeout: Duration,
    pub push_backoff: Backoff,
}

impl DeliveryBounds {
    #[must_use]
    pub fn from_settings(settings: &SsfSettings) -> Self {
        Self {
            wait: settings.poll_wait,
            waiters_per_receiver: settings.max_poll_waiters,
            max_events: settings.max_events,
            max_queued: settings.max_queued_sets,
            min_verification_interval: settings.min_verification_interval,
            push_timeout: settings.push_timeout,
            push_backoff: Backoff {
                initial: settings.push_retry_initial,
                max: settings.push_retry_max,
                max_attempts: settings.push_max_attempts,
            },
        }
    }
}

/// The transmitter. Cheap to clone.
#[derive(Clone)]
pub struct Transmitter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn SharedSignalsStore>,
    push: Arc<dyn PushQueueStore>,
    outbox: Arc<dyn EventStore>,
    keys: Arc<SigningKeys>,
    clock: Arc<dyn Clock>,
    events: Events,
    metrics: Arc<Metrics>,
    issuer: String,
    /// `<issuer>/ssf/poll/`, to which a stream id is appended.
    poll_base: String,
    bounds: DeliveryBounds,
    /// Poll requests waiting, per receiver.
    waiters: Mutex<HashMap<String, u32>>,
    /// Streams a request of this instance is queuing for.
    queuing: Mutex<HashSet<String>>,
    /// When each stream last asked for a verification event, on this
    /// instance (the queue cap bounds the fleet's together).
    verified: Mutex<HashMap<String, tokio::time::Instant>>,
}

/// What the transmitter is built from.
pub struct TransmitterParts {
    pub store: Arc<dyn SharedSignalsStore>,
    pub push: Arc<dyn PushQueueStore>,
    pub outbox: Arc<dyn EventStore>,
    pub keys: Arc<SigningKeys>,
    pub clock: Arc<dyn Clock>,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    /// The issuer identifier, as configured.
    pub issuer: String,
    /// The issuer without a trailing `/`.
    pub issuer_base: String,
    pub bounds: DeliveryBounds,
}

impl Transmitter {
    #[must_use]
    pub fn new(parts: TransmitterParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                push: parts.push,
                outbox: parts.outbox,
                keys: parts.keys,
                clock: parts.clock,
                events: parts.events,
                metrics: parts.metrics,
                poll_base: format!("{}/ssf/poll/", parts.issuer_base),
                issuer: parts.issuer,
                bounds: parts.bounds,
                waiters: Mutex::new(HashMap::new()),
                queuing: Mutex::new(HashSet::new()),
                verified: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The published key set at the current time.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.keys.jwks(self.inner.clock.now())
    }

    /// The issuer identifier (`iss` of every token).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The shortest time between two verification requests of a stream.
    #[must_use]
    pub fn min_verification_interval(&self) -> Duration {
        self.inner.bounds.min_verification_interval
    }

    /// Where the receiver of stream `id` polls.
    #[must_use]
    pub fn poll_url(&self, id: &str) -> String {
        format!("{}{id}", self.inner.poll_base)
    }
}
