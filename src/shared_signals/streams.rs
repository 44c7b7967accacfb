//! A receiver's stream, as the receiver manages it (SSF 1.0 stream
//! configuration, status and verification). Every call names the calling
//! receiver: a stream id of another receiver is simply not found.

use super::poll::locked;
use super::{SsfError, Transmitter};
use crate::domain::security_event::{SecurityEvent, Subject, SubjectIdentifier, Verification};
use secrecy::{ExposeSecret as _, SecretString};

use crate::domain::outbound::{outbound_url, within_origins};
use crate::domain::shared_signals::{
    Delivery, PushTarget, QueuedSet, Receiver, Stream, StreamStatus, delivered,
};
use crate::signing::SecurityEventToken;
use crate::storage::StoreError;

/// The most event types a stream may ask for.
pub const MAX_REQUESTED: usize = 32;
/// The longest event type URI, description, status reason or state.
pub const MAX_TEXT: usize = 1024;

/// A change to a stream's receiver-supplied configuration: `None` leaves a
/// member as it is (PATCH); a replacement (PUT) gives them all.
#[derive(Debug, Clone, Default)]
pub struct StreamChange {
    pub events_requested: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub delivery: Option<DeliveryChange>,
}

/// The delivery a receiver asks for.
#[derive(Debug, Clone)]
pub enum DeliveryChange {
    Poll,
    /// To `endpoint_url`, which must lie under one of the origins the
    /// operator registered for the receiver.
    Push {
        endpoint_url: String,
        authorization_header: Option<SecretString>,
    },
}

/// The longest push authorization header.
pub const MAX_AUTHORIZATION: usize = 4096;

/// The delivery `change` asks for, checked against `receiver`'s push
/// origins.
fn delivery(receiver: &Receiver, change: DeliveryChange) -> Result<Delivery, SsfError> {
    match change {
        DeliveryChange::Poll => Ok(Delivery::Poll),
        DeliveryChange::Push {
            endpoint_url,
            authorization_header,
        } => {
            if let Some(header) = &authorization_header {
                let header = header.expose_secret();
                if header.is_empty()
                    || header.len() > MAX_AUTHORIZATION
                    || !header.bytes().all(|b| (0x20..0x7f).contains(&b))
                {
                    return Err(SsfError::Invalid(
                        "delivery.authorization_header must be 1 to 4096 printable ASCII characters",
                    ));
                }
            }
            let endpoint = outbound_url(&endpoint_url).map_err(|_| {
                SsfError::Invalid(
                    "delivery.endpoint_url must be an https URL (http only to a loopback address)",
                )
            })?;
            if !within_origins(&endpoint, &receiver.push_origins) {
                return Err(SsfError::Invalid(
                    "delivery.endpoint_url is not under an origin the operator registered for this receiver",
                ));
            }
            Ok(Delivery::Push(PushTarget {
                endpoint,
                authorization: authorization_header,
            }))
        }
    }
}

fn check_text(text: &str, what: &'static str) -> Result<(), SsfError> {
    if text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(SsfError::Invalid(what));
    }
    Ok(())
}

fn check_change(change: &StreamChange) -> Result<(), SsfError> {
    if let Some(requested) = &change.events_requested {
        if requested.len() > MAX_REQUESTED {
            return Err(SsfError::Invalid("events_requested has more than 32 types"));
        }
        for uri in requested {
            if uri.is_empty() || uri.contains(' ') {
                return Err(SsfError::Invalid(
                    "events_requested holds an empty or spaced type",
                ));
            }
            check_text(
                uri,
                "events_requested holds a type too long or with control characters",
            )?;
        }
    }
    if let Some(Some(description)) = &change.description {
        check_text(
            description,
            "description is too long or has control characters",
        )?;
    }
    Ok(())
}

impl Transmitter {
    /// Creates the receiver's one stream, enabled, its events from now on.
    pub async fn create_stream(
        &self,
        receiver: &Receiver,
        change: StreamChange,
    ) -> Result<Stream, SsfError> {
        check_change(&change)?;
        let now = self.inner.clock.now();
        let requested = change.events_requested.unwrap_or_default();
        let delivery = match change.delivery {
            Some(asked) => delivery(receiver, asked)?,
            None => Delivery::Poll,
        };
        let stream = Stream {
            id: uuid::Uuid::new_v4().simple().to_string(),
            receiver: receiver.id.clone(),
            events_delivered: delivered(&requested),
            events_requested: requested,
            description: change.description.flatten(),
            status: StreamStatus::Enabled,
            status_reason: None,
            delivery,
            cursor: self.inner.outbox.event_head().await?,
            created_at: now,
            updated_at: now,
        };
        match self.inner.store.create_stream(&stream).await {
            Ok(()) => Ok(stream),
            Err(StoreError::Conflict) => Err(SsfError::Conflict),
            Err(error) => Err(error.into()),
        }
    }

    /// The receiver's stream, if it has one.
    pub async fn stream_of(&self, receiver: &Receiver) -> Result<Option<Stream>, SsfError> {
        Ok(self.inner.store.stream_of(&receiver.id).await?)
    }

