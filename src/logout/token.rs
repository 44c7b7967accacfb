//! Validating a logout token exactly as OpenID Connect Back-Channel Logout
//! 1.0 (final, errata set 1), section 2.6, asks, in its order:
//!
//! 1. An encrypted token is refused: Rescind registers for signed ones only.
//! 2. The signature verifies with the issuer's key (`kid`, see
//!    [`UpstreamKeySet::select`]), checked by ring through `jsonwebtoken`
//!    before any claim is looked at.
//! 3. `alg` is on the upstream's allow-list, which holds asymmetric
//!    algorithms only (never `none`, never HMAC). A `crit` header is
//!    refused: no JWS extension is understood here.
//! 4. `iss` is the issuer exactly; `aud` holds the configured audience and
//!    no other (ID token rules: an audience the client does not trust is a
//!    reason to refuse); `iat` is present, not later than now plus the
//!    skew, and not older than the upstream's maximum age; `exp` is present
//!    and not passed (the final text requires `exp`, draft 06 did not).
//! 5. `sub`, `sid`, or both.
//! 6. `events` is an object with the member
//!    `http://schemas.openid.net/event/backchannel-logout`, itself an object.
//! 7. No `nonce`.
//! 8. `jti` is present; remembering it to refuse a replay is the caller's:
//!    [`LogoutClaims::remember_until`] says how long that takes.
//!
//! The `typ` header is not checked: the specification recommends
//! `logout+jwt` to issuers but does not make receivers require it, and the
//! `events` rule already tells a logout token from an ID token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::error::{Claim, LogoutTokenError};
use super::jwks::UpstreamKeySet;
use super::{LogoutAlgorithm, Upstream};

/// The event member every logout token's `events` claim has.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The largest token accepted (issuers send well under 2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The longest `jti` accepted: a replay store keeps it.
pub const MAX_JTI_BYTES: usize = 256;

/// A valid logout token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub iss: String,
    /// The end-user: every session of theirs at this issuer ends.
    pub sub: Option<String>,
    /// One session.
    pub sid: Option<String>,
    pub jti: String,
    pub iat: DateTime<Utc>,
    pub exp: DateTime<Utc>,
    /// Until when a replay store must remember `jti`: after it, the token
    /// is refused anyway (expired, or older than the maximum age).
    pub remember_until: DateTime<Utc>,
}

/// Validates `token` from `upstream`, verified with `keys`, at `now`.
pub fn validate(
    token: &str,
    upstream: &Upstream,
    keys: &UpstreamKeySet,
    now: DateTime<Utc>,
) -> Result<LogoutClaims, LogoutTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(LogoutTokenError::TooLarge);
    }
    let segments: Vec<&str> = token.split('.').collect();
    match segments.len() {
        3 => {}
        5 => return Err(LogoutTokenError::Encrypted),
        _ => return Err(LogoutTokenError::Malformed),
    }
    let header = json_object(segments[0]).ok_or(LogoutTokenError::Malformed)?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => LogoutAlgorithm::from_name(name)
            .filter(|alg| upstream.algorithms.contains(alg))
            .ok_or(LogoutTokenError::AlgorithmNotAllowed)?,
        _ => return Err(LogoutTokenError::Malformed),
    };
    if header.contains_key("crit") {
        return Err(LogoutTokenError::CriticalHeader);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(LogoutTokenError::Malformed),
    };
    let key = keys.select(kid, alg)?;
    let claims = verified_claims(token, &key.decoding, alg)?;
    check_claims(&claims, upstream, now)
}

/// The `kid` a token's header names, unverified: only to decide whether
/// the issuer's keys are worth fetching again.
#[must_use]
pub fn unverified_key_id(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let header = json_object(token.split('.').next()?)?;
    match header.get("kid") {
        Some(Value::String(kid)) => Some(kid.clone()),
        _ => None,
    }
}

/// The decoded JSON object of a base64url segment.
fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// The `iss` a token's payload names, unverified: only to pick the
/// upstream whose keys and rules then validate it.
#[must_use]
pub fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = json_object(token.split('.').nth(1)?)?;
    match payload.get("iss") {
        Some(Value::String(iss)) => Some(iss.clone()),
        _ => None,
    }
}

