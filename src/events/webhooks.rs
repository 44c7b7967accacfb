//! Webhook delivery: every settled event to every configured endpoint, at
//! least once, signed, retried with backoff, dead-lettered when attempts run
//! out.
//!
//! Deliveries are rows (migration 7): an instance queues them from the
//! outbox under the endpoint's cursor lock, claims due ones with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so instances share the work and
//! a crashed one's lease expires), sends, and records the outcome. A
//! delivery whose 2xx was lost is sent again: receivers deduplicate on `jti`.
//!
//! The signature: `Rescind-Signature: v1=<hex HMAC-SHA256(secret,
//! "<Rescind-Timestamp>.<body>")>`. Signing the timestamp with the body lets
//! a receiver refuse replays outside its window (five minutes suggested).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{Events, set};
use crate::domain::clock::Clock;
use crate::domain::event::RevocationEvent;
use crate::domain::token::lower_hex;
use crate::domain::webhook::{AttemptOutcome, Backoff, WebhookDelivery};
use crate::metrics::Metrics;
use crate::storage::{DeliveryStore, StoreError};

/// Deliveries claimed per round.
const CLAIM: u32 = 32;
/// Deliveries sent at once.
const IN_FLIGHT: usize = 8;
/// Events queued per endpoint per statement.
const QUEUE: u32 = 500;
/// How often due retries are looked for when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(250);

/// One configured endpoint, ready to send to.
pub struct Endpoint {
    pub name: String,
    pub url: reqwest::Url,
    pub secret: Vec<u8>,
    pub timeout: Duration,
    pub backoff: Backoff,
}

/// Sends this instance's share of the deliveries.
pub struct Dispatcher {
    pub events: Events,
    pub store: Arc<dyn DeliveryStore>,
    pub clock: Arc<dyn Clock>,
    pub endpoints: Vec<Endpoint>,
    pub issuer: String,
    pub client: reqwest::Client,
    pub metrics: Arc<Metrics>,
}

/// The `Rescind-Signature` value for `body` sent at `timestamp`.
#[must_use]
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", lower_hex(&mac.finalize().into_bytes()))
}

impl Dispatcher {
    /// Delivers forever.
    pub async fn run(self) {
        let names: Vec<String> = self.endpoints.iter().map(|e| e.name.clone()).collect();
        loop {
            let busy = match self.round(&names).await {
                Ok(busy) => busy,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    () = self.events.dispatcher_woken() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }

    /// Queues new events, then sends one claim's worth; `true` when there
    /// may be more to send at once.
    async fn round(&self, names: &[String]) -> Result<bool, StoreError> {
        for name in names {
            while self
                .store
                .queue_deliveries(name, QUEUE, self.clock.now())
                .await?
                == u64::from(QUEUE)
            {}
        }
        let now = self.clock.now();
        let longest = self
            .endpoints
            .iter()
            .map(|e| e.timeout)
            .max()
            .unwrap_or_default();
        let lease = chrono::Duration::from_std(longest + Duration::from_secs(30))
            .unwrap_or(chrono::Duration::MAX);
        let claimed = self
            .store
            .claim_deliveries(names, now, now + lease, CLAIM)
            .await?;
        let count = claimed.len();
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(claimed)
            .map(|(delivery, event)| self.attempt(delivery, event))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), StoreError>>()?;
        Ok(count == CLAIM as usize)
    }

    async fn attempt(
        &self,
        delivery: WebhookDelivery,
        event: RevocationEvent,
    ) -> Result<(), StoreError> {
        let Some(endpoint) = self.endpoints.iter().find(|e| e.name == delivery.endpoint) else {
            return Ok(());
        };
        let body = set::payload(&event, &self.issuer).to_string();
        let timestamp = self.clock.now().timestamp();
        let sent = self
            .client
            .post(endpoint.url.clone())
            .timeout(endpoint.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Rescind-Event-Id", event.id.to_string())
            .header("Rescind-Timestamp", timestamp.to_string())
            .header(
                "Rescind-Signature",
                signature(&endpoint.secret, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some((
                Some(response.status().as_u16()),
                format!("answered {}", response.status().as_u16()),
            )),
            Err(error) => Some((None, crate::outbound::describe(&error).to_owned())),
        };
        let outcome = match failure {
            None => AttemptOutcome::Delivered,
            Some((status, error)) => {
                let attempt = delivery.attempts + 1;
                let retry_at = endpoint
                    .backoff
                    .after_attempt(attempt, rand::random::<f64>())
                    .and_then(|wait| chrono::Duration::from_std(wait).ok())
                    .map(|wait| self.clock.now() + wait);
                if retry_at.is_none() {
                    tracing::warn!(
                        endpoint = endpoint.name,
                        event_id = event.id,
                        attempts = attempt,
                        "webhook delivery is dead after its last attempt"
                    );
                }
                AttemptOutcome::Failed {
                    status,
                    error,
                    retry_at,
                }
            }
        };
        self.metrics.webhook_attempt(match &outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Failed {
                retry_at: Some(_), ..
            } => "failed",
            AttemptOutcome::Failed { retry_at: None, .. } => "dead",
        });
        self.store
            .finish_delivery(delivery.id, &outcome, self.clock.now())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            signature(b"key", 1_700_000_000, b"{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(
            signature(b"key", 1_700_000_001, b"{}"),
            signature(b"key", 1_700_000_000, b"{}")
        );
    }
}
