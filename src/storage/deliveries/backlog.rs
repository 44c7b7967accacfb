//! Each webhook endpoint's backlog, read when `/metrics` is scraped: the
//! pending deliveries, and the events not yet queued.

use chrono::{DateTime, Utc};

use crate::domain::webhook::EndpointBacklog;
use crate::storage::backend::row_struct;

/// Pending deliveries by endpoint, at most `$1` of them read (through the
/// partial index of pending deliveries), with the revocation time of each
/// endpoint's oldest pending event.
pub const PENDING: &str = "SELECT p.endpoint, p.pending, e.revoked_at AS oldest_pending FROM \
     (SELECT endpoint, COUNT(*) AS pending, MIN(event_id) AS oldest FROM \
      (SELECT endpoint, event_id FROM webhook_deliveries WHERE state = 'pending' \
       ORDER BY next_attempt_at LIMIT $1) AS scanned \
      GROUP BY endpoint) AS p \
     LEFT JOIN revocation_events e ON e.id = p.oldest";

/// Each endpoint's first event not yet queued: one indexed read per cursor.
pub const CURSORS: &str = "SELECT c.endpoint, \
     (SELECT e.revoked_at FROM revocation_events e \
      WHERE (e.txid, e.id) > (c.txid, c.event_id) ORDER BY e.txid, e.id LIMIT 1) \
     AS next_unqueued FROM webhook_cursors c";

row_struct! {
    /// A row of [`PENDING`].
    pub struct PendingRow {
        endpoint: String,
        pending: i64,
        oldest_pending: Option<DateTime<Utc>>,
    }
}

row_struct! {
    /// A row of [`CURSORS`].
    pub struct CursorBacklogRow {
        endpoint: String,
        next_unqueued: Option<DateTime<Utc>>,
    }
}

/// Merges [`PENDING`]'s and [`CURSORS`]'s rows by endpoint,
/// leaving out endpoints with nothing waiting.
#[must_use]
pub fn merge(pending: Vec<PendingRow>, cursors: Vec<CursorBacklogRow>) -> Vec<EndpointBacklog> {
    let mut merged: std::collections::BTreeMap<String, EndpointBacklog> = pending
        .into_iter()
        .map(|row| {
            let backlog = EndpointBacklog {
                endpoint: row.endpoint.clone(),
                pending: u64::try_from(row.pending).unwrap_or(0),
                oldest_pending: row.oldest_pending,
                next_unqueued: None,
            };
            (row.endpoint, backlog)
        })
        .collect();
    for CursorBacklogRow {
        endpoint,
        next_unqueued,
    } in cursors
    {
        let Some(next) = next_unqueued else { continue };
        merged
            .entry(endpoint.clone())
            .or_insert_with(|| EndpointBacklog {
                endpoint,
                pending: 0,
                oldest_pending: None,
                next_unqueued: None,
            })
            .next_unqueued = Some(next);
    }
    merged.into_values().collect()
}
