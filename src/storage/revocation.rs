//! Revoking grants: by a presented token (RFC 7009), or in bulk for an
//! operator.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, Type};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, row_struct};
use super::statement::Statement;
use crate::domain::audit::BulkRevocation;
use crate::domain::client::ClientId;
use crate::domain::grant::GrantId;
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};
use crate::domain::revocation_rule::{SightedToken, Sighting};
use crate::domain::token::{TokenHash, TokenKind};

/// What the revocation use case writes: a revoked grant (and so all of its
/// tokens: a token's state is its grant's), one audit record and one outbox
/// event, always together.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes the grant of the token with this hash (every token of the
    /// grant with it), one audit record and one outbox event, in one
    /// transaction, after checking in it that the presenter is
    /// still current. Concurrent calls for one grant all succeed; exactly
    /// one answers `Revoked`, the others `AlreadyRevoked`.
    async fn revoke_by_token_hash(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError>;

    /// Revokes one batch of the live grants `request.filter` selects (their
    /// tokens with them), one audit record and one outbox event each, in one
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

/// Hashes looked up per statement by `stored_token_hashes`.
const LOOKUP_BATCH: usize = 1000;

/// The read half of a revocation, the same on both backends: whether the
/// presenter is still the client it was authenticated as, and the presented
/// token with its grant. One row always comes back, with the token columns
/// `NULL` when no token has the hash. `$1` is the token hash, `$2` the
/// presenter's client id (`NULL` when anonymous), `$3` its revision.
macro_rules! sighting_select {
    () => {
        "SELECT p.current, t.kind, t.grant_id, g.client_id, \
         g.revoked_at IS NOT NULL AS grant_revoked \
         FROM (SELECT $2 IS NULL OR EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 \
               AND c.credentials_revision = $3 AND NOT c.disabled) AS current) p \
         LEFT JOIN tokens t ON t.token_hash = $1 \
         LEFT JOIN grants g ON g.id = t.grant_id"
    };
}
pub(crate) use sighting_select;

row_struct! {
    /// A row of [`sighting_select`]: the token columns are `NULL` when no
    /// token has the hash.
    pub struct SightingRow {
        current: bool,
        kind: Option<String>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        grant_revoked: Option<bool>,
    }
}

impl TryFrom<SightingRow> for Sighting {
    type Error = StoreError;

    fn try_from(row: SightingRow) -> Result<Self, StoreError> {
        let token = match (row.kind, row.grant_id, row.client_id, row.grant_revoked) {
            (Some(kind), Some(grant_id), Some(client_id), Some(grant_revoked)) => {
                Some(SightedToken {
                    grant_id: GrantId::from_uuid(grant_id),
                    client_id: ClientId::parse(&client_id)
                        .map_err(|_| StoreError::Corrupt("grant client id"))?,
                    kind: TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("token kind"))?,
                    grant_revoked,
                })
            }
            (None, None, None, _) => None,
            _ => return Err(StoreError::Corrupt("token without its grant")),
        };
        Ok(Self {
            presenter_current: row.current,
            token,
        })
    }
}

/// A presenter as the `$2` (client id) and `$3` (revision) of the
/// presenter check, both `NULL` for one that is no client (anonymous, an
/// operator): always current, never foreign.
pub fn presenter_columns(presenter: &Presenter) -> (Option<&str>, Option<i64>) {
    match presenter {
        Presenter::Anonymous | Presenter::Operator => (None, None),
        Presenter::Client { id, revision, .. } => (Some(id.as_str()), Some(*revision)),
    }
}

/// The kinds of the tokens of grant `$grant` as the event's `token_kinds`
/// (`access,refresh`): one scan of the grant's tokens, in SQL both backends
/// run.
macro_rules! token_kinds_of_grant {
    ($grant:literal) => {
        concat!(
            "(SELECT CASE max(CASE WHEN k.kind = 'access' THEN 1 ELSE 0 END) \
               + 2 * max(CASE WHEN k.kind = 'refresh' THEN 1 ELSE 0 END) \
             WHEN 3 THEN 'access,refresh' WHEN 1 THEN 'access' WHEN 2 THEN 'refresh' \
             ELSE '' END FROM tokens k WHERE k.grant_id = ",
            $grant,
            ")"
        )
    };
}
pub(crate) use token_kinds_of_grant;

/// The start of the event insert for revoked grants, both backends: the
/// presenter kind is bound next, then `) FROM grants g WHERE g.id IN (…)`.
pub const EVENTS_FOR_GRANTS: &str = concat!(
    "INSERT INTO revocation_events (grant_id, client_id, subject, session_id, device_id, \
     token_kinds, presenter_kind, reason, revoked_at) \
     SELECT g.id, g.client_id, g.subject, o.session_id, o.device_id, ",
    token_kinds_of_grant!("g.id"),
    ", "
);
/// Follows the bound presenter kind in [`EVENTS_FOR_GRANTS`].
pub const EVENTS_FOR_GRANTS_TAIL: &str = ", g.revocation_reason, g.revoked_at FROM grants g \
     LEFT JOIN grant_origins o ON o.grant_id = g.id WHERE g.id IN (";

