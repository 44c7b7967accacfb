//! The back-channel logout use case: a logout token from a configured
//! upstream, validated, remembered against replay, then every grant of its
//! session (or subject) revoked.

use std::sync::Arc;

use super::token::unverified_issuer;
use super::{LogoutTokenError, Upstream, UpstreamKeys};
use crate::config::UpstreamSettings;
use crate::domain::audit::{GrantCriteria, GrantFilter};
use crate::domain::client::ClientId;
use crate::domain::clock::Clock;
use crate::domain::revocation::RevocationReason;
use crate::domain::session::SessionId;
use crate::key_fetch::KeySource;
use crate::revocation::Revoker;
use crate::storage::{LogoutClaim, LogoutStore, StoreError};

/// How long a delivery's claim on a token stands unfinished before another
/// delivery of the same token takes it over: longer than any request may
/// take, so two live deliveries do not both act (if they did, the second
/// would find the grants revoked: harmless).
const CLAIM_STANDS: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// One configured upstream: its rules, its keys, its clients.
pub struct ConfiguredUpstream {
    pub upstream: Upstream,
    pub keys: UpstreamKeys,
    /// Grants of these clients only; empty: of every client.
    pub clients: Vec<ClientId>,
}

impl ConfiguredUpstream {
    /// From validated settings (`None` for a client id or URL that does not
    /// parse, which validation has refused already).
    #[must_use]
    pub fn from_settings(settings: &UpstreamSettings, client: reqwest::Client) -> Option<Self> {
        let source = match (&settings.jwks_uri, &settings.jwks_file) {
            (Some(url), _) => KeySource::Url(reqwest::Url::parse(url).ok()?),
            (None, Some(path)) => KeySource::File(path.clone()),
            (None, None) => return None,
        };
        let mut upstream = Upstream::new(&settings.issuer, &settings.audience);
        upstream.skew = settings.iat_skew;
        upstream.max_age = settings.max_age;
        let clients = settings
            .clients
            .iter()
            .map(|id| ClientId::parse(id).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            upstream,
            keys: UpstreamKeys::new(source, settings.refresh, client),
            clients,
        })
    }
}

/// Why a logout token revoked nothing.
#[derive(Debug, thiserror::Error)]
pub enum LogoutRefusal {
    /// Its `iss` names no configured upstream (or it has none readable).
    #[error("the logout token is from no configured issuer")]
    UnknownIssuer,
    #[error(transparent)]
    Invalid(#[from] LogoutTokenError),
    /// Its `jti` was accepted before, here or on another instance.
    #[error("the logout token was received before")]
    Replayed,
    /// The database failed; the token's `jti` is forgotten again when the
    /// database allows, so the issuer's retry is not taken for a replay.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The revocation's task ended without an answer (it panicked).
    #[error("the revocation did not finish")]
    Interrupted,
}

impl LogoutRefusal {
    /// Whether the token failed on its signature or keys: what a forger's
    /// tokens fail on (counted against the sender's address).
    #[must_use]
    pub const fn is_forgery(&self) -> bool {
        matches!(
            self,
            Self::Invalid(
                LogoutTokenError::BadSignature
                    | LogoutTokenError::UnknownKeyId
                    | LogoutTokenError::MissingKeyId
                    | LogoutTokenError::KeyAlgorithmMismatch
                    | LogoutTokenError::AmbiguousKey
                    | LogoutTokenError::AlgorithmNotAllowed
            )
        )
    }
}

/// Receives logout tokens.
pub struct LogoutReceiver {
    upstreams: Vec<ConfiguredUpstream>,
    store: Arc<dyn LogoutStore>,
    revoker: Revoker,
    clock: Arc<dyn Clock>,
}

impl LogoutReceiver {
    #[must_use]
    pub fn new(
        upstreams: Vec<ConfiguredUpstream>,
        store: Arc<dyn LogoutStore>,
        revoker: Revoker,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            upstreams,
            store,
            revoker,
            clock,
        }
    }

    /// Validates `token` and revokes what it names; answers how many grants
    /// it revoked.
    ///
    /// The `jti` is claimed before the revocation, in a statement of its
    /// own, not in the revocation's transaction: a logout may revoke more
    /// grants than one batch (500 per transaction), and claiming first lets
    /// the primary key settle, on every instance, which of two concurrent
    /// deliveries of one token acts. The revocation then runs in a task of
    /// its own, so a request cut off (its time limit, a client gone) does
    /// not stop it half way; once it commits, the claim is marked done. If
    /// it fails, the claim is dropped so the issuer's retry is not refused
    /// as a replay; a claim that cannot even be dropped (the database gone)
    /// is taken over by a delivery after [`CLAIM_STANDS`].
    pub async fn receive(&self, token: &str, request_id: &str) -> Result<u64, LogoutRefusal> {
        let issuer = unverified_issuer(token).ok_or(LogoutRefusal::UnknownIssuer)?;
        let configured = self
            .upstreams
            .iter()
            .find(|configured| configured.upstream.issuer == issuer)
            .ok_or(LogoutRefusal::UnknownIssuer)?;
        let claims = configured
            .keys
            .validate(token, &configured.upstream, self.clock.now())
            .await?;
        let now = self.clock.now();
        let claim = LogoutClaim {
            issuer: &claims.iss,
            jti: &claims.jti,
            expires_at: claims.remember_until,
            now,
            stale_before: now - CLAIM_STANDS,
        };
        if !self.store.claim_logout_token(&claim).await? {
            return Err(LogoutRefusal::Replayed);
        }
        let filter = grants_of(&claims, &configured.clients);
        let (store, grants) = (self.store.clone(), self.revoker.clone());
        let (issuer, jti, request_id) = (claims.iss, claims.jti, request_id.to_owned());
        let revocation = tokio::spawn(async move {
            let revoked = match filter {
                Some(filter) => {
                    grants
                        .revoke_grants(&filter, RevocationReason::BackchannelLogout, &request_id)
                        .await
                }
                None => Ok(0),
            };
            let settled = match &revoked {
                Ok(_) => store.complete_logout_token(&issuer, &jti).await,
                Err(_) => store.forget_logout_token(&issuer, &jti).await,
            };
            if let Err(error) = settled {
                tracing::warn!(%error, "cannot settle a logout token's claim");
            }
            revoked
        });
        match revocation.await {
            Ok(revoked) => Ok(revoked?),
            Err(error) => {
                tracing::error!(%error, "a logout's revocation task failed");
                Err(LogoutRefusal::Interrupted)
            }
        }
    }
}

/// The grants a logout ends: those of its session when it names one (a
/// `sid` that is no valid session id labels no grant: none), else every
/// grant of its subject; of the upstream's clients either way.
fn grants_of(claims: &super::LogoutClaims, clients: &[ClientId]) -> Option<GrantFilter> {
    let mut criteria = GrantCriteria {
        clients: clients.to_vec(),
        ..GrantCriteria::default()
    };
    if claims.sid.is_none() && claims.sub.is_none() {
        return None;
    }
    // A token naming both a session and a subject ends grants matching both:
    // a session id of one issuer never reaches another subject's grants.
    if let Some(sid) = &claims.sid {
        criteria.session_id = Some(SessionId::parse(sid).ok()?);
    }
    criteria.subject.clone_from(&claims.sub);
    GrantFilter::matching(criteria)
}
