//! Poll delivery (RFC 8936): a receiver acknowledges what it processed and
//! is answered what is queued, waiting a bounded time when nothing is.

use std::time::Duration;

use tokio::time::Instant;

use super::{SsfError, Transmitter, mapping};
use crate::domain::shared_signals::{QueuedSet, Receiver, Stream, StreamStatus};
use crate::signing::SecurityEventToken;

/// Outbox events read per queuing step.
const QUEUE_PAGE: u32 = 500;
/// A waiting poll looks at its queue at least this often, for what another
/// instance queued (a verification event) without waking this one.
const RECHECK: Duration = Duration::from_millis(500);

/// One poll request, parsed.
#[derive(Debug, Clone, Default)]
pub struct PollRequest {
    /// `maxEvents`; the configured maximum when absent, cut to it when above.
    pub max_events: Option<u32>,
    /// `returnImmediately`.
    pub return_immediately: bool,
    /// `ack`: the `jti`s processed.
    pub acknowledged: Vec<String>,
    /// `setErrs`: the `jti`s refused, with the receiver's error code. They
    /// are removed like acknowledged ones (sending them again would not
    /// help); the codes are logged.
    pub refused: Vec<(String, String)>,
}

/// A poll's answer.
#[derive(Debug, Clone, Default)]
pub struct PollAnswer {
    pub sets: Vec<QueuedSet>,
    pub more_available: bool,
}

/// A place among a receiver's waiting polls, given back when dropped.
struct Waiter<'a> {
    transmitter: &'a Transmitter,
    receiver: String,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiters = self
            .transmitter
            .inner
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = waiters.get_mut(&self.receiver) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                waiters.remove(&self.receiver);
            }
        }
    }
}

impl Transmitter {
    /// Answers a poll of stream `id` by `receiver`.
    pub async fn poll(
        &self,
        receiver: &Receiver,
        id: &str,
        request: PollRequest,
    ) -> Result<PollAnswer, SsfError> {
        let bounds = self.inner.bounds;
        let limit = request
            .max_events
            .map_or(bounds.max_events, |asked| asked.min(bounds.max_events));
        for (jti, code) in &request.refused {
            tracing::warn!(receiver = %receiver.id, jti, error = code, "a receiver refused a security event token");
        }
        let mut done: Vec<String> = request.acknowledged;
        done.extend(request.refused.into_iter().map(|(jti, _)| jti));
        let mut wakes = self.inner.events.poller_wakes();
        let deadline = Instant::now() + bounds.wait;
        let mut waiter = None;
        loop {
            let stream = self.stream(receiver, id).await?;
            let enabled = stream.status == StreamStatus::Enabled;
            if enabled {
                self.queue_from_outbox(&stream, &receiver.audience).await?;
            }
            let taken = self
                .inner
                .store
                .take_sets(
                    &stream.id,
                    &std::mem::take(&mut done),
                    if enabled { limit } else { 0 },
                )
                .await?;
            let metrics = &self.inner.metrics;
            metrics.ssf_sets("poll", "acknowledged", taken.acknowledged);
            let now = Instant::now();
            let answer_now = !taken.sets.is_empty()
                || request.return_immediately
                || limit == 0
                || now >= deadline;
            if answer_now
                || (waiter.is_none() && {
                    waiter = self.wait_place(receiver);
                    waiter.is_none()
                })
            {
                metrics.ssf_sets("poll", "delivered", taken.sets.len() as u64);
                return Ok(PollAnswer {
                    sets: taken.sets,
                    more_available: taken.more,
                });
            }
            let pause = deadline.saturating_duration_since(now).min(RECHECK);
            // A closed channel (never: the sender lives as long as `Events`)
            // would end the wait at once; the deadline still bounds it.
            let _ = tokio::time::timeout(pause, wakes.changed()).await;
        }
    }

    /// A place among the receiver's waiting polls; `None` when all are taken.
    fn wait_place(&self, receiver: &Receiver) -> Option<Waiter<'_>> {
        let mut waiters = self
            .inner
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = waiters.entry(receiver.id.as_str().to_owned()).or_insert(0);
        if *count >= self.inner.bounds.waiters_per_receiver {
            return None;
        }
        *count += 1;
        Some(Waiter {
            transmitter: self,
            receiver: receiver.id.as_str().to_owned(),
        })
    }

    /// Queues the stream's tokens for the events the outbox settled after
    /// its cursor, and moves the cursor past them. Another request that
    /// queued them first wins; these are dropped unsent.
    async fn queue_from_outbox(&self, stream: &Stream, audience: &str) -> Result<(), SsfError> {
        let mut cursor = stream.cursor;
        loop {
            let page = self.inner.outbox.events_after(cursor, QUEUE_PAGE).await?;
            let settled = &page.events[..page.settled];
            if settled.is_empty() {
                return Ok(());
            }
            let now = self.inner.clock.now();
            let mut sets = Vec::new();
            for event in settled {
                for signal in mapping::signals(event, &self.inner.issuer) {
                    let wanted = stream
                        .events_delivered
                        .iter()
                        .any(|uri| uri == signal.event.type_uri());
                    if !wanted {
                        continue;
                    }
                    let token = SecurityEventToken::new(
                        &self.inner.issuer,
                        audience,
                        signal.subject,
                        signal.event,
                        now,
                    )
                    .with_txn(&signal.txn);
                    sets.push(QueuedSet {
                        token: self.inner.keys.sign(&token)?,
                        jti: token.jti,
                    });
                }
            }
            let next = page.settled_position(cursor);
            let queued = self
                .inner
                .store
                .queue_sets(&stream.id, cursor, next, &sets, now)
                .await?;
            if !queued {
                return Ok(());
            }
            self.inner
                .metrics
                .ssf_sets("poll", "queued", sets.len() as u64);
            if page.settled < QUEUE_PAGE as usize {
                return Ok(());
            }
            cursor = next;
        }
    }
}