    /// The receiver's stream named `id`.
    pub async fn stream(&self, receiver: &Receiver, id: &str) -> Result<Stream, SsfError> {
        self.stream_of(receiver)
            .await?
            .filter(|stream| stream.id == id)
            .ok_or(SsfError::NotFound)
    }

    /// Changes the receiver-supplied members of stream `id`.
    pub async fn update_stream(
        &self,
        receiver: &Receiver,
        id: &str,
        change: StreamChange,
    ) -> Result<Stream, SsfError> {
        check_change(&change)?;
        let mut stream = self.stream(receiver, id).await?;
        if let Some(requested) = change.events_requested {
            stream.events_delivered = delivered(&requested);
            stream.events_requested = requested;
        }
        if let Some(description) = change.description {
            stream.description = description;
        }
        if let Some(asked) = change.delivery {
            let mut asked = delivery(receiver, asked)?;
            // The header is never shown: a receiver changing its stream
            // cannot send back what it read. Same endpoint, same header.
            if let (Delivery::Push(new), Delivery::Push(old)) = (&mut asked, &stream.delivery)
                && new.authorization.is_none()
                && new.endpoint == old.endpoint
            {
                new.authorization.clone_from(&old.authorization);
            }
            stream.delivery = asked;
        }
        stream.updated_at = self.inner.clock.now();
        self.write(&stream, None, false).await?;
        Ok(stream)
    }

    /// Deletes stream `id` and what is queued for it.
    pub async fn delete_stream(&self, receiver: &Receiver, id: &str) -> Result<(), SsfError> {
        if self.inner.store.delete_stream(&receiver.id, id).await? {
            Ok(())
        } else {
            Err(SsfError::NotFound)
        }
    }

    /// Sets stream `id`'s status. Disabling drops what is queued; leaving
    /// `disabled` starts from the outbox's head (what happened meanwhile is
    /// not sent); pausing and resuming keeps the cursor, so the events of
    /// the pause are delivered once enabled.
    pub async fn set_status(
        &self,
        receiver: &Receiver,
        id: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> Result<Stream, SsfError> {
        if let Some(reason) = &reason {
            check_text(reason, "reason is too long or has control characters")?;
        }
        let mut stream = self.stream(receiver, id).await?;
        let reset = if stream.status == StreamStatus::Disabled && status != StreamStatus::Disabled {
            Some(self.inner.outbox.event_head().await?)
        } else {
            None
        };
        stream.status = status;
        stream.status_reason = reason;
        stream.updated_at = self.inner.clock.now();
        self.write(&stream, reset, status == StreamStatus::Disabled)
            .await?;
        if status == StreamStatus::Enabled {
            self.inner.events.wake_pollers();
        }
        Ok(stream)
    }

    /// Queues a verification event for stream `id`, echoing `state`.
    pub async fn verify(
        &self,
        receiver: &Receiver,
        id: &str,
        state: Option<String>,
    ) -> Result<(), SsfError> {
        if let Some(state) = &state {
            check_text(state, "state is too long or has control characters")?;
        }
        let stream = self.stream(receiver, id).await?;
        self.verification_allowed(&stream.id).await?;
        let token = SecurityEventToken::new(
            &self.inner.issuer,
            &receiver.audience,
            Subject::Simple(SubjectIdentifier::Opaque {
                id: stream.id.clone(),
            }),
            SecurityEvent::Verification(Verification { state }),
            self.inner.clock.now(),
        );
        let set = QueuedSet {
            token: self.inner.keys.sign(&token)?,
            jti: token.jti,
        };
        self.inner
            .store
            .queue_set(&stream.id, &set, self.inner.clock.now())
            .await?;
        self.inner
            .metrics
            .ssf_sets(stream.delivery.path(), "queued", 1);
        self.inner.events.wake_pollers();
        Ok(())
    }

    /// Refuses a verification request sooner than the minimum interval
    /// after the stream's last one, or when its queue is full; otherwise
    /// records this one.
    async fn verification_allowed(&self, stream: &str) -> Result<(), SsfError> {
        let bounds = &self.inner.bounds;
        if self.inner.store.queued_count(stream).await? >= u64::from(bounds.max_queued) {
            return Err(SsfError::TooSoon(bounds.min_verification_interval));
        }
        let now = tokio::time::Instant::now();
        let mut verified = locked(&self.inner.verified);
        verified.retain(|_, at| now.duration_since(*at) < bounds.min_verification_interval);
        if let Some(at) = verified.get(stream) {
            let wait = bounds
                .min_verification_interval
                .saturating_sub(now.duration_since(*at));
            return Err(SsfError::TooSoon(wait));
        }
        verified.insert(stream.to_owned(), now);
        Ok(())
    }

    async fn write(
        &self,
        stream: &Stream,
        reset: Option<crate::domain::event::EventPosition>,
        drop_queued: bool,
    ) -> Result<(), SsfError> {
        if self
            .inner
            .store
            .update_stream(stream, reset, drop_queued)
            .await?
        {
            Ok(())
        } else {
            Err(SsfError::NotFound)
        }
    }
}
