//! The tokens of push streams on their way out (RFC 8935): claimed with a
//! lease, as webhook deliveries are (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so instances share the work and a crashed one's lease
//! expires), deleted once the receiver took them, retried with backoff,
//! kept as dead when refused or out of attempts, until the operator retries
//! them or retention purges them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, Type};

use super::StoreError;
use super::backend::{
    Backend, Column, Connection, Db, DbRow, Param, RowsAffected as _, row_struct,
};
use super::shared_signals::{STREAM_COLUMNS, StreamRow, words};
use super::statement::Statement;
use crate::domain::shared_signals::{
    ClaimedPush, PushStream, QueuedSet, ReceiverId, Stream, UndeliveredSet,
};
use crate::domain::webhook::AttemptOutcome;

/// Push streams' queues.
#[async_trait]
pub trait PushQueueStore: Send + Sync {
    /// Every enabled push stream, with its receiver's audience and origins.
    async fn push_streams(&self) -> Result<Vec<PushStream>, StoreError>;

    /// Leases up to `limit` of the stream's tokens that are due (never
    /// sent, or their retry time came) until `lease_until`, oldest first.
    async fn claim_pushes(
        &self,
        stream: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedPush>, StoreError>;

    /// Records one attempt: a delivered token leaves the queue, a failed
    /// one waits for its retry or, without one, is dead. A failure is
    /// recorded only while the token is still under `push`'s lease.
    async fn finish_push(
        &self,
        push: &ClaimedPush,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The receiver's tokens that failed at least once, dead or waiting
    /// for a retry, oldest first, at most `limit`.
    async fn undelivered(
        &self,
        receiver: &ReceiverId,
        limit: u32,
    ) -> Result<Vec<UndeliveredSet>, StoreError>;

    /// Makes the receiver's dead tokens due again now; answers how many.
    async fn retry_undelivered(
        &self,
        receiver: &ReceiverId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Sets the origins the receiver may push to; `false` when unknown.
    async fn set_push_origins(
        &self,
        receiver: &ReceiverId,
        origins: &[String],
    ) -> Result<bool, StoreError>;
}

/// A push stream's row and its receiver's audience.
pub struct PushStreamRow {
    stream: StreamRow,
    audience: String,
    push_origins: String,
}

impl<'r, R: sqlx::Row> FromRow<'r, R> for PushStreamRow
where
    StreamRow: FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            stream: StreamRow::from_row(row)?,
            audience: row.try_get("audience")?,
            push_origins: row.try_get("push_origins")?,
        })
    }
}

row_struct! {
    pub struct ClaimedRow {
        id: i64,
        stream_id: String,
        jti: String,
        token: String,
        attempts: i32,
    }
}

