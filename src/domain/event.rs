//! Revocation events: what the outbox holds, and where its readers stand.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::grant::{GrantId, GrantOrigin};
use super::presenter::PresenterKind;
use super::recorded::Recorded;
use super::revocation::RevocationReason;

/// A reader's place in the outbox. Events are read in `(txid, id)` order:
/// on PostgreSQL `txid` is the writing transaction's id, which makes the
/// order one in which no event can appear behind a reader (see migration 7);
/// on SQLite it is always 0 and ids alone are in commit order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    pub txid: i64,
    pub id: i64,
}

/// Written `txid.id`: the SSE stream's event id, which a reconnecting
/// subscriber sends back as `Last-Event-ID`.
impl fmt::Display for EventPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.txid, self.id)
    }
}

/// A position that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event position is two non-negative integers joined by a dot")]
pub struct BadPosition;

impl FromStr for EventPosition {
    type Err = BadPosition;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (txid, id) = text.split_once('.').ok_or(BadPosition)?;
        // At most 18 digits a part: every such number fits an `i64`, so the
        // admin API's document can state the form as a pattern and any
        // value it allows parses (positions never come near 10^18).
        let number = |part: &str| {
            if part.is_empty() || part.len() > 18 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadPosition);
            }
            part.parse::<i64>().map_err(|_| BadPosition)
        };
        Ok(Self {
            txid: number(txid)?,
            id: number(id)?,
        })
    }
}

/// One committed grant revocation, as the outbox recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEvent {
    /// Unique and stable: receivers deduplicate on it (at-least-once delivery).
    pub id: i64,
    pub position: EventPosition,
    pub grant_id: GrantId,
    pub client_id: String,
    pub subject: String,
    /// The session and device the grant was given in.
    pub origin: GrantOrigin,
    /// `access`, `refresh`: the kinds of the tokens the grant held.
    pub token_kinds: Vec<String>,
    pub presenter_kind: Recorded<PresenterKind>,
    pub reason: Recorded<RevocationReason>,
    pub revoked_at: DateTime<Utc>,
}

/// One read of the outbox.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// In `(txid, id)` order.
    pub events: Vec<RevocationEvent>,
    /// How many leading `events` are settled: no earlier event can still
    /// appear, so a reader may move its position past them. The rest are
    /// committed and real, but a reader must see them again next time.
    pub settled: usize,
    /// Moves whenever any client's credentials change (rotation, disabling,
    /// deletion): answers cached for a client may be stale.
    pub clients_mark: i64,
}

impl EventPage {
    /// The position after the settled events, or `from` when none is.
    #[must_use]
    pub fn settled_position(&self, from: EventPosition) -> EventPosition {
        self.events[..self.settled]
            .last()
            .map_or(from, |event| event.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order_by_transaction_first() {
        let position = EventPosition { txid: 7, id: 42 };
        assert_eq!(position.to_string().parse::<EventPosition>(), Ok(position));
        assert_eq!(
            "999999999999999999.000000000000000001".parse::<EventPosition>(),
            Ok(EventPosition {
                txid: 999_999_999_999_999_999,
                id: 1
            })
        );
        assert!(EventPosition { txid: 8, id: 1 } > position);
        for bad in [
            "",
            "7",
            "7.",
            ".4",
            "-1.2",
            "1.-2",
            "1.2.3",
            "a.b",
            "99999999999999999999.1",
            "1234567890123456789.1",
            "1.1234567890123456789",
        ] {
            assert_eq!(bad.parse::<EventPosition>(), Err(BadPosition), "{bad}");
        }
    }
}
