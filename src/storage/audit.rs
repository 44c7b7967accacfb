//! The audit trail operators read: revocation records and admin calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};
use uuid::Uuid;

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, row_struct};
use super::grants::grant_origin;
use super::statement::Statement;
use crate::domain::audit::{
    ActionQuery, AdminAction, NewAdminAction, Page, RevocationQuery, RevocationRecord,
};
use crate::domain::client::ClientId;
use crate::domain::grant::GrantId;
use crate::domain::recorded::Recorded;
use crate::domain::token::TokenKind;

/// Revocation records (written by [`super::RevocationStore`] with each
/// revocation) and the record of every admin API call. Each method is one
/// statement; pages are in id order, so a cursor never skips a row.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Revocation records matching `query`, oldest first, one page.
    async fn revocation_records(
        &self,
        query: &RevocationQuery,
        page: Page,
    ) -> Result<Vec<RevocationRecord>, StoreError>;

    /// Records an admin call before it acts, so a call that changed
    /// something is on record even if the process stops mid-call; returns
    /// the record's id.
    async fn begin_admin_action(&self, action: &NewAdminAction<'_>) -> Result<i64, StoreError>;

    /// Completes an admin call's record with the status it answered.
    async fn finish_admin_action(
        &self,
        id: i64,
        status: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Admin call records matching `query`, oldest first, one page.
    async fn admin_actions(
        &self,
        query: &ActionQuery,
        page: Page,
    ) -> Result<Vec<AdminAction>, StoreError>;
}

/// Revocation records with their grant's owner; filters are appended.
/// The grant's session and device come from its origin row, which lives as
/// long as the grant, and a grant with a revocation record is never purged.
const REVOCATION_SELECT: &str = "SELECT r.id, r.grant_id, g.client_id, g.subject, \
     o.session_id, o.device_id, r.presented_kind, r.presenter_kind, r.presenter_client_id, \
     r.foreign_client, r.reason, r.request_id, r.revoked_at, r.source_url \
     FROM revocations r JOIN grants g ON g.id = r.grant_id \
     LEFT JOIN grant_origins o ON o.grant_id = g.id WHERE TRUE";

row_struct! {
    /// A row of [`REVOCATION_SELECT`].
    pub struct RevocationRow {
        id: i64,
        grant_id: Uuid,
        client_id: String,
        subject: String,
        session_id: Option<String>,
        device_id: Option<String>,
        presented_kind: Option<String>,
        presenter_kind: String,
        presenter_client_id: Option<String>,
        foreign_client: bool,
        reason: String,
        request_id: String,
        revoked_at: DateTime<Utc>,
        source_url: Option<String>,
    }
}

impl TryFrom<RevocationRow> for RevocationRecord {
    type Error = StoreError;

    fn try_from(row: RevocationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            grant_id: GrantId::from_uuid(row.grant_id),
            client_id: ClientId::parse(&row.client_id)
                .map_err(|_| StoreError::Corrupt("grant client id"))?,
            subject: row.subject,
            origin: grant_origin(row.session_id.as_deref(), row.device_id.as_deref())?,
            presented_kind: row
                .presented_kind
                .map(|kind| {
                    TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("presented kind"))
                })
                .transpose()?,
            presenter_kind: Recorded::from_stored(&row.presenter_kind),
            presenter_client_id: row.presenter_client_id,
            foreign_client: row.foreign_client,
            reason: Recorded::from_stored(&row.reason),
            request_id: row.request_id,
            revoked_at: row.revoked_at,
            source_url: row.source_url,
        })
    }
}

row_struct! {
    /// A row of [`ADMIN_ACTION_SELECT`].
    pub struct AdminActionRow {
        id: i64,
        action: String,
        target: Option<String>,
        request_id: String,
        peer: Option<String>,
        status: Option<i32>,
        started_at: DateTime<Utc>,
        finished_at: Option<DateTime<Utc>>,
    }
}

impl TryFrom<AdminActionRow> for AdminAction {
    type Error = StoreError;

    fn try_from(row: AdminActionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            action: row.action,
            target: row.target,
            request_id: row.request_id,
            peer: row.peer,
            status: row
                .status
                .map(|status| {
                    u16::try_from(status).map_err(|_| StoreError::Corrupt("action status"))
                })
                .transpose()?,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// Admin call records; filters are appended.
const ADMIN_ACTION_SELECT: &str = "SELECT id, action, target, request_id, peer, status, \
     started_at, finished_at FROM admin_actions WHERE TRUE";

#[async_trait]
impl<B: Backend> AuditStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    i32: Param<Db<B>>,
    i64: Param<Db<B>> + Column<Db<B>>,
    Uuid: Param<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> RevocationRow: FromRow<'r, DbRow<B>>,
    for<'r> AdminActionRow: FromRow<'r, DbRow<B>>,
{
    async fn revocation_records(
        &self,
        query: &RevocationQuery,
        page: Page,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        let mut sql = Statement::<Db<B>>::new(REVOCATION_SELECT);
        if let Some(grant_id) = &query.grant_id {
            sql.push(" AND r.grant_id = ").push_bind(grant_id.as_uuid());
        }
        if let Some(client_id) = &query.client_id {
            sql.push(" AND g.client_id = ")
                .push_bind(client_id.as_str());
        }
        if let Some(subject) = &query.subject {
            sql.push(" AND g.subject = ").push_bind(subject.as_str());
        }
        if let Some(since) = query.since {
            sql.push(" AND r.revoked_at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql.push(" AND r.revoked_at < ").push_bind(until);
        }
        if let Some(after) = page.after {
            sql.push(" AND r.id > ").push_bind(after);
        }
        sql.push(" ORDER BY r.id LIMIT ")
            .push_bind(i64::from(page.limit));
        let (sql, arguments) = sql.into_parts()?;
        let found: Vec<RevocationRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        found.into_iter().map(RevocationRecord::try_from).collect()
    }

    async fn begin_admin_action(&self, action: &NewAdminAction<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO admin_actions (action, target, request_id, peer, started_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(action.action)
        .bind(action.target)
        .bind(action.request_id)
        .bind(action.peer)
        .bind(action.started_at)
        .fetch_one(self.pool())
        .await?)
    }

    async fn finish_admin_action(
        &self,
        id: i64,
        status: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_actions SET status = $2, finished_at = $3 WHERE id = $1")
            .bind(id)
            .bind(i32::from(status))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn admin_actions(
        &self,
        query: &ActionQuery,
        page: Page,
    ) -> Result<Vec<AdminAction>, StoreError> {
        let mut sql = Statement::<Db<B>>::new(ADMIN_ACTION_SELECT);
        if let Some(since) = query.since {
            sql.push(" AND started_at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql.push(" AND started_at < ").push_bind(until);
        }
        if let Some(after) = page.after {
            sql.push(" AND id > ").push_bind(after);
        }
        sql.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(page.limit));
        let (sql, arguments) = sql.into_parts()?;
        let found: Vec<AdminActionRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        found.into_iter().map(AdminAction::try_from).collect()
    }
}
