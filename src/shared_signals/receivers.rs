//! Receivers, registered by the operator (admin API, command line), and
//! their authentication by bearer credential. Registering needs only the
//! store, so the command line does it without a running transmitter.

use chrono::{DateTime, Utc};

use super::{SsfError, Transmitter};
use crate::domain::shared_signals::{Receiver, ReceiverCredential, ReceiverId};
use crate::domain::token::TokenHash;
use crate::storage::{SharedSignalsStore, StoreError};

/// The longest audience.
pub const MAX_AUDIENCE: usize = 255;

/// Registers receiver `id`, its tokens addressed to `audience` (its id when
/// absent); answers it with its credential, to show this once.
pub async fn add_receiver(
    store: &dyn SharedSignalsStore,
    id: ReceiverId,
    audience: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Receiver, ReceiverCredential), SsfError> {
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
    ) -> Result<(Receiver, ReceiverCredential), SsfError> {
        add_receiver(
            self.inner.store.as_ref(),
            id,
            audience,
            self.inner.clock.now(),
        )
        .await
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
