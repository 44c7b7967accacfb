//! An upstream issuer's key set, from its JWKS URL or a file, cached and
//! refreshed as the secret scanners' keys are (`crate::key_fetch`): a token
//! naming an unknown `kid` (the issuer rotated) triggers a refetch, at most
//! once a minute whatever the requests.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::jwks::{MAX_JWKS_BYTES, UpstreamKeySet};
use super::token::{LogoutClaims, unverified_key_id, validate};
use super::{LogoutTokenError, Upstream};
use crate::key_fetch::{FetchedKeys, KeyDocument, KeySource};

/// One issuer's keys.
pub struct UpstreamKeys {
    keys: FetchedKeys<UpstreamKeySet>,
}

impl UpstreamKeys {
    #[must_use]
    pub fn new(source: KeySource, refresh: Duration, client: reqwest::Client) -> Self {
        let document = KeyDocument {
            source,
            refresh,
            max_bytes: MAX_JWKS_BYTES,
            parse: UpstreamKeySet::parse,
            label: "upstream issuer",
        };
        Self {
            keys: FetchedKeys::new(document, client),
        }
    }

    /// Validates `token` from `upstream` at `now` with the current keys,
    /// fetched again first if the token names a key they lack.
    pub async fn validate(
        &self,
        token: &str,
        upstream: &Upstream,
        now: DateTime<Utc>,
    ) -> Result<LogoutClaims, LogoutTokenError> {
        let kid = unverified_key_id(token);
        let keys = self
            .keys
            .current(|keys| keys.knows(kid.as_deref()))
            .await
            .ok_or(LogoutTokenError::KeysUnavailable)?;
        validate(token, upstream, &keys, now)
    }
}
