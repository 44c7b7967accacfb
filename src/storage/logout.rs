//! The logout tokens already accepted, by issuer and `jti`, so that a replay
//! is refused on every instance sharing the database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, Type};

use super::StoreError;
use super::backend::{Backend, Connection, Db, Param, RowsAffected as _};

/// The replay store of the back-channel logout receiver.
#[async_trait]
pub trait LogoutStore: Send + Sync {
    /// Records `jti` of `issuer` until `expires_at`, if it is not recorded
    /// yet: `true` when this call recorded it, `false` when it was already
    /// there (a replay). One statement; the primary key decides between
    /// concurrent deliveries of one token, on every instance.
    async fn remember_logout_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

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
    async fn remember_logout_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO logout_tokens_seen (issuer, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (issuer, jti) DO NOTHING",
        )
        .bind(issuer)
        .bind(jti)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
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
