//! Grants (authorisation sessions) and the tokens issued under them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::client::ClientId;
use super::session::{DeviceId, SessionId};
use super::token::{TokenHash, TokenKind};

/// A grant's identifier: a random UUID, public (it appears in CLI output and
/// audit records), never a secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantId(Uuid);

impl GrantId {
    #[must_use]
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    #[must_use]
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({})", self.0)
    }
}

/// A token to store with a new grant.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: TokenHash,
    pub kind: TokenKind,
    pub expires_at: DateTime<Utc>,
}

/// A grant to store, with its first tokens, in one transaction.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: GrantId,
    pub client_id: ClientId,
    pub subject: String,
    pub scope: Option<String>,
    /// Where the grant was given; see [`GrantOrigin`].
    pub origin: GrantOrigin,
    pub created_at: DateTime<Utc>,
    pub tokens: Vec<NewToken>,
}

/// The login session and device a grant was given in, each optional: what
/// a logout (by session) or a lost device (by device) revokes grants by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantOrigin {
    pub session_id: Option<SessionId>,
    pub device_id: Option<DeviceId>,
}

impl GrantOrigin {
    /// Neither is known: nothing to store.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.session_id.is_none() && self.device_id.is_none()
    }
}

/// What the store knows of one token, for `token inspect`.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    /// The session and device its grant was given in.
    pub origin: GrantOrigin,
    pub expires_at: DateTime<Utc>,
    /// When its grant was revoked: a token is dead exactly when its grant
    /// is, so no token row is written by a revocation.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// Live means neither revoked nor expired at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}
