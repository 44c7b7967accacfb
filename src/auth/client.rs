//! Turning presented credentials into an authenticated presenter (docs/behaviour.md, Client authentication).

use std::sync::Arc;

use super::cache::CredentialCache;
use super::password::SecretVerifier;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::clock::Clock;
use crate::domain::presenter::Presenter;
use crate::domain::secret::ClientSecret;
use crate::storage::{ClientStore, StoreError};

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

impl Credentials {
    /// The presenter kind these credentials claim (a metrics label).
    #[must_use]
    pub const fn kind_label(&self) -> &'static str {
        match self {
            Self::None => "anonymous",
            Self::ClientId(_) => "public",
            Self::ClientSecret { .. } => "confidential",
        }
    }

    /// Whether these credentials include a secret (a guess, until verified).
    #[must_use]
    pub const fn carries_secret(&self) -> bool {
        matches!(self, Self::ClientSecret { .. })
    }

    /// The client identifier as presented, not yet parsed.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::ClientId(id) | Self::ClientSecret { id, .. } => Some(id),
        }
    }
}

/// Why authentication failed. The HTTP layer maps each variant to its answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown client, wrong secret, disabled client, a confidential client
    /// without its secret, or a public client with one: all `401
    /// invalid_client`, deliberately indistinguishable.
    #[error("client authentication failed")]
    InvalidClient(FailureReason),
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a client failed to authenticate: for metrics and logs only, never
/// for the answer (every reason is the same `401 invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The `client_id` is not a valid identifier.
    MalformedId,
    /// No such client (or a deleted one).
    UnknownClient,
    /// The client is disabled.
    Disabled,
    /// A public client sent a secret, or a confidential one none.
    WrongMethod,
    /// The secret does not match.
    WrongSecret,
    /// A confidential client the operator has not marked as a resource
    /// server asked to introspect. Verified exactly as a wrong secret is, so
    /// neither the answer nor its timing says that the secret was right.
    NotResourceServer,
}

impl FailureReason {
    /// The reason, for the log line (the operator's eyes only).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::MalformedId => "malformed_id",
            Self::UnknownClient => "unknown_client",
            Self::Disabled => "disabled",
            Self::WrongMethod => "wrong_method",
            Self::WrongSecret => "wrong_secret",
            Self::NotResourceServer => "not_resource_server",
        }
    }

    /// The `reason` label of the failure metric, which `/metrics` shows
    /// without a token: every reason that depends on what is stored for the
    /// client id is one label, or the metric would tell anyone whether a
    /// client id exists (an unknown client against a wrong secret, a
    /// disabled one, or one with another method). Only a malformed id,
    /// which the caller's own request shows, stays apart.
    #[must_use]
    pub const fn metric_label(self) -> &'static str {
        match self {
            Self::MalformedId => "malformed_id",
            Self::UnknownClient
            | Self::Disabled
            | Self::WrongMethod
            | Self::WrongSecret
            | Self::NotResourceServer => "invalid_credentials",
        }
    }
}

/// What the caller is authenticating for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Revocation: any client, or none.
    Revoke,
    /// Introspection: resource servers only.
    Introspect,
}

impl Purpose {
    fn allows(self, presenter: &Presenter) -> bool {
        self == Self::Revoke || presenter.may_introspect()
    }
}

/// Authenticates clients against the store, remembering recent successes.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn ClientStore>,
    verifier: SecretVerifier,
    cache: Arc<CredentialCache>,
    clock: Arc<dyn Clock>,
}

