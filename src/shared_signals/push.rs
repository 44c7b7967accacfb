//! Push delivery (RFC 8935): each enabled push stream's tokens are queued
//! from the outbox as a poll would queue them, then posted one per request
//! to the stream's endpoint, with its authorization header. Every instance
//! runs a sender; a token is claimed with a lease, so instances share the
//! work and a crashed one's lease expires. A token the receiver accepted
//! (any `2xx`; the RFC says `202`) leaves the queue; one it refuses (`400`
//! with an error code) is dead at once, since the same token would be
//! refused again; any other failure is retried with backoff until its
//! attempts run out, then dead. Dead tokens stay, for the operator to see
//! and retry, until retention purges them. A receiver deduplicates on
//! `jti`: a token whose answer was lost is sent again.
//!
//! The stream's queue holds at most `ssf.max_events` tokens, dead ones
//! included: while its receiver is down or refuses everything, the cursor
//! waits and nothing is lost (the outbox keeps the events for
//! `retention.audit_days`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DurationRound as _;
use secrecy::ExposeSecret as _;

use super::poll::locked;
use super::{SsfError, Transmitter};
use crate::domain::outbound::within_origins;
use crate::domain::shared_signals::{
    ClaimedPush, Delivery, PushStream, PushTarget, ReceiverId, UndeliveredSet,
};
use crate::domain::webhook::AttemptOutcome;
use crate::outbound::read_bounded;

/// Tokens claimed per stream per round, all sent at once: a round of a
/// stream lasts one `ssf.push_timeout` at most, well inside its lease.
const CLAIM: u32 = 8;
/// How often due retries are looked for when nothing wakes the sender.
const IDLE: Duration = Duration::from_millis(250);
/// The most of a refusal's body read (its JSON error code).
const MAX_ANSWER: usize = 4096;
/// The error codes of RFC 8935 §2.4, the only receiver text ever recorded.
const ERROR_CODES: [&str; 6] = [
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
];

/// Sends this instance's share of every push stream's tokens.
pub struct Pusher {
    pub transmitter: Transmitter,
    /// Never follows redirects: a token goes where the stream says, or fails.
    pub client: reqwest::Client,
}

