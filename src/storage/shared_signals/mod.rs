//! The Shared Signals Framework transmitter's receivers, their streams, and
//! the signed tokens queued for each stream's receiver to poll.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};

use super::StoreError;
use super::backend::{Backend, Column, Connection, Db, DbRow, Param, RowsAffected as _};
use super::statement::Statement;
use crate::domain::event::EventPosition;
use crate::domain::shared_signals::{QueuedSet, Receiver, ReceiverId, Stream};
use crate::domain::token::TokenHash;

mod rows;

use self::rows::{QueuedRow, RECEIVER_COLUMNS, ReceiverRow, push_authorization, push_endpoint};
pub(super) use self::rows::{STREAM_COLUMNS, StreamRow, words};

/// Receivers, streams (one per receiver) and the poll queue. A stream's
/// cursor says how far into the outbox its events are queued; it only moves
/// with the tokens queued for it, in one transaction.
#[async_trait]
pub trait SharedSignalsStore: Send + Sync {
    /// Registers a receiver; [`StoreError::Conflict`] when the id is taken
    /// (or, never in practice, the credential's hash).
    async fn add_receiver(
        &self,
        receiver: &Receiver,
        credential: &TokenHash,
    ) -> Result<(), StoreError>;

    /// Every receiver, by id.
    async fn receivers(&self) -> Result<Vec<Receiver>, StoreError>;

    /// Removes a receiver, its stream and its queue; `false` when unknown.
    async fn remove_receiver(&self, id: &ReceiverId) -> Result<bool, StoreError>;

    /// The receiver whose credential has this hash: one indexed read,
    /// whether the credential is unknown or not.
    async fn receiver_by_credential(
        &self,
        credential: &TokenHash,
    ) -> Result<Option<Receiver>, StoreError>;

    /// Creates a stream; [`StoreError::Conflict`] when its receiver has one.
    async fn create_stream(&self, stream: &Stream) -> Result<(), StoreError>;

    /// The receiver's stream, if it has one.
    async fn stream_of(&self, receiver: &ReceiverId) -> Result<Option<Stream>, StoreError>;

    /// Writes a stream's configuration and status (never its cursor, which
    /// queuing moves, unless `reset_cursor` says where it starts again),
    /// dropping its queued tokens when `drop_queued`; `false` when the
    /// receiver has no such stream.
    async fn update_stream(
        &self,
        stream: &Stream,
        reset_cursor: Option<EventPosition>,
        drop_queued: bool,
    ) -> Result<bool, StoreError>;

    /// Deletes the receiver's stream and its queue; `false` when it has no
    /// such stream.
    async fn delete_stream(&self, receiver: &ReceiverId, id: &str) -> Result<bool, StoreError>;

