//! The Shared Signals Framework transmitter's parties: the receivers an
//! operator registers, each receiver's event stream, and the signed tokens
//! queued for it.

use std::fmt;

use chrono::{DateTime, Utc};

use super::event::EventPosition;
use super::secret::ClientSecret;
use super::security_event::{CREDENTIAL_COMPROMISE, SESSION_REVOKED};
use super::token::TokenHash;

/// The event types Rescind emits, which a stream may ask for. The stream
/// verification event is not among them: it is sent whatever was asked.
pub const EMITTED: [&str; 2] = [SESSION_REVOKED, CREDENTIAL_COMPROMISE];

/// The longest receiver id.
pub const MAX_RECEIVER_ID: usize = 64;

/// A receiver, by the id its operator gave it: 1 to 64 of `a-z`, `A-Z`,
/// `0-9`, `.`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverId(String);

impl ReceiverId {
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        ((1..=MAX_RECEIVER_ID).contains(&raw.len()) && raw.chars().all(allowed))
            .then(|| Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered receiver. Its credential is stored as a hash, never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub id: ReceiverId,
    /// The `aud` claim of every token sent to it.
    pub audience: String,
    pub created_at: DateTime<Utc>,
}

/// A receiver's bearer credential in clear: generated once, shown once,
/// stored as its SHA-256 (high entropy, so a fast hash is enough, and one
/// indexed lookup finds it). `Debug` is redacted.
#[derive(Clone)]
pub struct ReceiverCredential(ClientSecret);

impl ReceiverCredential {
    /// 256 random bits, base64url.
    #[must_use]
    pub fn generate() -> Self {
        Self(ClientSecret::generate())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose())
    }
}

impl fmt::Debug for ReceiverCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiverCredential(..)")
    }
}

/// A stream's status (SSF: enabled, paused, disabled). A paused stream
/// holds its events until enabled; a disabled one drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Enabled,
    Paused,
    Disabled,
}

impl StreamStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(Self::Enabled),
            "paused" => Some(Self::Paused),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A receiver's event stream (one per receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub id: String,
    pub receiver: ReceiverId,
    /// What the receiver asked for, as it asked.
    pub events_requested: Vec<String>,
    /// What it gets: the requested types Rescind emits.
    pub events_delivered: Vec<String>,
    pub description: Option<String>,
    pub status: StreamStatus,
    pub status_reason: Option<String>,
    /// How far into the outbox its events are queued.
    pub cursor: EventPosition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The requested types Rescind emits, in [`EMITTED`] order.
#[must_use]
pub fn delivered(requested: &[String]) -> Vec<String> {
    EMITTED
        .iter()
        .filter(|emitted| requested.iter().any(|asked| asked == *emitted))
        .map(|emitted| (*emitted).to_owned())
        .collect()
}

/// A signed token waiting for its receiver to poll and acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSet {
    pub jti: String,
    /// The compact JWS.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_is_the_intersection_with_what_rescind_emits() {
        let asked = vec![
            "urn:example:other".to_owned(),
            CREDENTIAL_COMPROMISE.to_owned(),
            SESSION_REVOKED.to_owned(),
        ];
        assert_eq!(delivered(&asked), [SESSION_REVOKED, CREDENTIAL_COMPROMISE]);
        assert!(delivered(&["urn:example:other".to_owned()]).is_empty());
    }

    #[test]
    fn receiver_ids_are_short_and_plain() {
        assert!(ReceiverId::parse("caep-rp.1_a").is_some());
        for bad in ["", "a b", "ä", &"x".repeat(65), "a/b"] {
            assert!(ReceiverId::parse(bad).is_none(), "{bad}");
        }
    }
}
