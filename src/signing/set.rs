//! Security Event Tokens (RFC 8417) as the Shared Signals Framework 1.0
//! profiles them: explicitly typed `secevent+jwt`, signed (never `none`),
//! the key named by `kid`; claims `iss`, `aud`, `iat`, `jti`, the subject in
//! `sub_id`, exactly one event under `events`, and `txn` when the cause is
//! known. No `sub` and no `exp`, which SSF forbids so that a SET can never
//! pass for an ID token or an access token.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{SigningKey, SigningKeys};
use crate::domain::security_event::{SecurityEvent, Subject};

/// The `typ` header of every SET.
pub const SET_TYPE: &str = "secevent+jwt";

/// One token to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEventToken {
    /// The transmitter's issuer identifier.
    pub issuer: String,
    /// The receiver (one value, or several that are the same receiver).
    pub audience: Vec<String>,
    pub issued_at: DateTime<Utc>,
    /// Unique per token: receivers drop a token they have seen.
    pub jti: String,
    /// The cause the event shares with other tokens (say, a grant's id).
    pub txn: Option<String>,
    pub subject: Subject,
    pub event: SecurityEvent,
}

impl SecurityEventToken {
    /// A token for `event` about `subject`, with a fresh random `jti`.
    #[must_use]
    pub fn new(
        issuer: &str,
        audience: &str,
        subject: Subject,
        event: SecurityEvent,
        issued_at: DateTime<Utc>,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: vec![audience.to_owned()],
            issued_at,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            txn: None,
            subject,
            event,
        }
    }

    #[must_use]
    pub fn with_txn(mut self, txn: &str) -> Self {
        self.txn = Some(txn.to_owned());
        self
    }
}

/// Why a token was not signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("a security event token needs an audience")]
    NoAudience,
    #[error("this event cannot be about this subject")]
    SubjectNotAllowed,
    #[error("cannot sign the security event token: {0}")]
    Signing(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: Audience<'a>,
    iat: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    txn: Option<&'a str>,
    sub_id: &'a Subject,
    events: &'a SecurityEvent,
}

/// `aud`: a string for one receiver, an array for several.
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl SigningKey {
    /// The compact JWS of `token`, signed with this key.
    pub fn sign_set(&self, token: &SecurityEventToken) -> Result<String, SignError> {
        let aud = match token.audience.as_slice() {
            [] => return Err(SignError::NoAudience),
            [one] => Audience::One(one),
            many => Audience::Many(many),
        };
        if !token.event.accepts(&token.subject) {
            return Err(SignError::SubjectNotAllowed);
        }
        let claims = Claims {
            iss: &token.issuer,
            aud,
            iat: token.issued_at.timestamp(),
            jti: &token.jti,
            txn: token.txn.as_deref(),
            sub_id: &token.subject,
            events: &token.event,
        };
        let mut header = jsonwebtoken::Header::new(self.algorithm().jwt());
        header.typ = Some(SET_TYPE.to_owned());
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, self.encoding())
            .map_err(|error| SignError::Signing(error.to_string()))
    }
}

impl SigningKeys {
    /// `token` signed with the current key.
    pub fn sign(&self, token: &SecurityEventToken) -> Result<String, SignError> {
        self.current().sign_set(token)
    }
}