#[async_trait]
impl<B: Backend> RevocationStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> &'q [u8]: Encode<'q, Db<B>> + Type<Db<B>>,
    bool: Param<Db<B>>,
    i64: Param<Db<B>>,
    Uuid: Param<Db<B>> + Column<Db<B>>,
    Vec<u8>: Column<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn revoke_by_token_hash(
        &self,
        request: &RevocationRequest<'_>,
    ) -> Result<RevocationOutcome, StoreError> {
        self.revoke(request).await
    }

    async fn revoke_grants(&self, request: &BulkRevocation<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut claim = Statement::<Db<B>>::new("UPDATE grants SET revoked_at = ");
        claim
            .push_bind(request.now)
            .push(", revocation_reason = ")
            .push_bind(request.reason.as_str())
            .push(
                " WHERE revoked_at IS NULL AND id IN \
                 (SELECT id FROM grants WHERE revoked_at IS NULL",
            );
        if let Some(client_id) = request.filter.client_id() {
            claim
                .push(" AND client_id = ")
                .push_bind(client_id.as_str());
        }
        if !request.filter.clients().is_empty() {
            claim
                .push(" AND client_id IN (")
                .push_list(request.filter.clients().iter().map(ClientId::as_str))
                .push(")");
        }
        if let Some(subject) = request.filter.subject() {
            claim.push(" AND subject = ").push_bind(subject);
        }
        // A semi-join on the labels' own indexes (grant_origins is keyed by
        // grant): the lock below stays on grants rows alone.
        if let Some(session_id) = request.filter.session_id() {
            claim
                .push(" AND id IN (SELECT grant_id FROM grant_origins WHERE session_id = ")
                .push_bind(session_id.as_str())
                .push(")");
        }
        if let Some(device_id) = request.filter.device_id() {
            claim
                .push(" AND id IN (SELECT grant_id FROM grant_origins WHERE device_id = ")
                .push_bind(device_id.as_str())
                .push(")");
        }
        // Batches pass each other's locked grants by; the caller's last
        // batch waits for them (see `BulkRevocation`). In id order, so two
        // bulk revocations waiting for locks take them in the same order and
        // cannot deadlock.
        claim
            .push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(request.batch_size))
            .push(if request.wait_for_locked {
                B::ROW_LOCK
            } else {
                B::SKIP_LOCKED
            })
            .push(") RETURNING id");
        let (sql, arguments) = claim.into_parts()?;
        let claimed: Vec<Uuid> = sqlx::query_scalar_with(&sql, arguments)
            .fetch_all(&mut *tx)
            .await?;
        if claimed.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut audit = Statement::<Db<B>>::new(
            "INSERT INTO revocations (grant_id, presenter_kind, foreign_client, reason, \
             request_id, revoked_at) ",
        );
        let presenter_kind = request.reason.bulk_presenter_kind();
        audit.push_values(&claimed, |row, id| {
            row.bind(id)
                .bind(presenter_kind)
                .bind(false)
                .bind(request.reason.as_str())
                .bind(request.request_id)
                .bind(request.now);
        });
        let (sql, arguments) = audit.into_parts()?;
        sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        let mut events = Statement::<Db<B>>::new(EVENTS_FOR_GRANTS);
        events
            .push_bind(presenter_kind)
            .push(EVENTS_FOR_GRANTS_TAIL)
            .push_list(&claimed)
            .push(")");
        let (sql, arguments) = events.into_parts()?;
        sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(claimed.len() as u64)
    }

    async fn stored_token_hashes(
        &self,
        hashes: &[TokenHash],
    ) -> Result<Vec<TokenHash>, StoreError> {
        let mut stored = Vec::new();
        for chunk in hashes.chunks(LOOKUP_BATCH) {
            let mut select =
                Statement::<Db<B>>::new("SELECT token_hash FROM tokens WHERE token_hash IN (");
            select
                .push_list(chunk.iter().map(|hash| &hash.as_bytes()[..]))
                .push(")");
            let (sql, arguments) = select.into_parts()?;
            // One text per batch size: not worth a prepared statement.
            let found: Vec<Vec<u8>> = sqlx::query_scalar_with(&sql, arguments)
                .persistent(false)
                .fetch_all(self.pool())
                .await?;
            for bytes in found {
                stored
                    .push(TokenHash::from_stored(&bytes).ok_or(StoreError::Corrupt("token hash"))?);
            }
        }
        Ok(stored)
    }
}
