//! Grants and their tokens: what issuing and refresh rotation write, and
//! what `token inspect` reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, row_struct};
use super::statement::Statement;
use crate::domain::audit::TokenAddition;
use crate::domain::client::ClientId;
use crate::domain::grant::{GrantId, GrantOrigin, NewGrant, NewToken, TokenRecord};
use crate::domain::session::{DeviceId, SessionId};
use crate::domain::token::{TokenHash, TokenKind};

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

/// Rows per multi-row `INSERT`: well under both backends' bind-parameter
/// limits (PostgreSQL 65 535, SQLite 32 766).
const INSERT_BATCH: usize = 1000;

/// A token with its grant, by hash.
const TOKEN_LOOKUP: &str = "SELECT t.kind, t.grant_id, g.client_id, o.session_id, o.device_id, \
     t.expires_at, g.revoked_at FROM tokens t JOIN grants g ON g.id = t.grant_id \
     LEFT JOIN grant_origins o ON o.grant_id = g.id WHERE t.token_hash = $1";

row_struct! {
    /// A row of [`TOKEN_LOOKUP`].
    pub struct TokenRow {
        kind: String,
        grant_id: Uuid,
        client_id: String,
        session_id: Option<String>,
        device_id: Option<String>,
        expires_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
    }
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: TokenKind::from_stored(&row.kind).ok_or(StoreError::Corrupt("token kind"))?,
            grant_id: GrantId::from_uuid(row.grant_id),
            client_id: ClientId::parse(&row.client_id)
                .map_err(|_| StoreError::Corrupt("grant client id"))?,
            origin: grant_origin(row.session_id.as_deref(), row.device_id.as_deref())?,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[async_trait]
impl<B: Backend> GrantStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> &'q [u8]: Encode<'q, Db<B>> + Type<Db<B>>,
    bool: Column<Db<B>>,
    Uuid: Param<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> TokenRow: FromRow<'r, DbRow<B>>,
{
    async fn issue_grants(&self, grants: &[NewGrant]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for chunk in grants.chunks(INSERT_BATCH) {
            let mut insert = Statement::<Db<B>>::new(
                "INSERT INTO grants (id, client_id, subject, scope, created_at) ",
            );
            insert.push_values(chunk, |row, grant| {
                row.bind(grant.id.as_uuid())
                    .bind(grant.client_id.as_str())
                    .bind(grant.subject.as_str())
                    .bind(grant.scope.as_deref())
                    .bind(grant.created_at);
            });
            let (sql, arguments) = insert.into_parts()?;
            sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;

            let tokens = chunk.iter().flat_map(|grant| {
                grant
                    .tokens
                    .iter()
                    .map(move |token| (token, grant.id, grant.created_at))
            });
            let (sql, arguments) = insert_tokens::<Db<B>>(tokens).into_parts()?;
            sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;

            let labelled: Vec<&NewGrant> = chunk
                .iter()
                .filter(|grant| !grant.origin.is_empty())
                .collect();
            if !labelled.is_empty() {
                let mut origins = Statement::<Db<B>>::new(
                    "INSERT INTO grant_origins (grant_id, session_id, device_id) ",
                );
                origins.push_values(labelled, |row, grant| {
                    row.bind(grant.id.as_uuid())
                        .bind(grant.origin.session_id.as_ref().map(SessionId::as_str))
                        .bind(grant.origin.device_id.as_ref().map(DeviceId::as_str));
                });
                let (sql, arguments) = origins.into_parts()?;
                sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_tokens(
        &self,
        grant_id: &GrantId,
        tokens: &[NewToken],
        now: DateTime<Utc>,
    ) -> Result<TokenAddition, StoreError> {
        let mut tx = self.begin_write().await?;
        // Locked until commit: a revocation of this grant waits for the new
        // tokens, or they wait for it and see it revoked.
        let lock = format!(
            "SELECT revoked_at IS NOT NULL FROM grants WHERE id = $1{}",
            B::ROW_LOCK
        );
        let revoked: Option<bool> = sqlx::query_scalar(&lock)
            .bind(grant_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        match revoked {
            None => return Ok(TokenAddition::UnknownGrant),
            Some(true) => return Ok(TokenAddition::GrantRevoked),
            Some(false) => {}
        }
        for chunk in tokens.chunks(INSERT_BATCH) {
            let tokens = chunk.iter().map(|token| (token, *grant_id, now));
            let (sql, arguments) = insert_tokens::<Db<B>>(tokens).into_parts()?;
            sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(TokenAddition::Added)
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(TOKEN_LOOKUP)
            .bind(&hash.as_bytes()[..])
            .fetch_optional(self.pool())
            .await?;
        row.map(TokenRecord::try_from).transpose()
    }
}

/// A grant's origin as stored: labels the database holds were checked on
/// the way in, so one that no longer parses is corruption.
pub fn grant_origin(
    session_id: Option<&str>,
    device_id: Option<&str>,
) -> Result<GrantOrigin, StoreError> {
    Ok(GrantOrigin {
        session_id: session_id
            .map(SessionId::parse)
            .transpose()
            .map_err(|_| StoreError::Corrupt("grant session id"))?,
        device_id: device_id
            .map(DeviceId::parse)
            .transpose()
            .map_err(|_| StoreError::Corrupt("grant device id"))?,
    })
}

/// Inserts tokens, each with its grant and creation time.
fn insert_tokens<'a, DB>(
    tokens: impl IntoIterator<Item = (&'a NewToken, GrantId, DateTime<Utc>)>,
) -> Statement<'a, DB>
where
    DB: sqlx::Database,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
{
    let mut insert =
        Statement::new("INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) ");
    insert.push_values(tokens, |row, (token, grant_id, created_at)| {
        row.bind(&token.hash.as_bytes()[..])
            .bind(*grant_id.as_uuid())
            .bind(token.kind.as_str())
            .bind(token.expires_at)
            .bind(created_at);
    });
    insert
}