    /// Queues `sets` for an enabled stream whose cursor is still `from` and
    /// moves it to `to`, in one transaction; `false` (and nothing queued)
    /// when another request moved the cursor first or the stream is no
    /// longer enabled.
    async fn queue_sets(
        &self,
        stream: &str,
        from: EventPosition,
        to: EventPosition,
        sets: &[QueuedSet],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Queues one token outside the outbox (a verification event).
    async fn queue_set(
        &self,
        stream: &str,
        set: &QueuedSet,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// How many tokens are queued for the stream, dead pushed ones included
    /// (so a receiver refusing everything stops the stream's queuing
    /// instead of filling the table).
    async fn queued_count(&self, stream: &str) -> Result<u64, StoreError>;

    /// Removes the acknowledged tokens, then reads up to `limit` queued ones
    /// oldest first; answers how many were removed, the tokens, and whether
    /// more are queued.
    async fn take_sets(
        &self,
        stream: &str,
        acknowledged: &[String],
        limit: u32,
    ) -> Result<TakenSets, StoreError>;
}

/// What [`SharedSignalsStore::take_sets`] found.
#[derive(Debug, Default)]
pub struct TakenSets {
    pub acknowledged: u64,
    pub sets: Vec<QueuedSet>,
    pub more: bool,
}

#[async_trait]
impl<B: Backend> SharedSignalsStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> &'q [u8]: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    i64: Param<Db<B>> + Column<Db<B>>,
    DateTime<Utc>: Param<Db<B>> + Column<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> ReceiverRow: FromRow<'r, DbRow<B>>,
    for<'r> StreamRow: FromRow<'r, DbRow<B>>,
    for<'r> QueuedRow: FromRow<'r, DbRow<B>>,
{
    async fn add_receiver(
        &self,
        receiver: &Receiver,
        credential: &TokenHash,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ssf_receivers (id, audience, push_origins, credential_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(receiver.id.as_str())
        .bind(receiver.audience.as_str())
        .bind(receiver.push_origins.join(" ").as_str())
        .bind(&credential.as_bytes()[..])
        .bind(receiver.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn receivers(&self) -> Result<Vec<Receiver>, StoreError> {
        let rows: Vec<ReceiverRow> = sqlx::query_as(&format!(
            "SELECT {RECEIVER_COLUMNS} FROM ssf_receivers ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Receiver::try_from).collect()
    }

    async fn remove_receiver(&self, id: &ReceiverId) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM ssf_receivers WHERE id = $1")
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected() == 1)
    }

    async fn receiver_by_credential(
        &self,
        credential: &TokenHash,
    ) -> Result<Option<Receiver>, StoreError> {
        let row: Option<ReceiverRow> = sqlx::query_as(&format!(
            "SELECT {RECEIVER_COLUMNS} FROM ssf_receivers WHERE credential_hash = $1"
        ))
        .bind(&credential.as_bytes()[..])
        .fetch_optional(self.pool())
        .await?;
        row.map(Receiver::try_from).transpose()
    }

    async fn create_stream(&self, stream: &Stream) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ssf_streams (id, receiver_id, events_requested, events_delivered, \
             description, status, status_reason, cursor_txid, cursor_event_id, created_at, \
             updated_at, push_endpoint, push_authorization) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(stream.id.as_str())
        .bind(stream.receiver.as_str())
        .bind(stream.events_requested.join(" ").as_str())
        .bind(stream.events_delivered.join(" ").as_str())
        .bind(stream.description.as_deref())
        .bind(stream.status.as_str())
        .bind(stream.status_reason.as_deref())
        .bind(stream.cursor.txid)
        .bind(stream.cursor.id)
        .bind(stream.created_at)
        .bind(stream.updated_at)
        .bind(push_endpoint(stream))
        .bind(push_authorization(stream))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn stream_of(&self, receiver: &ReceiverId) -> Result<Option<Stream>, StoreError> {
        let row: Option<StreamRow> = sqlx::query_as(&format!(
            "SELECT {STREAM_COLUMNS} FROM ssf_streams s WHERE s.receiver_id = $1"
        ))
        .bind(receiver.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(Stream::try_from).transpose()
    }

    async fn update_stream(
        &self,
        stream: &Stream,
        reset_cursor: Option<EventPosition>,
        drop_queued: bool,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let requested = stream.events_requested.join(" ");
        let delivered = stream.events_delivered.join(" ");
        let mut update = Statement::<Db<B>>::new("UPDATE ssf_streams SET events_requested = ");
        update
            .push_bind(requested.as_str())
            .push(", events_delivered = ")
            .push_bind(delivered.as_str())
            .push(", description = ")
            .push_bind(stream.description.as_deref())
            .push(", status = ")
            .push_bind(stream.status.as_str())
            .push(", status_reason = ")
            .push_bind(stream.status_reason.as_deref())
            .push(", push_endpoint = ")
            .push_bind(push_endpoint(stream))
            .push(", push_authorization = ")
            .push_bind(push_authorization(stream))
            .push(", updated_at = ")
            .push_bind(stream.updated_at);
        if let Some(cursor) = reset_cursor {
            update
                .push(", cursor_txid = ")
                .push_bind(cursor.txid)
                .push(", cursor_event_id = ")
                .push_bind(cursor.id);
        }
        update
            .push(" WHERE id = ")
            .push_bind(stream.id.as_str())
            .push(" AND receiver_id = ")
            .push_bind(stream.receiver.as_str());
        let (sql, arguments) = update.into_parts()?;
        let updated = sqlx::query_with(&sql, arguments)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 1 && drop_queued {
            sqlx::query("DELETE FROM ssf_poll_queue WHERE stream_id = $1")
                .bind(stream.id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(updated == 1)
    }

    async fn delete_stream(&self, receiver: &ReceiverId, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM ssf_streams WHERE id = $1 AND receiver_id = $2")
            .bind(id)
            .bind(receiver.as_str())
            .execute(self.pool())
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn queue_sets(
        &self,
        stream: &str,
        from: EventPosition,
        to: EventPosition,
        sets: &[QueuedSet],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE ssf_streams SET cursor_txid = $4, cursor_event_id = $5 \
             WHERE id = $1 AND cursor_txid = $2 AND cursor_event_id = $3 AND status = 'enabled'",
        )
        .bind(stream)
        .bind(from.txid)
        .bind(from.id)
        .bind(to.txid)
        .bind(to.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for set in sets {
            insert_set::<B>(&mut tx, stream, set, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn queue_set(
        &self,
        stream: &str,
        set: &QueuedSet,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool().acquire().await?;
        insert_set::<B>(&mut connection, stream, set, now).await
    }

    async fn queued_count(&self, stream: &str) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM ssf_poll_queue WHERE stream_id = $1")
                .bind(stream)
                .fetch_one(self.pool())
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn take_sets(
        &self,
        stream: &str,
        acknowledged: &[String],
        limit: u32,
    ) -> Result<TakenSets, StoreError> {
        let mut taken = TakenSets::default();
        if !acknowledged.is_empty() {
            let mut delete =
                Statement::<Db<B>>::new("DELETE FROM ssf_poll_queue WHERE stream_id = ");
            delete
                .push_bind(stream)
                .push(" AND jti IN (")
                .push_list(acknowledged.iter().map(String::as_str))
                .push(")");
            let (sql, arguments) = delete.into_parts()?;
            taken.acknowledged = sqlx::query_with(&sql, arguments)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        if limit == 0 {
            return Ok(taken);
        }
        let rows: Vec<QueuedRow> = sqlx::query_as(
            "SELECT jti, token FROM ssf_poll_queue WHERE stream_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(stream)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await?;
        taken.more = rows.len() > limit as usize;
        taken.sets = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| QueuedSet {
                jti: row.jti,
                token: row.token,
            })
            .collect();
        Ok(taken)
    }
}

/// Queues one token; one already queued under its `jti` stays as it is.
async fn insert_set<B: Backend>(
    connection: &mut Connection<B>,
    stream: &str,
    set: &QueuedSet,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
{
    sqlx::query(
        "INSERT INTO ssf_poll_queue (stream_id, jti, token, queued_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stream_id, jti) DO NOTHING",
    )
    .bind(stream)
    .bind(set.jti.as_str())
    .bind(set.token.as_str())
    .bind(now)
    .execute(connection)
    .await?;
    Ok(())
}
