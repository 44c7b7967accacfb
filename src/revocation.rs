//! The revocation use cases: a presented token revoked for its presenter
//! ([`TokenRevocation`]), and the revocations every path shares ([`Revoker`]).

use std::sync::Arc;

use crate::auth::{Acted, AuthError, Authenticator, Credentials, Purpose};
use crate::domain::audit::{BulkRevocation, GrantFilter};
use crate::domain::clock::Clock;
use crate::domain::minted::{Shape, TokenFormat};
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{
    AnonymousPolicy, ForeignPolicy, RevocationOutcome, RevocationReason, RevocationRequest,
};
use crate::domain::token::{PresentedToken, TokenHash};
use crate::events::Events;
use crate::storage::{RevocationStore, StoreError};

/// Revokes grants by presented token.
#[derive(Clone)]
pub struct Revoker {
    store: Arc<dyn RevocationStore>,
    format: TokenFormat,
    foreign_policy: ForeignPolicy,
    clock: Arc<dyn Clock>,
    events: Events,
}

impl Revoker {
    #[must_use]
    pub fn new(
        store: Arc<dyn RevocationStore>,
        format: TokenFormat,
        foreign_policy: ForeignPolicy,
        clock: Arc<dyn Clock>,
        events: Events,
    ) -> Self {
        Self {
            store,
            format,
            foreign_policy,
            clock,
            events,
        }
    }

    /// Revokes the grant behind `token`, whatever its kind (docs/behaviour.md, Revocation: the hint
    /// never narrows the search; one index covers both kinds). A minted-shape
    /// candidate whose checksum fails is unknown without touching the database.
    pub async fn revoke(
        &self,
        presenter: &Presenter,
        token: &PresentedToken,
        request_id: &str,
    ) -> Result<RevocationOutcome, StoreError> {
        self.revoke_as(presenter, token, None, request_id).await
    }

    /// Revokes the grant behind a token a secret scanner found in public at
    /// `found_at` (its URL, possibly empty): an anonymous report with reason
    /// `secret_scanning`, the URL kept in the audit record.
    pub async fn revoke_found(
        &self,
        token: &PresentedToken,
        found_at: &str,
        request_id: &str,
    ) -> Result<RevocationOutcome, StoreError> {
        let found_at = printable(found_at);
        self.revoke_as(&Presenter::Anonymous, token, Some(&found_at), request_id)
            .await
    }

    /// Which of `hashes` the store holds, in any state: the candidates of a
    /// scanner's batch worth a revocation, found in one statement per
    /// thousand rather than a round trip each.
    pub async fn stored(
        &self,
        hashes: &[TokenHash],
    ) -> Result<std::collections::HashSet<TokenHash>, StoreError> {
        Ok(self
            .store
            .stored_token_hashes(hashes)
            .await?
            .into_iter()
            .collect())
    }

    async fn revoke_as(
        &self,
        presenter: &Presenter,
        token: &PresentedToken,
        found_at: Option<&str>,
        request_id: &str,
    ) -> Result<RevocationOutcome, StoreError> {
        if self.format.classify(token.expose()) == Shape::BadChecksum {
            return Ok(RevocationOutcome::Unknown);
        }
        let token_hash = token.hash();
        let request = RevocationRequest {
            token_hash: &token_hash,
            presenter,
            foreign_policy: self.foreign_policy,
            request_id,
            now: self.clock.now(),
            found_at,
        };
        let outcome = self.store.revoke_by_token_hash(&request).await?;
        if let RevocationOutcome::Revoked { grant_id, .. } = &outcome {
            self.events.revoked_here(Some(grant_id));
        }
        Ok(outcome)
    }

    /// Revokes every live grant `filter` selects (an operator's bulk
    /// revocation), [`BULK_BATCH`] grants per transaction so a client with a
    /// million grants never holds one huge transaction. Answers how many
    /// grants it revoked, and only once none is left live: batches pass by
    /// grants another transaction holds locked (a refresh rotation), then a
    /// final batch waits for those locks, and the loop goes on until a
    /// waiting batch finds nothing. Interrupted (the caller went away, the
    /// database failed), the committed batches stay revoked and a rerun
    /// goes on.
    pub async fn revoke_grants(
        &self,
        filter: &GrantFilter,
        reason: RevocationReason,
        request_id: &str,
    ) -> Result<u64, StoreError> {
        let mut revoked = 0;
        let mut wait_for_locked = false;
        loop {
            let batch = BulkRevocation {
                filter,
                reason,
                request_id,
                now: self.clock.now(),
                batch_size: BULK_BATCH,
                wait_for_locked,
            };
            match self.store.revoke_grants(&batch).await? {
                0 if wait_for_locked => return Ok(revoked),
                0 => wait_for_locked = true,
                count => {
                    self.events.revoked_here(None);
                    revoked += count;
                    wait_for_locked = false;
                }
            }
        }
    }
}

/// Grants revoked per transaction by [`Revoker::revoke_grants`].
pub const BULK_BATCH: u32 = 500;

/// Why a presented token's revocation was not even attempted.
#[derive(Debug, thiserror::Error)]
pub enum PresentedRevocationError {
    /// `policy.anonymous = "reject"` and no credentials came with it.
    #[error("anonymous presenters are not accepted")]
    AnonymousRejected,
    /// The presenter did not authenticate, or the store could not be asked.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// RFC 7009 §2.1: a token presented by a client, or by anyone under the
/// anonymous policy. Authenticates the presenter, applies the policies and
/// revokes; when the presenter turns out rotated or disabled since its
/// credentials were cached, revokes once more after a fresh verification.
#[derive(Clone)]
pub struct TokenRevocation {
    revoker: Revoker,
    authenticator: Authenticator,
    anonymous_policy: AnonymousPolicy,
}

impl TokenRevocation {
    #[must_use]
    pub const fn new(
        revoker: Revoker,
        authenticator: Authenticator,
        anonymous_policy: AnonymousPolicy,
    ) -> Self {
        Self {
            revoker,
            authenticator,
            anonymous_policy,
        }
    }

    /// Revokes the grant behind `token` for whoever `credentials` name.
    /// `ForeignRejected` and a second `StalePresenter` are outcomes, for the
    /// caller to answer.
    pub async fn revoke(
        &self,
        credentials: &Credentials,
        token: &PresentedToken,
        request_id: &str,
    ) -> Result<Acted<RevocationOutcome>, PresentedRevocationError> {
        if matches!(credentials, Credentials::None)
            && self.anonymous_policy == AnonymousPolicy::Reject
        {
            return Err(PresentedRevocationError::AnonymousRejected);
        }
        let revoker = &self.revoker;
        Ok(self
            .authenticator
            .as_current_presenter(
                credentials,
                Purpose::Revoke,
                |outcome| *outcome == RevocationOutcome::StalePresenter,
                |presenter| async move { revoker.revoke(&presenter, token, request_id).await },
            )
            .await?)
    }
}

/// Where a scanner found a token, as the audit record keeps it: control
/// characters (a NUL, which PostgreSQL's text refuses and which would fail
/// every revocation sharing the statement, or a line break forging a log
/// line) become U+FFFD. The URL only informs an operator; the token is
/// revoked whatever it says.
fn printable(found_at: &str) -> std::borrow::Cow<'_, str> {
    if found_at.chars().any(char::is_control) {
        found_at
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect::<String>()
            .into()
    } else {
        found_at.into()
    }
}
