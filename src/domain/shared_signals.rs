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
    /// The origins (from [`super::outbound::push_origin`]) its stream may
    /// push to; none: it can only poll. The operator sets them, never the
    /// receiver, so a receiver cannot make Rescind call anywhere else.
    pub push_origins: Vec<String>,
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
    pub delivery: Delivery,
    /// How far into the outbox its events are queued.
    pub cursor: EventPosition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The delivery method URI of poll delivery (RFC 8936).
pub const POLL_METHOD: &str = "urn:ietf:rfc:8936";
/// The delivery method URI of push delivery (RFC 8935).
pub const PUSH_METHOD: &str = "urn:ietf:rfc:8935";

/// How a stream's tokens reach its receiver.
#[derive(Debug, Clone, Default)]
pub enum Delivery {
    /// The receiver polls and acknowledges (RFC 8936).
    #[default]
    Poll,
    /// Rescind posts each token (RFC 8935).
    Push(PushTarget),
}

impl Delivery {
    /// The delivery path, as metrics name it: `poll` or `push`.
    #[must_use]
    pub const fn path(&self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::Push(_) => "push",
        }
    }

    /// The delivery method URI.
    #[must_use]
    pub const fn method(&self) -> &'static str {
        match self {
            Self::Poll => POLL_METHOD,
            Self::Push(_) => PUSH_METHOD,
        }
    }
}

/// Equal when the method and endpoint are: the authorization header is a
/// secret, never compared.
impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Poll, Self::Poll) => true,
            (Self::Push(a), Self::Push(b)) => a.endpoint == b.endpoint,
            _ => false,
        }
    }
}

impl Eq for Delivery {}

/// Where a push stream's tokens go.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// Within one of its receiver's push origins.
    pub endpoint: url::Url,
    /// The `Authorization` header value sent with every token, as the
    /// receiver gave it; stored, never shown again. `Debug` is redacted.
    pub authorization: Option<secrecy::SecretString>,
}

/// An enabled push stream, with what sending to it needs of its receiver.
#[derive(Debug, Clone)]
pub struct PushStream {
    pub stream: Stream,
    pub audience: String,
    pub push_origins: Vec<String>,
}

/// A token of a push stream that has not reached its receiver: still
/// being retried, or dead (refused, or its attempts ran out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeliveredSet {
    pub jti: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
}

/// A queued token of a push stream, claimed by this instance to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPush {
    pub id: i64,
    pub stream: String,
    pub set: QueuedSet,
    pub attempts: u32,
    /// The lease it was claimed under: a failure recorded after the lease
    /// ran out (another instance may have claimed it since) is dropped.
    pub leased_until: DateTime<Utc>,
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
