//! The outbox lag and the pending webhook deliveries, read when `/metrics`
//! is scraped: how long the oldest event each consumer has not yet passed on
//! has waited. A long transaction holds every reader back (events behind it
//! are not settled), and a failing endpoint piles deliveries up; both show
//! here before anyone notices missing events.
//!
//! Never on the revocation path: a scrape costs a few indexed reads, each
//! its own short statement under `database.timeout`, the whole bounded by
//! it too, and one scrape at a time reads (a concurrent one shows the last
//! values). When the database cannot be read, the series are dropped rather
//! than left at values nobody can vouch for.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::Events;
use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::event::EventPosition;
use crate::metrics::{Consumer, Metrics};
use crate::storage::{DeliveryStore, EventStore, StoreError};

/// Pending deliveries read per scrape at most: the count stops there.
pub const PENDING_SCAN: u32 = 10_000;

/// Reads the backlog into the metrics.
pub struct Backlog {
    pub outbox: Arc<dyn EventStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub events: Events,
    pub clock: Arc<dyn Clock>,
    /// The configured webhook endpoints' names (the only label values).
    pub endpoints: Vec<String>,
    /// Bounds a whole sample (`database.timeout`).
    pub timeout: Duration,
    /// Held while a scrape reads.
    reading: Mutex<()>,
}

impl Backlog {
    /// Reads the configured endpoints and `database.timeout`.
    #[must_use]
    pub fn from_settings(
        settings: &Settings,
        outbox: Arc<dyn EventStore>,
        deliveries: Arc<dyn DeliveryStore>,
        events: &Events,
        clock: &Arc<dyn Clock>,
    ) -> Self {
        Self {
            outbox,
            deliveries,
            events: events.clone(),
            clock: clock.clone(),
            endpoints: settings
                .events
                .webhooks
                .iter()
                .map(|webhook| webhook.name.clone())
                .collect(),
            timeout: settings.database.timeout,
            reading: Mutex::new(()),
        }
    }

    /// Reads the backlog and sets the metrics; drops them when the database
    /// does not answer within the timeout.
    pub async fn sample(&self, metrics: &Metrics) {
        let Ok(_reading) = self.reading.try_lock() else {
            return;
        };
        match tokio::time::timeout(self.timeout, self.read()).await {
            Ok(Ok(lags)) => {
                metrics.forget_backlog();
                for (consumer, lag) in &lags.lags {
                    metrics.outbox_lag(consumer.as_consumer(), *lag);
                }
                for (endpoint, pending) in &lags.pending {
                    metrics.webhook_pending(endpoint, *pending);
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot read the outbox backlog for metrics");
                metrics.forget_backlog();
            }
            Err(_) => {
                tracing::debug!("reading the outbox backlog for metrics timed out");
                metrics.forget_backlog();
            }
        }
    }

    async fn read(&self) -> Result<Lags, StoreError> {
        let now = self.clock.now();
        let mut lags = Lags::default();
        if let Some(position) = self.events.follower_position() {
            let lag = self.lag_after(position, now).await?;
            lags.lags.push((Owner::Follower, lag));
        }
        if let Some(position) = self.events.slowest_subscriber() {
            let lag = self.lag_after(position, now).await?;
            lags.lags.push((Owner::Subscribers, lag));
        }
        if !self.endpoints.is_empty() {
            let found = self.deliveries.webhook_backlog(PENDING_SCAN).await?;
            for name in &self.endpoints {
                let backlog = found.iter().find(|backlog| &backlog.endpoint == name);
                let oldest = backlog.and_then(crate::domain::webhook::EndpointBacklog::oldest);
                lags.lags
                    .push((Owner::Webhook(name.clone()), age(oldest, now)));
                lags.pending
                    .push((name.clone(), backlog.map_or(0, |backlog| backlog.pending)));
            }
        }
        Ok(lags)
    }

    async fn lag_after(
        &self,
        position: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        Ok(age(self.outbox.next_event_time(position).await?, now))
    }
}

/// Seconds since `revoked_at`; 0 when nothing waits (or the clock went back).
fn age(revoked_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> f64 {
    revoked_at
        .and_then(|at| (now - at).to_std().ok())
        .map_or(0.0, |waited| waited.as_secs_f64())
}

enum Owner {
    Follower,
    Subscribers,
    Webhook(String),
}

impl Owner {
    fn as_consumer(&self) -> Consumer<'_> {
        match self {
            Self::Follower => Consumer::Follower,
            Self::Subscribers => Consumer::Subscribers,
            Self::Webhook(name) => Consumer::Webhook(name),
        }
    }
}

#[derive(Default)]
struct Lags {
    lags: Vec<(Owner, f64)>,
    pending: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn the_age_of_nothing_waiting_is_zero() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        assert!((age(None, now)).abs() < f64::EPSILON);
        assert!((age(Some(now + chrono::Duration::seconds(3)), now)).abs() < f64::EPSILON);
        assert!((age(Some(now - chrono::Duration::milliseconds(1500)), now) - 1.5).abs() < 1e-9);
    }
}