/// The claims, once the signature verifies. `jsonwebtoken` checks no claim
/// here (every check of its own is off): time comes from `now`, and each
/// rule has its own error.
fn verified_claims(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: LogoutAlgorithm,
) -> Result<Map<String, Value>, LogoutTokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let mut validation = jsonwebtoken::Validation::new(alg.jwt());
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => LogoutTokenError::Malformed,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                LogoutTokenError::KeyAlgorithmMismatch
            }
            _ => LogoutTokenError::BadSignature,
        }),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    upstream: &Upstream,
    now: DateTime<Utc>,
) -> Result<LogoutClaims, LogoutTokenError> {
    let skew = delta(upstream.skew);
    let iss = string(claims, Claim::Iss)?.ok_or(LogoutTokenError::MissingClaim(Claim::Iss))?;
    if iss != upstream.issuer {
        return Err(LogoutTokenError::WrongIssuer);
    }
    check_audience(claims.get("aud"), &upstream.audience)?;

    let iat = time(claims, Claim::Iat)?;
    if iat > now + skew {
        return Err(LogoutTokenError::IssuedInFuture);
    }
    let oldest = now - skew - delta(upstream.max_age);
    if iat < oldest {
        return Err(LogoutTokenError::TooOld);
    }
    let exp = time(claims, Claim::Exp)?;
    if now >= exp + skew {
        return Err(LogoutTokenError::Expired);
    }

    let sub = string(claims, Claim::Sub)?;
    let sid = string(claims, Claim::Sid)?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::NoSubjectOrSession);
    }
    match claims.get("events") {
        None => return Err(LogoutTokenError::MissingClaim(Claim::Events)),
        Some(Value::Object(events)) => {
            if !events
                .get(BACKCHANNEL_LOGOUT_EVENT)
                .is_some_and(Value::is_object)
            {
                return Err(LogoutTokenError::NotALogoutEvent);
            }
        }
        Some(_) => return Err(LogoutTokenError::MalformedClaim(Claim::Events)),
    }
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::NoncePresent);
    }
    let jti = string(claims, Claim::Jti)?.ok_or(LogoutTokenError::MissingClaim(Claim::Jti))?;
    if jti.len() > MAX_JTI_BYTES {
        return Err(LogoutTokenError::MalformedClaim(Claim::Jti));
    }
    // Later than this the token is expired or too old, whatever `exp` says.
    let remember_until = exp.min(iat + delta(upstream.max_age)) + skew;
    Ok(LogoutClaims {
        iss: iss.to_owned(),
        sub: sub.map(str::to_owned),
        sid: sid.map(str::to_owned),
        jti: jti.to_owned(),
        iat,
        exp,
        remember_until,
    })
}

/// `aud` (a string or an array of strings) names `audience`, and nothing
/// else.
fn check_audience(aud: Option<&Value>, audience: &str) -> Result<(), LogoutTokenError> {
    let values: Vec<&str> = match aud {
        None => return Err(LogoutTokenError::MissingClaim(Claim::Aud)),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|value| {
                value
                    .as_str()
                    .ok_or(LogoutTokenError::MalformedClaim(Claim::Aud))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(LogoutTokenError::MalformedClaim(Claim::Aud)),
    };
    if !values.contains(&audience) {
        return Err(LogoutTokenError::WrongAudience);
    }
    if values.iter().any(|value| *value != audience) {
        return Err(LogoutTokenError::UntrustedAudience);
    }
    Ok(())
}

/// An optional non-empty string claim.
fn string(claims: &Map<String, Value>, claim: Claim) -> Result<Option<&str>, LogoutTokenError> {
    match claims.get(&claim.to_string()) {
        None => Ok(None),
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value)),
        Some(_) => Err(LogoutTokenError::MalformedClaim(claim)),
    }
}

/// A required NumericDate claim (seconds since the epoch; a fraction is
/// dropped).
fn time(claims: &Map<String, Value>, claim: Claim) -> Result<DateTime<Utc>, LogoutTokenError> {
    let value = claims
        .get(&claim.to_string())
        .ok_or(LogoutTokenError::MissingClaim(claim))?;
    let seconds = value
        .as_i64()
        .or_else(|| value.as_f64().filter(|s| s.is_finite()).map(seconds_of))
        .ok_or(LogoutTokenError::MalformedClaim(claim))?;
    // Within a few thousand years of now: sums with it cannot overflow.
    DateTime::from_timestamp(seconds, 0)
        .filter(|at| at.timestamp().unsigned_abs() < 1 << 36)
        .ok_or(LogoutTokenError::MalformedClaim(claim))
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a finite float saturates into i64, and out-of-range times are refused after"
)]
fn seconds_of(float: f64) -> i64 {
    float.floor() as i64
}

/// A configured duration as a time difference (capped at a century).
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration)
        .unwrap_or(TimeDelta::MAX)
        .min(TimeDelta::days(36_500))
}

#[cfg(test)]
mod tests;
