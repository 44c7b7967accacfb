//! Turning presented credentials into an authenticated presenter (SPEC §2).

use std::sync::Arc;

use super::cache::CredentialCache;
use super::password::SecretVerifier;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::presenter::Presenter;
use crate::domain::secret::ClientSecret;
use crate::storage::{Store, StoreError};

/// What a caller presented, already taken apart by the HTTP layer. The
/// identifier is still raw: parsing it is part of authenticating.
#[derive(Debug)]
pub enum Credentials {
    /// No client identification at all.
    None,
    /// `client_id` alone: a public client (`none` authentication method).
    ClientId(String),
    /// `client_secret_basic` or `client_secret_post`.
    ClientSecret { id: String, secret: ClientSecret },
}

/// Why authentication failed. The HTTP layer maps each variant to its answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown client, wrong secret, disabled client, a confidential client
    /// without its secret, or a public client with one: all `401
    /// invalid_client`, deliberately indistinguishable.
    #[error("client authentication failed")]
    InvalidClient,
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Authenticates clients against the store, remembering recent successes.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    verifier: SecretVerifier,
    cache: Arc<CredentialCache>,
}

impl Authenticator {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, verifier: SecretVerifier, cache: CredentialCache) -> Self {
        Self {
            store,
            verifier,
            cache: Arc::new(cache),
        }
    }

    /// Authenticates `credentials`. Bad credentials never fall back to
    /// anonymous: they are an error. The presenter may come from the
    /// credential cache: whoever acts for it must let the store check its
    /// revision, and call [`Self::forget`] when the store finds it stale.
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<Presenter, AuthError> {
        match credentials {
            Credentials::None => Ok(Presenter::Anonymous),
            Credentials::ClientId(raw) => {
                let id = ClientId::parse(raw).map_err(|_| AuthError::InvalidClient)?;
                if let Some(presenter) = self.cache.recall(&id, None) {
                    return Ok(presenter);
                }
                let presenter = self.public_client(id).await?;
                self.cache.remember(&presenter, None);
                Ok(presenter)
            }
            Credentials::ClientSecret { id, secret } => {
                let Ok(id) = ClientId::parse(id) else {
                    return self.confidential_client(None, secret).await;
                };
                if let Some(presenter) = self.cache.recall(&id, Some(secret)) {
                    return Ok(presenter);
                }
                let _turn = self.cache.take_turn(&id, secret).await;
                // Whoever held the turn before may have verified this secret.
                if let Some(presenter) = self.cache.recall(&id, Some(secret)) {
                    return Ok(presenter);
                }
                let presenter = self.confidential_client(Some(id), secret).await?;
                self.cache.remember(&presenter, Some(secret));
                Ok(presenter)
            }
        }
    }

    /// Drops a presenter's cached credentials, so the next authentication
    /// asks the store (and argon2) again.
    pub fn forget(&self, presenter: &Presenter) {
        self.cache.forget(presenter);
    }

    async fn public_client(&self, id: ClientId) -> Result<Presenter, AuthError> {
        match self.store.find_client(&id).await? {
            Some(client) if client.kind == ClientKind::Public && !client.disabled => {
                Ok(Presenter::Client {
                    id: client.id,
                    kind: ClientKind::Public,
                    revision: client.credentials_revision,
                })
            }
            _ => Err(AuthError::InvalidClient),
        }
    }

    /// Every path through here runs exactly one argon2 verification, so an
    /// unknown client, a public or disabled one, and a wrong secret take the
    /// same time.
    async fn confidential_client(
        &self,
        id: Option<ClientId>,
        secret: &ClientSecret,
    ) -> Result<Presenter, AuthError> {
        let client = match id {
            Some(id) => self.store.find_client(&id).await?,
            None => None,
        };
        let hash = client
            .as_ref()
            .and_then(|client| client.secret_hash.as_ref());
        let verified = self.verifier.verify(secret, hash).await;
        match client {
            Some(client)
                if verified && client.kind == ClientKind::Confidential && !client.disabled =>
            {
                Ok(Presenter::Client {
                    id: client.id,
                    kind: ClientKind::Confidential,
                    revision: client.credentials_revision,
                })
            }
            _ => Err(AuthError::InvalidClient),
        }
    }
}
