//! Token introspection (RFC 7662): what a resource server may learn.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, row_struct};
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

/// The introspection lookup's columns and joins: whether the presenter
/// `$id` (at revision `$revision`) is a current resource server (as in
/// [`super::revocation::sighting_select`]), then the token whose hash is
/// `$hash` with its grant and client, the token columns `NULL` when no
/// token has the hash. `$from` comes between: the source of the three
/// values and the presenter check (`p`).
macro_rules! introspect_select {
    (ord = $ord:literal, from = $from:literal, id = $id:literal, revision = $revision:literal,
     presenter_check = $check:literal, hash = $hash:literal) => {
        concat!(
            "SELECT ",
            $ord,
            "p.current, t.kind, g.id AS grant_id, g.client_id, \
             g.subject, g.scope, t.created_at AS issued_at, t.expires_at, \
             g.revoked_at IS NOT NULL AS revoked, \
             (c.disabled OR c.deleted_at IS NOT NULL) AS client_gone FROM ",
            $from,
            " ",
            $check,
            " (SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = ",
            $id,
            " AND c.credentials_revision = ",
            $revision,
            " AND NOT c.disabled AND c.resource_server) AS current) p \
             LEFT JOIN tokens t ON t.token_hash = ",
            $hash,
            " \
             LEFT JOIN grants g ON g.id = t.grant_id \
             LEFT JOIN clients c ON c.id = g.client_id"
        )
    };
}
pub(super) use introspect_select;

/// [`introspect_select`] for one lookup: `$1` the token hash (`NULL`: the
/// presenter check alone), `$2` the presenter's id, `$3` its revision. One
/// row always comes back.
pub(super) const INTROSPECT_SELECT: &str = introspect_select!(
    ord = "",
    from = "",
    id = "$2",
    revision = "$3",
    presenter_check = "",
    hash = "$1"
);

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
impl<B: Backend> IntrospectionStore for B {
    async fn introspect(
        &self,
        hash: &TokenHash,
        presenter: &Presenter,
    ) -> Result<Introspection, StoreError> {
        Introspection::try_from(
            self.introspection_row(Lookup::new(Some(hash), presenter))
                .await?,
        )
    }

    async fn resource_server_is_current(&self, presenter: &Presenter) -> Result<bool, StoreError> {
        Ok(self
            .introspection_row(Lookup::new(None, presenter))
            .await?
            .current)
    }
}

/// A lookup's parameters, owned: the token hash (`None`: the presenter
/// check alone), the presenter's id and revision.
#[derive(Debug)]
pub struct Lookup {
    pub token_hash: Option<Vec<u8>>,
    pub presenter_id: Option<String>,
    pub revision: Option<i64>,
}

impl Lookup {
    pub fn new(hash: Option<&TokenHash>, presenter: &Presenter) -> Self {
        let (id, revision) = presenter_columns(presenter);
        Self {
            token_hash: hash.map(|hash| hash.as_bytes().to_vec()),
            presenter_id: id.map(str::to_owned),
            revision,
        }
    }
}