row_struct! {
    pub struct UndeliveredRow {
        jti: String,
        attempts: i32,
        last_status: Option<i32>,
        last_error: Option<String>,
        queued_at: DateTime<Utc>,
        next_attempt_at: Option<DateTime<Utc>>,
        dead_at: Option<DateTime<Utc>>,
    }
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[async_trait]
impl<B: Backend> PushQueueStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    Option<i32>: Param<Db<B>>,
    i64: Param<Db<B>> + Column<Db<B>>,
    DateTime<Utc>: Param<Db<B>> + Column<Db<B>>,
    Option<DateTime<Utc>>: Param<Db<B>>,
    for<'r> PushStreamRow: FromRow<'r, DbRow<B>>,
    for<'r> ClaimedRow: FromRow<'r, DbRow<B>>,
    for<'r> UndeliveredRow: FromRow<'r, DbRow<B>>,
{
    async fn push_streams(&self) -> Result<Vec<PushStream>, StoreError> {
        let rows: Vec<PushStreamRow> = sqlx::query_as(&format!(
            "SELECT {STREAM_COLUMNS}, r.audience, r.push_origins FROM ssf_streams s \
             JOIN ssf_receivers r ON r.id = s.receiver_id \
             WHERE s.status = 'enabled' AND s.push_endpoint IS NOT NULL ORDER BY s.id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PushStream {
                    stream: Stream::try_from(row.stream)?,
                    audience: row.audience,
                    push_origins: words(&row.push_origins),
                })
            })
            .collect()
    }

    async fn claim_pushes(
        &self,
        stream: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedPush>, StoreError> {
        let due = " AND dead_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ";
        let free = ") AND (leased_until IS NULL OR leased_until <= ";
        let mut claim = Statement::<Db<B>>::new("UPDATE ssf_poll_queue SET leased_until = ");
        claim
            .push_bind(lease_until)
            .push(" WHERE stream_id = ")
            .push_bind(stream)
            .push(due)
            .push_bind(now)
            .push(free)
            .push_bind(now)
            .push(") AND id IN (SELECT id FROM ssf_poll_queue WHERE stream_id = ")
            .push_bind(stream)
            .push(due)
            .push_bind(now)
            .push(free)
            .push_bind(now)
            .push(") ORDER BY id LIMIT ")
            .push_bind(i64::from(limit))
            .push(B::SKIP_LOCKED)
            .push(") RETURNING id, stream_id, jti, token, attempts");
        let (sql, arguments) = claim.into_parts()?;
        let rows: Vec<ClaimedRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_all(self.pool())
            .await?;
        let mut claimed: Vec<ClaimedPush> = rows
            .into_iter()
            .map(|row| ClaimedPush {
                id: row.id,
                stream: row.stream_id,
                set: QueuedSet {
                    jti: row.jti,
                    token: row.token,
                },
                attempts: count(row.attempts),
                leased_until: lease_until,
            })
            .collect();
        claimed.sort_by_key(|push| push.id);
        Ok(claimed)
    }

    async fn finish_push(
        &self,
        push: &ClaimedPush,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match outcome {
            AttemptOutcome::Delivered => {
                sqlx::query("DELETE FROM ssf_poll_queue WHERE id = $1")
                    .bind(push.id)
                    .execute(self.pool())
                    .await?;
            }
            AttemptOutcome::Failed {
                status,
                error,
                retry_at,
            } => {
                sqlx::query(
                    "UPDATE ssf_poll_queue SET attempts = attempts + 1, last_status = $2, \
                     last_error = $3, next_attempt_at = $4, dead_at = $5, leased_until = NULL \
                     WHERE id = $1 AND leased_until = $6",
                )
                .bind(push.id)
                .bind(status.map(i32::from))
                .bind(Some(error.as_str()))
                .bind(*retry_at)
                .bind(if retry_at.is_some() { None } else { Some(now) })
                .bind(push.leased_until)
                .execute(self.pool())
                .await?;
            }
        }
        Ok(())
    }

    async fn undelivered(
        &self,
        receiver: &ReceiverId,
        limit: u32,
    ) -> Result<Vec<UndeliveredSet>, StoreError> {
        let rows: Vec<UndeliveredRow> = sqlx::query_as(
            "SELECT q.jti, q.attempts, q.last_status, q.last_error, q.queued_at, \
             q.next_attempt_at, q.dead_at FROM ssf_poll_queue q \
             JOIN ssf_streams s ON s.id = q.stream_id \
             WHERE s.receiver_id = $1 AND q.attempts > 0 ORDER BY q.id LIMIT $2",
        )
        .bind(receiver.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| UndeliveredSet {
                jti: row.jti,
                attempts: count(row.attempts),
                last_status: row
                    .last_status
                    .and_then(|status| u16::try_from(status).ok()),
                last_error: row.last_error,
                queued_at: row.queued_at,
                next_attempt_at: row.next_attempt_at,
                dead_at: row.dead_at,
            })
            .collect())
    }

    async fn retry_undelivered(
        &self,
        receiver: &ReceiverId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let retried = sqlx::query(
            "UPDATE ssf_poll_queue SET dead_at = NULL, attempts = 0, next_attempt_at = $2 \
             WHERE dead_at IS NOT NULL AND stream_id IN \
             (SELECT id FROM ssf_streams WHERE receiver_id = $1)",
        )
        .bind(receiver.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(retried.rows_affected())
    }

    async fn set_push_origins(
        &self,
        receiver: &ReceiverId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE ssf_receivers SET push_origins = $2 WHERE id = $1")
            .bind(receiver.as_str())
            .bind(origins.join(" ").as_str())
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }
}
