//! The logout tokens already accepted, by issuer and `jti`, so that a replay
//! is refused on every instance sharing the database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, Type};

use super::StoreError;
use super::backend::{Backend, Connection, Db, Param, RowsAffected as _};

/// One delivery's claim on a logout token.
#[derive(Debug, Clone, Copy)]
pub struct LogoutClaim<'a> {
    pub issuer: &'a str,
    pub jti: &'a str,
    /// Until when the id is kept (the token can no longer be accepted after).
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// An unfinished claim made before this is taken over.
    pub stale_before: DateTime<Utc>,
}

/// The replay store of the back-channel logout receiver.
#[async_trait]
pub trait LogoutStore: Send + Sync {
    /// Claims `jti` of `issuer` (kept until `expires_at`) for this
    /// delivery at `now`: `true` when it was not recorded yet, or recorded
    /// by a delivery that never completed and claimed it before
    /// `stale_before` (taken over); `false` otherwise (a replay). One
    /// statement; the primary key decides between concurrent deliveries of
    /// one token, on every instance.
    async fn claim_logout_token(&self, claim: &LogoutClaim<'_>) -> Result<bool, StoreError>;

    /// Marks a claimed `jti` as done: its revocation committed.
    async fn complete_logout_token(&self, issuer: &str, jti: &str) -> Result<(), StoreError>;

    /// Forgets a recorded `jti`, so that the issuer's retry of a logout
    /// whose revocation failed is not taken for a replay.
    async fn forget_logout_token(&self, issuer: &str, jti: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<B: Backend> LogoutStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
{
    async fn claim_logout_token(&self, claim: &LogoutClaim<'_>) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "INSERT INTO logout_tokens_seen (issuer, jti, expires_at, claimed_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, jti) DO UPDATE SET claimed_at = excluded.claimed_at \
             WHERE NOT logout_tokens_seen.completed AND logout_tokens_seen.claimed_at < $5",
        )
        .bind(claim.issuer)
        .bind(claim.jti)
        .bind(claim.expires_at)
        .bind(claim.now)
        .bind(claim.stale_before)
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn complete_logout_token(&self, issuer: &str, jti: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE logout_tokens_seen SET completed = TRUE WHERE issuer = $1 AND jti = $2",
        )
        .bind(issuer)
        .bind(jti)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn forget_logout_token(&self, issuer: &str, jti: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM logout_tokens_seen WHERE issuer = $1 AND jti = $2")
            .bind(issuer)
            .bind(jti)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
