//! Token introspection (RFC 7662): what a resource server may learn.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, row_struct};
use super::revocation::presenter_columns;
use crate::domain::client::ClientId;
use crate::domain::grant::GrantId;
use crate::domain::introspection::{Introspection, TokenState};
use crate::domain::presenter::Presenter;
use crate::domain::token::{TokenHash, TokenKind};

/// The reads of the introspection use case. Both check the presenter in
/// the same statement as the rest, so a resource server disabled, re-keyed
/// or unmarked on any instance is refused on its next call.
#[async_trait]
pub trait IntrospectionStore: Send + Sync {
    /// Looks a token up with its grant and client, checking in the same
    /// statement that the presenter is still a current resource server
    /// (enabled, not rotated, still marked).
    async fn introspect(
        &self,
        hash: &TokenHash,
        presenter: &Presenter,
    ) -> Result<Introspection, StoreError>;

    /// Whether `presenter` is still a current resource server: the check
    /// [`Self::introspect`] makes, alone, for an answer taken from the cache.
    async fn resource_server_is_current(&self, presenter: &Presenter) -> Result<bool, StoreError>;
}

/// The introspection lookup: whether the presenter is current (as in
/// [`super::revocation::sighting_select`]), then the token with its grant
/// and client. One row always comes back, the token columns `NULL` when no
/// token has the hash.
const INTROSPECT_SELECT: &str = "SELECT p.current, t.kind, g.id AS grant_id, g.client_id, \
     g.subject, g.scope, t.created_at AS issued_at, t.expires_at, \
     (t.revoked_at IS NOT NULL OR g.revoked_at IS NOT NULL) AS revoked, \
     (c.disabled OR c.deleted_at IS NOT NULL) AS client_gone \
     FROM (SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 \
           AND c.credentials_revision = $3 AND NOT c.disabled AND c.resource_server) AS current) p \
     LEFT JOIN tokens t ON t.token_hash = $1 \
     LEFT JOIN grants g ON g.id = t.grant_id \
     LEFT JOIN clients c ON c.id = g.client_id";

/// Whether a presenter is still a current resource server (the first half
/// of [`INTROSPECT_SELECT`], for an answer taken from the cache).
const RESOURCE_SERVER_CURRENT: &str = "SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $1 \
     AND c.credentials_revision = $2 AND NOT c.disabled AND c.resource_server)";

row_struct! {
    /// A row of [`INTROSPECT_SELECT`].
    pub struct IntrospectRow {
        current: bool,
        kind: Option<String>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        subject: Option<String>,
        scope: Option<String>,
        issued_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        revoked: Option<bool>,
        client_gone: Option<bool>,
    }
}

impl TryFrom<IntrospectRow> for Introspection {
    type Error = StoreError;

    fn try_from(row: IntrospectRow) -> Result<Self, StoreError> {
        let token = match (
            row.kind,
            row.grant_id,
            row.client_id,
            row.subject,
            row.issued_at,
            row.expires_at,
            row.revoked,
            row.client_gone,
        ) {
            (
                Some(kind),
                Some(grant_id),
                Some(client_id),
                Some(subject),
                Some(issued_at),
                Some(expires_at),
                Some(revoked),
                Some(client_gone),
            ) => Some(TokenState {
                kind: TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("token kind"))?,
                grant_id: GrantId::from_uuid(grant_id),
                client_id: ClientId::parse(&client_id)
                    .map_err(|_| StoreError::Corrupt("grant client id"))?,
                subject,
                scope: row.scope,
                issued_at,
                expires_at,
                revoked,
                client_gone,
            }),
            (None, None, None, None, None, None, _, _) => None,
            _ => return Err(StoreError::Corrupt("token without its grant or client")),
        };
        Ok(Self {
            presenter_current: row.current,
            token,
        })
    }
}

#[async_trait]
impl<B: Backend> IntrospectionStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> &'q [u8]: Encode<'q, Db<B>> + Type<Db<B>>,
    Option<i64>: Param<Db<B>>,
    bool: Column<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> IntrospectRow: FromRow<'r, DbRow<B>>,
{
    async fn introspect(
        &self,
        hash: &TokenHash,
        presenter: &Presenter,
    ) -> Result<Introspection, StoreError> {
        let (id, revision) = presenter_columns(presenter);
        let row: IntrospectRow = sqlx::query_as(INTROSPECT_SELECT)
            .bind(&hash.as_bytes()[..])
            .bind(id)
            .bind(revision)
            .fetch_one(self.pool())
            .await?;
        Introspection::try_from(row)
    }

    async fn resource_server_is_current(&self, presenter: &Presenter) -> Result<bool, StoreError> {
        let (id, revision) = presenter_columns(presenter);
        Ok(sqlx::query_scalar(RESOURCE_SERVER_CURRENT)
            .bind(id)
            .bind(revision)
            .fetch_one(self.pool())
            .await?)
    }
}
