//! OAuth clients (RFC 6749 §2).

use std::fmt;

use chrono::{DateTime, Utc};

use super::secret::SecretHash;

/// A client identifier: 1–255 characters of RFC 6749 Appendix A `VSCHAR`
/// (printable ASCII, `%x20-7E`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

/// Why a string is not a client identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    #[error("a client id must not be empty")]
    Empty,
    #[error("a client id is at most 255 characters")]
    TooLong,
    #[error("a client id may only contain printable ASCII characters")]
    InvalidCharacter,
}

impl ClientId {
    /// The longest identifier accepted (bytes, which equal characters for ASCII).
    pub const MAX_LEN: usize = 255;

    /// Parses a client identifier.
    pub fn parse(raw: &str) -> Result<Self, ClientIdError> {
        if raw.is_empty() {
            return Err(ClientIdError::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ClientIdError::TooLong);
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ClientIdError::InvalidCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:?})", self.0)
    }
}

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Holds a secret (`client_secret_basic` / `client_secret_post`).
    Confidential,
    /// Cannot keep a secret; identifies itself by `client_id` alone.
    Public,
}

impl ClientKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    /// Parses the stored form written by [`ClientKind::as_str`].
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// A registered client as the store knows it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub kind: ClientKind,
    /// Present exactly when `kind` is `Confidential`.
    pub secret_hash: Option<SecretHash>,
    pub name: Option<String>,
    pub allowed_origins: Vec<String>,
    pub disabled: bool,
    /// Bumped by the store whenever the secret or the enabled state changes:
    /// a presenter authenticated at an older revision is no longer trusted.
    pub credentials_revision: i64,
    /// The secret replaced by the last rotation, while its grace period lasts.
    pub previous_secret: Option<PreviousSecret>,
    /// May introspect tokens (RFC 7662). Only a confidential client can be
    /// one: introspection answers who a token belongs to, so its caller
    /// must prove who it is.
    pub resource_server: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rotated-out secret that keeps working until `expires_at`, so a fleet of
/// client instances can pick the new secret up without an outage.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    pub hash: SecretHash,
    pub expires_at: DateTime<Utc>,
}

impl Client {
    /// The previous secret's hash, if its grace period has not ended at `now`.
    #[must_use]
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&SecretHash> {
        self.previous_secret
            .as_ref()
            .filter(|previous| previous.expires_at > now)
            .map(|previous| &previous.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printable_ascii_id_is_accepted() {
        assert_eq!(
            ClientId::parse("web app:1").map(|id| id.0),
            Ok("web app:1".to_owned())
        );
    }

    #[test]
    fn an_empty_id_is_rejected() {
        assert_eq!(ClientId::parse(""), Err(ClientIdError::Empty));
    }

    #[test]
    fn an_id_of_256_characters_is_rejected_and_255_accepted() {
        assert_eq!(
            ClientId::parse(&"a".repeat(256)),
            Err(ClientIdError::TooLong)
        );
        assert!(ClientId::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn control_and_non_ascii_characters_are_rejected() {
        for raw in ["a\nb", "a\u{0}b", "caf\u{e9}", "tab\there", "del\u{7f}"] {
            assert_eq!(
                ClientId::parse(raw),
                Err(ClientIdError::InvalidCharacter),
                "{raw:?}"
            );
        }
    }
}