impl Pusher {
    /// Sends forever. Each stream's round runs as a task of its own, at
    /// most one per stream at a time: a receiver that is slow or never
    /// answers holds up only its own stream.
    pub async fn run(self) {
        let pusher = Arc::new(self);
        let sending: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut wakes = pusher.transmitter.inner.events.poller_wakes();
        let mut held = HashSet::new();
        loop {
            match pusher.transmitter.inner.push.push_streams().await {
                Ok(streams) => {
                    for push in streams {
                        if Self::sendable(&push, &mut held)
                            && locked(&sending).insert(push.stream.id.clone())
                        {
                            tokio::spawn(pusher.clone().round_of(push, sending.clone()));
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read the push streams"),
            }
            // A closed channel never happens (the sender lives as long as
            // `Events`); the idle pause still bounds the wait.
            let _ = tokio::time::timeout(IDLE, wakes.changed()).await;
        }
    }

    /// Whether the stream's endpoint is under its receiver's origins; a
    /// stream that is not is held, logged once until that changes.
    fn sendable(push: &PushStream, held: &mut HashSet<String>) -> bool {
        let Delivery::Push(target) = &push.stream.delivery else {
            return false;
        };
        if within_origins(&target.endpoint, &push.push_origins) {
            held.remove(&push.stream.id);
            return true;
        }
        if held.insert(push.stream.id.clone()) {
            tracing::warn!(
                receiver = %push.stream.receiver,
                "a push stream's endpoint is no longer under its receiver's origins: held"
            );
        }
        false
    }

    /// One round of one stream, then frees its place in `sending`; wakes
    /// the sender again when there may be more to send at once.
    async fn round_of(self: Arc<Self>, push: PushStream, sending: Arc<Mutex<HashSet<String>>>) {
        let more = self.round(&push).await;
        locked(&sending).remove(&push.stream.id);
        match more {
            Ok(true) => self.transmitter.inner.events.wake_pollers(),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "a shared signals push round failed"),
        }
    }

    /// Queues the stream's tokens from the outbox, then sends one claim's
    /// worth; `true` when there may be more to send at once.
    async fn round(&self, push: &PushStream) -> Result<bool, SsfError> {
        let inner = &self.transmitter.inner;
        let Delivery::Push(target) = &push.stream.delivery else {
            return Ok(false);
        };
        let behind = self
            .transmitter
            .queue_from_outbox(&push.stream, &push.audience, inner.bounds.max_events)
            .await?;
        let now = inner.clock.now();
        let lease = chrono::Duration::from_std(inner.bounds.push_timeout)
            .unwrap_or(chrono::Duration::MAX)
            + chrono::Duration::seconds(30);
        // Millisecond precision, the same in both databases, so the lease
        // written is the lease compared when the outcome is recorded.
        let lease_until = (now + lease)
            .duration_trunc(chrono::Duration::milliseconds(1))
            .unwrap_or(now + lease);
        let claimed = inner
            .push
            .claim_pushes(&push.stream.id, now, lease_until, CLAIM)
            .await?;
        let full = claimed.len() == CLAIM as usize;
        let sent_any = !claimed.is_empty();
        let results = futures_util::future::join_all(
            claimed.into_iter().map(|push| self.attempt(target, push)),
        )
        .await;
        results.into_iter().collect::<Result<(), SsfError>>()?;
        // Behind with nothing sent means every queued token waits for a
        // retry: looking again at once would only spin.
        Ok(full || (behind && sent_any))
    }

    /// Posts one token and records the outcome.
    async fn attempt(&self, target: &PushTarget, push: ClaimedPush) -> Result<(), SsfError> {
        let inner = &self.transmitter.inner;
        let mut request = self
            .client
            .post(target.endpoint.clone())
            .timeout(inner.bounds.push_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(push.set.token.clone());
        if let Some(authorization) = &target.authorization {
            // Checked printable ASCII when the stream was written; marked
            // sensitive so that no HTTP-layer log prints it.
            if let Ok(mut value) =
                reqwest::header::HeaderValue::from_str(authorization.expose_secret())
            {
                value.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
        }
        let failure = match request.send().await {
            Ok(response) if response.status().is_success() => None,
            Ok(response) if response.status() == reqwest::StatusCode::BAD_REQUEST => {
                Some((Some(400), refusal(response).await, false))
            }
            Ok(response) => {
                let status = response.status().as_u16();
                Some((Some(status), format!("answered {status}"), true))
            }
            Err(error) => Some((None, crate::outbound::describe(&error).to_owned(), true)),
        };
        let outcome = match failure {
            None => AttemptOutcome::Delivered,
            Some((status, error, retry)) => {
                let attempt = push.attempts + 1;
                let retry_at = retry
                    .then(|| {
                        inner
                            .bounds
                            .push_backoff
                            .after_attempt(attempt, rand::random::<f64>())
                    })
                    .flatten()
                    .and_then(|wait| chrono::Duration::from_std(wait).ok())
                    .map(|wait| inner.clock.now() + wait);
                if retry_at.is_none() {
                    tracing::warn!(
                        stream = push.stream,
                        jti = push.set.jti,
                        attempts = attempt,
                        error,
                        "a pushed security event token is dead"
                    );
                }
                AttemptOutcome::Failed {
                    status,
                    error,
                    retry_at,
                }
            }
        };
        inner.metrics.ssf_sets(
            "push",
            match &outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::Failed {
                    retry_at: Some(_), ..
                } => "failed",
                AttemptOutcome::Failed { retry_at: None, .. } => "dead",
            },
            1,
        );
        inner
            .push
            .finish_push(&push, &outcome, inner.clock.now())
            .await?;
        Ok(())
    }
}

/// A receiver's refusal in a few words: `refused: <code>` when its body
/// names one of the RFC's error codes, `refused` otherwise. Nothing else of
/// what the receiver wrote is kept.
async fn refusal(mut response: reqwest::Response) -> String {
    let body = read_bounded(&mut response, MAX_ANSWER).await;
    let code = body
        .ok()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .and_then(|answer| {
            let code = answer.get("err")?.as_str()?;
            ERROR_CODES.into_iter().find(|known| *known == code)
        });
    code.map_or_else(|| "refused".to_owned(), |code| format!("refused: {code}"))
}

/// The most undelivered tokens listed at once.
pub const UNDELIVERED_PAGE: u32 = 100;

impl Transmitter {
    /// The receiver's pushed tokens that failed at least once, oldest
    /// first, at most [`UNDELIVERED_PAGE`].
    pub async fn undelivered(
        &self,
        receiver: &ReceiverId,
    ) -> Result<Vec<UndeliveredSet>, SsfError> {
        self.receiver(receiver).await?;
        Ok(self
            .inner
            .push
            .undelivered(receiver, UNDELIVERED_PAGE)
            .await?)
    }

    /// Makes the receiver's dead tokens due again now, and wakes the sender.
    pub async fn retry_undelivered(&self, receiver: &ReceiverId) -> Result<u64, SsfError> {
        self.receiver(receiver).await?;
        let retried = self
            .inner
            .push
            .retry_undelivered(receiver, self.inner.clock.now())
            .await?;
        self.inner.events.wake_pollers();
        Ok(retried)
    }
}
