//! Why a logout token was refused: one variant a rule, so a log line or a
//! metric can say which. None carries any part of the token: the HTTP
//! answer to every one of them is the same `400`.

use std::fmt;

/// A claim a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Iss,
    Aud,
    Iat,
    Exp,
    Jti,
    Sub,
    Sid,
    Events,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Iss => "iss",
            Self::Aud => "aud",
            Self::Iat => "iat",
            Self::Exp => "exp",
            Self::Jti => "jti",
            Self::Sub => "sub",
            Self::Sid => "sid",
            Self::Events => "events",
        })
    }
}

/// The rule a logout token broke, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("the logout token is too large")]
    TooLarge,
    #[error("the logout token is encrypted; only signed tokens are accepted")]
    Encrypted,
    #[error("the logout token is not a compact JWS")]
    Malformed,
    #[error("the logout token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    #[error("the logout token's header has critical extensions")]
    CriticalHeader,
    #[error("the issuer's keys are not available")]
    KeysUnavailable,
    #[error("no key of the issuer has the logout token's key id")]
    UnknownKeyId,
    #[error("the logout token names no key and the issuer has several for its algorithm")]
    MissingKeyId,
    #[error("no key the logout token can name verifies its algorithm")]
    KeyAlgorithmMismatch,
    #[error("several keys of the issuer have the logout token's key id")]
    AmbiguousKey,
    #[error("the logout token's signature does not verify")]
    BadSignature,
    #[error("the logout token has no {0} claim")]
    MissingClaim(Claim),
    #[error("the logout token's {0} claim is not well-formed")]
    MalformedClaim(Claim),
    #[error("the logout token is from another issuer")]
    WrongIssuer,
    #[error("the logout token is not for this audience")]
    WrongAudience,
    #[error("the logout token is also for an audience not trusted")]
    UntrustedAudience,
    #[error("the logout token is issued in the future")]
    IssuedInFuture,
    #[error("the logout token was issued too long ago")]
    TooOld,
    #[error("the logout token has expired")]
    Expired,
    #[error("the logout token names neither a subject nor a session")]
    NoSubjectOrSession,
    #[error("the logout token's events claim has no back-channel logout event")]
    NotALogoutEvent,
    #[error("the logout token has a nonce claim")]
    NoncePresent,
}
