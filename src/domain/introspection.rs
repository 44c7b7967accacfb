//! What token introspection (RFC 7662) learns about a presented token.

use chrono::{DateTime, Utc};

use super::client::ClientId;
use super::grant::GrantId;
use super::token::TokenKind;

/// A stored token with its grant and client, as introspection sees it.
#[derive(Debug, Clone)]
pub struct TokenState {
    pub kind: TokenKind,
    /// The grant it belongs to: a revocation event names the grant, which
    /// is how a cached answer learns it is stale.
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub subject: String,
    pub scope: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The token, or its grant, is revoked.
    pub revoked: bool,
    /// The grant's client is disabled or deleted.
    pub client_gone: bool,
}

impl TokenState {
    /// RFC 7662 `active`: not revoked (token or grant), not expired at `now`,
    /// and its client still enabled.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && !self.client_gone && self.expires_at > now
    }
}

/// What the store saw: whether the presenting client is still the one it
/// authenticated as (see `Presenter`), and the token, if any.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub presenter_current: bool,
    pub token: Option<TokenState>,
}
