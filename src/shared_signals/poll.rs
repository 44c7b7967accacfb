//! Poll delivery (RFC 8936): a receiver acknowledges what it processed and
//! is answered what is queued, waiting a bounded time when nothing is.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{SsfError, Transmitter, mapping};
use crate::domain::shared_signals::{Delivery, QueuedSet, Receiver, Stream, StreamStatus};
use crate::signing::{SecurityEventToken, SignError};

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

/// The guarded value; a panic elsewhere while holding the lock leaves
/// counts that are still usable.
pub(super) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A place among a receiver's waiting polls, given back when dropped.
struct Waiter<'a> {
    transmitter: &'a Transmitter,
    receiver: String,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiters = locked(&self.transmitter.inner.waiters);
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
            if matches!(stream.delivery, Delivery::Push(_)) {
                return Err(SsfError::Invalid("the stream delivers by push"));
            }
            let enabled = stream.status == StreamStatus::Enabled;
            let behind = enabled
                && limit > 0
                && self
                    .queue_from_outbox(&stream, &receiver.audience, limit)
                    .await?;
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
                    more_available: taken.more || behind,
                });
            }
            if behind {
                // Outbox events this stream does not want: read on at once.
                continue;
            }
            let pause = deadline.saturating_duration_since(now).min(RECHECK);
            // A closed channel (never: the sender lives as long as `Events`)
            // would end the wait at once; the deadline still bounds it.
            let _ = tokio::time::timeout(pause, wakes.changed()).await;
        }
    }

    /// A place among the receiver's waiting polls; `None` when all are taken.
    fn wait_place(&self, receiver: &Receiver) -> Option<Waiter<'_>> {
        let mut waiters = locked(&self.inner.waiters);
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

    /// Queues the stream's tokens for events the outbox settled after its
    /// cursor, at most enough to fill a poll answer of `limit` (counting what
    /// is already queued) and from at most one outbox page, and moves the
    /// cursor past the events they came from. A backlog is thus signed a
    /// poll answer at a time, never all at once. Only one request of this
    /// instance queues for a stream at a time; another answers what is
    /// queued. Another instance that queued first wins, these are dropped
    /// unsent. Answers whether the outbox may hold more for the stream.
    pub(super) async fn queue_from_outbox(
        &self,
        stream: &Stream,
        audience: &str,
        limit: u32,
    ) -> Result<bool, SsfError> {
        let Some(_queuing) = self.queuing_place(&stream.id) else {
            return Ok(false);
        };
        let queued = self.inner.store.queued_count(&stream.id).await?;
        // `limit` is at most `ssf.max_events`, itself at most
        // `ssf.max_queued_sets`: at the cap nothing is queued, the cursor waits.
        let budget = usize::try_from(u64::from(limit).saturating_sub(queued)).unwrap_or(0);
        let cursor = stream.cursor;
        // Without room, one event says whether the stream is behind.
        let page_size = if budget == 0 { 1 } else { QUEUE_PAGE };
        let page = self.inner.outbox.events_after(cursor, page_size).await?;
        let settled = &page.events[..page.settled];
        if budget == 0 || settled.is_empty() {
            return Ok(!settled.is_empty());
        }
        let now = self.inner.clock.now();
        let mut tokens = Vec::new();
        let mut next = cursor;
        let mut consumed = 0;
        for event in settled {
            if tokens.len() >= budget {
                break;
            }
            tokens.extend(
                mapping::signals(event, &self.inner.issuer)
                    .into_iter()
                    .filter(|signal| {
                        stream
                            .events_delivered
                            .iter()
                            .any(|uri| uri == signal.event.type_uri())
                    })
                    .map(|signal| {
                        SecurityEventToken::new(
                            &self.inner.issuer,
                            audience,
                            signal.subject,
                            signal.event,
                            now,
                        )
                        .with_txn(&signal.txn)
                    }),
            );
            next = event.position;
            consumed += 1;
        }
        let more = consumed < settled.len() || page.settled >= QUEUE_PAGE as usize;
        let sets = self.sign_all(tokens).await?;
        let queued = self
            .inner
            .store
            .queue_sets(&stream.id, cursor, next, &sets, now)
            .await?;
        if queued {
            self.inner
                .metrics
                .ssf_sets(stream.delivery.path(), "queued", sets.len() as u64);
        }
        Ok(more)
    }

    /// Signs `tokens` off the async runtime: RSA signing is CPU work that
    /// would otherwise hold up every other request on this worker.
    async fn sign_all(&self, tokens: Vec<SecurityEventToken>) -> Result<Vec<QueuedSet>, SsfError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.inner.keys.clone();
        let signed = tokio::task::spawn_blocking(move || {
            tokens
                .into_iter()
                .map(|token| {
                    Ok(QueuedSet {
                        token: keys.sign(&token)?,
                        jti: token.jti,
                    })
                })
                .collect::<Result<Vec<_>, SignError>>()
        })
        .await
        .map_err(|_| SignError::Signing("the signing task ended".to_owned()))?;
        Ok(signed?)
    }

    /// The right to queue for stream `id` in this instance; `None` while
    /// another request has it.
    fn queuing_place(&self, id: &str) -> Option<Queuing<'_>> {
        locked(&self.inner.queuing)
            .insert(id.to_owned())
            .then(|| Queuing {
                transmitter: self,
                stream: id.to_owned(),
            })
    }
}

/// A stream being queued for, released when dropped.
struct Queuing<'a> {
    transmitter: &'a Transmitter,
    stream: String,
}

impl Drop for Queuing<'_> {
    fn drop(&mut self) {
        locked(&self.transmitter.inner.queuing).remove(&self.stream);
    }
}
