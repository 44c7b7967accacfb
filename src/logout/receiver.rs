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
use crate::storage::{LogoutStore, StoreError};

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
    /// The `jti` is recorded before the revocation, in a statement of its
    /// own, not in the revocation's transaction: a logout may revoke more
    /// grants than one batch (500 per transaction), and recording first lets
    /// the primary key settle, on every instance, which of two concurrent
    /// deliveries of one token acts. If the revocation then fails, the `jti`
    /// is forgotten again, so the issuer's retry is not refused as a replay.
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
        if !self
            .store
            .remember_logout_token(&claims.iss, &claims.jti, claims.remember_until)
            .await?
        {
            return Err(LogoutRefusal::Replayed);
        }
        let Some(filter) = grants_of(&claims, &configured.clients) else {
            return Ok(0);
        };
        match self
            .revoker
            .revoke_grants(&filter, RevocationReason::BackchannelLogout, request_id)
            .await
        {
            Ok(revoked) => Ok(revoked),
            Err(error) => {
                if let Err(forget) = self
                    .store
                    .forget_logout_token(&claims.iss, &claims.jti)
                    .await
                {
                    tracing::warn!(error = %forget, "cannot forget a failed logout's token id");
                }
                Err(error.into())
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
    match (&claims.sid, &claims.sub) {
        (Some(sid), _) => criteria.session_id = Some(SessionId::parse(sid).ok()?),
        (None, Some(sub)) => criteria.subject = Some(sub.clone()),
        (None, None) => return None,
    }
    GrantFilter::matching(criteria)
}
