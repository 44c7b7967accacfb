//! Grants and their tokens: what issuing and refresh rotation write, and
//! what `token inspect` reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::TokenAddition;
use crate::domain::grant::{GrantId, NewGrant, NewToken, TokenRecord};
use crate::domain::token::TokenHash;

/// Issued grants and their tokens, stored by hash only.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores grants with their tokens, all in one transaction: either every
    /// grant is stored or none is.
    async fn issue_grants(&self, grants: &[NewGrant]) -> Result<(), StoreError>;

    /// Adds tokens to a live grant (refresh rotation), in one transaction
    /// that holds the grant's row: a concurrent revocation of the grant
    /// either waits for the new tokens and revokes them too, or commits
    /// first and the tokens are refused. A revoked grant never gets a live
    /// token.
    async fn add_tokens(
        &self,
        grant_id: &GrantId,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> Result<TokenAddition, StoreError>;

    /// Looks a token up by hash, in any state (for `token inspect`).
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;
}
