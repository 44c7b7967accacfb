//! Receiving OpenID Connect Back-Channel Logout 1.0: the logout tokens an
//! upstream authorization server sends when a user's session there ends.
//!
//! One file a job: [`algorithm`] (the asymmetric allow-list), [`jwks`] (an
//! issuer's public keys, bounded), [`keys`] (those keys fetched and
//! cached), [`token`] (the validation rules, pure: the token, the
//! upstream's settings, its keys and the time in, claims or the rule that
//! failed out), [`receiver`] (the use case: validate, refuse a replay,
//! revoke) and [`error`].

pub mod algorithm;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod receiver;
pub mod token;

use std::time::Duration;

pub use self::algorithm::LogoutAlgorithm;
pub use self::error::{Claim, LogoutTokenError};
pub use self::jwks::UpstreamKeySet;
pub use self::keys::UpstreamKeys;
pub use self::receiver::{ConfiguredUpstream, LogoutReceiver, LogoutRefusal};
pub use self::token::{LogoutClaims, validate};

/// What Rescind trusts of one upstream authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Its issuer identifier, compared exactly with `iss`.
    pub issuer: String,
    /// Rescind's client id there: the `aud` its tokens must name.
    pub audience: String,
    /// The algorithms its tokens may be signed with.
    pub algorithms: Vec<LogoutAlgorithm>,
    /// The oldest `iat` accepted, before now.
    pub max_age: Duration,
    /// The clock difference tolerated on `iat` and `exp`.
    pub skew: Duration,
}

/// The maximum age by default: issuers are asked to make logout tokens
/// expire within two minutes, and a delivery may be retried for a while.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// The skew by default.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(30);

impl Upstream {
    /// An upstream with the default allow-list (RS256, ES256), maximum age
    /// and skew.
    #[must_use]
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms: LogoutAlgorithm::DEFAULT.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            skew: DEFAULT_SKEW,
        }
    }
}

#[cfg(test)]
mod defaults {
    use crate::config::UpstreamSettings;

    /// The configuration's defaults are this module's.
    #[test]
    fn the_configured_defaults_are_the_validators() {
        let settings = UpstreamSettings::default();
        assert_eq!(settings.iat_skew, super::DEFAULT_SKEW);
        assert_eq!(settings.max_age, super::DEFAULT_MAX_AGE);
    }
}
