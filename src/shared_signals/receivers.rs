//! Receivers, registered by the operator (admin API, command line), and
//! their authentication by bearer credential. Registering needs only the
//! store, so the command line does it without a running transmitter.

use chrono::{DateTime, Utc};

use super::{SsfError, Transmitter};
use crate::domain::outbound::push_origin;
use crate::domain::shared_signals::{Receiver, ReceiverCredential, ReceiverId};
use crate::domain::token::TokenHash;
use crate::storage::{SharedSignalsStore, StoreError};

/// The longest audience.
pub const MAX_AUDIENCE: usize = 255;

/// The most push origins one receiver may have.
pub const MAX_PUSH_ORIGINS: usize = 8;

/// The origins `raw` names, normalised, each checked by
/// [`push_origin`].
pub fn push_origins(raw: &[String]) -> Result<Vec<String>, SsfError> {
    if raw.len() > MAX_PUSH_ORIGINS {
        return Err(SsfError::Invalid("push_origins has more than 8 origins"));
    }
    let mut origins = Vec::with_capacity(raw.len());
    for origin in raw {
        let origin = push_origin(origin).map_err(|_| {
            SsfError::Invalid(
                "push_origins holds one that is not an https origin (http only to a loopback address) without path",
            )
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// Registers receiver `id`, its tokens addressed to `audience` (its id when
/// absent), allowed to push to `origins`; answers it with its credential,
/// to show this once.
pub async fn add_receiver(
    store: &dyn SharedSignalsStore,
    id: ReceiverId,
    audience: Option<String>,
    origins: &[String],
    now: DateTime<Utc>,
) -> Result<(Receiver, ReceiverCredential), SsfError> {
    let push_origins = push_origins(origins)?;
    let audience = audience.unwrap_or_else(|| id.as_str().to_owned());
    if audience.is_empty()
        || audience.len() > MAX_AUDIENCE
        || audience.chars().any(char::is_control)
    {
        return Err(SsfError::Invalid(
            "audience must be 1 to 255 characters without control characters",
        ));
    }
    let receiver = Receiver {
        id,
        audience,
        push_origins,
        created_at: now,
    };
    let credential = ReceiverCredential::generate();
    match store.add_receiver(&receiver, &credential.hash()).await {
        Ok(()) => Ok((receiver, credential)),
        Err(StoreError::Conflict) => Err(SsfError::Conflict),
        Err(error) => Err(error.into()),
    }
}

impl Transmitter {
    /// [`add_receiver`] on this transmitter's store, now.
    pub async fn add_receiver(
        &self,
        id: ReceiverId,
        audience: Option<String>,
        origins: &[String],
    ) -> Result<(Receiver, ReceiverCredential), SsfError> {
        add_receiver(
            self.inner.store.as_ref(),
            id,
            audience,
            origins,
            self.inner.clock.now(),
        )
        .await
    }

    /// Replaces the origins receiver `id` may push to. A stream whose
    /// endpoint is no longer under one is held (nothing sent, its tokens
    /// wait) until the receiver moves it or the origin is listed again.
    pub async fn set_push_origins(
        &self,
        id: &ReceiverId,
        origins: &[String],
    ) -> Result<Receiver, SsfError> {
        let origins = push_origins(origins)?;
        if !self.inner.push.set_push_origins(id, &origins).await? {
            return Err(SsfError::NotFound);
        }
        self.receiver(id).await
    }

    /// Receiver `id`; [`SsfError::NotFound`] when unknown.
    pub async fn receiver(&self, id: &ReceiverId) -> Result<Receiver, SsfError> {
        self.inner
            .store
            .receivers()
            .await?
            .into_iter()
            .find(|receiver| receiver.id == *id)
            .ok_or(SsfError::NotFound)
    }

    pub async fn receivers(&self) -> Result<Vec<Receiver>, SsfError> {
        Ok(self.inner.store.receivers().await?)
    }

    /// Removes a receiver with its stream and queue; `false` when unknown.
    pub async fn remove_receiver(&self, id: &ReceiverId) -> Result<bool, SsfError> {
        Ok(self.inner.store.remove_receiver(id).await?)
    }

    /// The receiver a presented bearer credential belongs to. Whatever was
    /// presented (nothing, an unknown or a wrong credential) costs one
    /// SHA-256 and one indexed read: the answer's time tells nothing.
    pub async fn authenticate(
        &self,
        presented: Option<&str>,
    ) -> Result<Option<Receiver>, SsfError> {
        let hash = TokenHash::of(presented.unwrap_or_default());
        Ok(self.inner.store.receiver_by_credential(&hash).await?)
    }
}
