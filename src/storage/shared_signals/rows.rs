//! How receivers and streams are stored: their columns, the rows read back
//! and their conversion to the domain's types, and the push target as
//! written.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::event::EventPosition;
use crate::domain::shared_signals::{
    Delivery, PushTarget, Receiver, ReceiverId, Stream, StreamStatus,
};
use crate::storage::StoreError;
use crate::storage::backend::row_struct;

/// A stream's columns, for [`StreamRow`] (`s.` is `ssf_streams`).
pub(in crate::storage) const STREAM_COLUMNS: &str = "s.id, s.receiver_id, s.events_requested, \
     s.events_delivered, s.description, s.status, s.status_reason, s.push_endpoint, \
     s.push_authorization, s.cursor_txid, s.cursor_event_id, s.created_at, s.updated_at";

/// A receiver's columns, for [`ReceiverRow`].
pub(super) const RECEIVER_COLUMNS: &str = "id, audience, push_origins, created_at";

row_struct! {
    pub struct ReceiverRow {
        id: String,
        audience: String,
        push_origins: String,
        created_at: DateTime<Utc>,
    }
}

impl TryFrom<ReceiverRow> for Receiver {
    type Error = StoreError;

    fn try_from(row: ReceiverRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ReceiverId::parse(&row.id).ok_or(StoreError::Corrupt("receiver id"))?,
            audience: row.audience,
            push_origins: words(&row.push_origins),
            created_at: row.created_at,
        })
    }
}

row_struct! {
    pub struct StreamRow {
        id: String,
        receiver_id: String,
        events_requested: String,
        events_delivered: String,
        description: Option<String>,
        status: String,
        status_reason: Option<String>,
        push_endpoint: Option<String>,
        push_authorization: Option<String>,
        cursor_txid: i64,
        cursor_event_id: i64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

/// Event types and origins are stored space-separated (they hold no spaces).
pub(in crate::storage) fn words(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

impl TryFrom<StreamRow> for Stream {
    type Error = StoreError;

    fn try_from(row: StreamRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            receiver: ReceiverId::parse(&row.receiver_id)
                .ok_or(StoreError::Corrupt("stream receiver"))?,
            events_requested: words(&row.events_requested),
            events_delivered: words(&row.events_delivered),
            description: row.description,
            status: StreamStatus::parse(&row.status).ok_or(StoreError::Corrupt("stream status"))?,
            status_reason: row.status_reason,
            delivery: match row.push_endpoint {
                None => Delivery::Poll,
                Some(endpoint) => Delivery::Push(PushTarget {
                    endpoint: url::Url::parse(&endpoint)
                        .map_err(|_| StoreError::Corrupt("stream push endpoint"))?,
                    authorization: row.push_authorization.map(SecretString::from),
                }),
            },
            cursor: EventPosition {
                txid: row.cursor_txid,
                id: row.cursor_event_id,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

row_struct! {
    pub struct QueuedRow {
        pub(super) jti: String,
        pub(super) token: String,
    }
}

/// A push stream's endpoint, as stored.
pub(super) fn push_endpoint(stream: &Stream) -> Option<&str> {
    match &stream.delivery {
        Delivery::Push(target) => Some(target.endpoint.as_str()),
        Delivery::Poll => None,
    }
}

/// A push stream's authorization header, as stored.
pub(super) fn push_authorization(stream: &Stream) -> Option<&str> {
    match &stream.delivery {
        Delivery::Push(target) => target
            .authorization
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Delivery::Poll => None,
    }
}
