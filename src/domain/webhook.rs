//! Webhook deliveries of revocation events: their states and the retry rule.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where one event stands with one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not yet acknowledged; retried at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed: kept for the operator, who may retry it.
    Dead,
}

impl DeliveryState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    #[must_use]
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One (endpoint, event) delivery, as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    /// The admin API's handle (retrying a dead delivery names it).
    pub id: i64,
    pub endpoint: String,
    pub event_id: i64,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status of the last attempt, when the endpoint answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed (never the endpoint's body).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How far one endpoint is behind the outbox (metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointBacklog {
    pub endpoint: String,
    /// Pending deliveries, counted up to the scan's bound.
    pub pending: u64,
    /// When the oldest pending delivery's event was revoked.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// When the first event not yet queued for the endpoint was revoked.
    pub next_unqueued: Option<DateTime<Utc>>,
}

impl EndpointBacklog {
    /// When the oldest event the endpoint has not acknowledged was revoked.
    #[must_use]
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        match (self.oldest_pending, self.next_unqueued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; retried at `retry_at`, or dead when `None`.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Exponential backoff with full jitter: attempt `n` (1-based) waits a
/// random time up to `initial * 2^(n-1)`, capped at `max`, never less than
/// half of it (so retries neither stampede nor collapse to zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

impl Backoff {
    /// The wait after failed attempt `attempt`, `None` when it was the last.
    /// `unit` in `[0, 1)` is the jitter's random draw.
    #[must_use]
    pub fn after_attempt(&self, attempt: u32, unit: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let doubled = self.initial.saturating_mul(
            1_u32
                .checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let ceiling = doubled.min(self.max);
        let unit = unit.clamp(0.0, 1.0);
        Some(ceiling.mul_f64(0.5 + unit / 2.0))
    }
}

/// Which deliveries the admin API lists.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub endpoint: Option<String>,
    pub state: Option<DeliveryState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_caps_and_stops() {
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_attempts: 10,
        };
        assert_eq!(
            backoff.after_attempt(1, 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(backoff.after_attempt(1, 1.0), Some(Duration::from_secs(1)));
        assert_eq!(backoff.after_attempt(4, 1.0), Some(Duration::from_secs(8)));
        assert_eq!(backoff.after_attempt(9, 1.0), Some(Duration::from_secs(60)));
        assert_eq!(backoff.after_attempt(40, 1.0), None);
        assert_eq!(backoff.after_attempt(10, 0.5), None);
        let huge = Backoff {
            max_attempts: 100,
            ..backoff
        };
        assert_eq!(huge.after_attempt(64, 1.0), Some(Duration::from_secs(60)));
    }

    #[test]
    fn states_round_trip() {
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Dead,
        ] {
            assert_eq!(DeliveryState::from_stored(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::from_stored("lost"), None);
    }
}