impl Authenticator {
    #[must_use]
    pub fn new(
        store: Arc<dyn ClientStore>,
        verifier: SecretVerifier,
        cache: CredentialCache,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            verifier,
            cache: Arc::new(cache),
            clock,
        }
    }

    /// The secret verifier (its queue depth is a metric).
    #[must_use]
    pub const fn verifier(&self) -> &SecretVerifier {
        &self.verifier
    }

    /// Authenticates `credentials`. Bad credentials never fall back to
    /// anonymous: they are an error. The presenter may come from the
    /// credential cache: whoever acts for it must let the store check its
    /// revision, and call [`Self::forget`] when the store finds it stale.
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<Presenter, AuthError> {
        match credentials {
            Credentials::None => Ok(Presenter::Anonymous),
            Credentials::ClientId(raw) => {
                let id = ClientId::parse(raw)
                    .map_err(|_| AuthError::InvalidClient(FailureReason::MalformedId))?;
                if let Some(presenter) = self.cache.recall(&id, None) {
                    return Ok(presenter);
                }
                let presenter = self.public_client(id).await?;
                self.cache.remember(&presenter, None);
                Ok(presenter)
            }
            Credentials::ClientSecret { id, secret } => {
                self.secret_holder(id, secret, Purpose::Revoke).await
            }
        }
    }

    /// Authenticates `credentials` for `purpose`: see [`Self::authenticate`]
    /// and [`Self::authenticate_resource_server`].
    pub async fn authenticate_for(
        &self,
        credentials: &Credentials,
        purpose: Purpose,
    ) -> Result<Presenter, AuthError> {
        match purpose {
            Purpose::Revoke => self.authenticate(credentials).await,
            Purpose::Introspect => self.authenticate_resource_server(credentials).await,
        }
    }

    /// Authenticates a resource server for introspection (RFC 7662 §2.1):
    /// only a confidential client, with its secret, that the operator
    /// marked as a resource server. A public `client_id` or no credentials
    /// are refused without a lookup; a confidential client that is not a
    /// resource server is verified as if its secret were wrong, so the
    /// answer and its timing are those of a wrong secret.
    async fn authenticate_resource_server(
        &self,
        credentials: &Credentials,
    ) -> Result<Presenter, AuthError> {
        match credentials {
            Credentials::None | Credentials::ClientId(_) => {
                Err(AuthError::InvalidClient(FailureReason::WrongMethod))
            }
            Credentials::ClientSecret { id, secret } => {
                self.secret_holder(id, secret, Purpose::Introspect).await
            }
        }
    }

    /// A client presenting a secret, for `purpose`: from the cache when this
    /// very secret was verified lately (and the cached client may act for
    /// `purpose`), else verified with argon2, one request per secret at a time.
    async fn secret_holder(
        &self,
        id: &str,
        secret: &ClientSecret,
        purpose: Purpose,
    ) -> Result<Presenter, AuthError> {
        let Ok(id) = ClientId::parse(id) else {
            return self
                .confidential_client(None, secret, purpose)
                .await
                .map(|(presenter, _)| presenter);
        };
        let recall = || {
            self.cache
                .recall(&id, Some(secret))
                .filter(|presenter| purpose.allows(presenter))
        };
        if let Some(presenter) = recall() {
            return Ok(presenter);
        }
        let _turn = self.cache.take_turn(&id, secret).await;
        // Whoever held the turn before may have verified this secret.
        if let Some(presenter) = recall() {
            return Ok(presenter);
        }
        let (presenter, by_previous) = self.confidential_client(Some(id), secret, purpose).await?;
        // A previous secret ends with its grace period, not with a
        // revision change: it is never cached, so it cannot outlive it.
        if !by_previous {
            self.cache.remember(&presenter, Some(secret));
        }
        Ok(presenter)
    }

    /// Whether `credentials` carry a secret this instance verified lately
    /// (a constant-time HMAC comparison, no argon2). Such a request is no
    /// guess: a lockout of its address must not refuse it, or anyone
    /// sharing a NAT with a back end could cut off its logouts and its
    /// introspection with a hundred wrong secrets.
    #[must_use]
    pub fn recently_verified(&self, credentials: &Credentials) -> bool {
        let Credentials::ClientSecret { id, secret } = credentials else {
            return false;
        };
        ClientId::parse(id).is_ok_and(|id| self.cache.recall(&id, Some(secret)).is_some())
    }

    /// Drops a presenter's cached credentials, so the next authentication
    /// asks the store (and argon2) again.
    pub fn forget(&self, presenter: &Presenter) {
        self.cache.forget(presenter);
    }

    async fn public_client(&self, id: ClientId) -> Result<Presenter, AuthError> {
        match self.store.find_client(&id).await? {
            None => Err(AuthError::InvalidClient(FailureReason::UnknownClient)),
            Some(client) if client.kind != ClientKind::Public => {
                Err(AuthError::InvalidClient(FailureReason::WrongMethod))
            }
            Some(client) if client.disabled => {
                Err(AuthError::InvalidClient(FailureReason::Disabled))
            }
            Some(client) => Ok(Presenter::Client {
                id: client.id,
                kind: ClientKind::Public,
                revision: client.credentials_revision,
                resource_server: false,
            }),
        }
    }

    /// Every failure through here runs exactly two argon2 verifications (the
    /// current secret, then the previous one in its grace period or a dummy),
    /// so an unknown client, a public or disabled one, a rotating one and a
    /// wrong secret all take the same time. A client that may not act for
    /// `purpose` is verified against the dummy hash, as an unknown one is.
    /// A success with the current secret runs one. The flag says the
    /// previous secret matched.
    async fn confidential_client(
        &self,
        id: Option<ClientId>,
        secret: &ClientSecret,
        purpose: Purpose,
    ) -> Result<(Presenter, bool), AuthError> {
        let client = match id {
            Some(id) => self.store.find_client(&id).await?,
            None => None,
        };
        let eligible = client
            .as_ref()
            .filter(|client| purpose != Purpose::Introspect || client.resource_server);
        let current = eligible.and_then(|client| client.secret_hash.as_ref());
        let mut by_previous = false;
        let mut verified = self.verifier.verify(secret, current).await;
        if !verified {
            let previous = eligible.and_then(|client| client.previous_secret_at(self.clock.now()));
            verified = self.verifier.verify(secret, previous).await;
            by_previous = verified;
        }
        let reason = match &client {
            None => FailureReason::UnknownClient,
            Some(client) if client.kind != ClientKind::Confidential => FailureReason::WrongMethod,
            Some(client) if client.disabled => FailureReason::Disabled,
            Some(_) if eligible.is_none() => FailureReason::NotResourceServer,
            Some(client) if verified => {
                return Ok((
                    Presenter::Client {
                        id: client.id.clone(),
                        kind: ClientKind::Confidential,
                        revision: client.credentials_revision,
                        resource_server: client.resource_server,
                    },
                    by_previous,
                ));
            }
            Some(_) => FailureReason::WrongSecret,
        };
        Err(AuthError::InvalidClient(reason))
    }
}
