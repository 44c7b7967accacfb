//! Revoking grants: by a presented token (RFC 7009), or in bulk for an
//! operator.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::audit::BulkRevocation;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};
use crate::domain::token::TokenHash;

/// What the revocation use case writes: a revoked grant, all of its tokens,
/// one audit record and one outbox event, always together.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes the grant of the token with this hash: every not-yet-revoked
    /// token of the grant, the grant itself, one audit record and one outbox
    /// event, in one transaction, after checking in it that the presenter is
    /// still current. Concurrent calls for one grant all succeed; exactly
    /// one answers `Revoked`, the others `AlreadyRevoked`.
    async fn revoke_by_token_hash(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError>;

    /// Revokes one batch of the live grants `request.filter` selects, with
    /// their tokens, one audit record and one outbox event each, in one
    /// transaction. Grants are claimed in id order, so two bulk revocations
    /// waiting for each other's locks cannot deadlock. Answers how many
    /// grants it revoked; zero means none is left (see
    /// [`BulkRevocation::wait_for_locked`]).
    async fn revoke_grants(&self, request: &BulkRevocation<'_>) -> Result<u64, StoreError>;

    /// Which of `hashes` are stored, in any state, in one statement per
    /// thousand. A secret scanner's batch of up to thousands of candidates
    /// is mostly false positives: this finds the few worth a revocation
    /// without a round trip for each of the others.
    async fn stored_token_hashes(&self, hashes: &[TokenHash])
    -> Result<Vec<TokenHash>, StoreError>;
}
