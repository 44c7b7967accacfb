//! The JSON Web Key Set (RFC 7517) a transmitter's `jwks_uri` serves: the
//! current key first, then the retired keys whose overlap has not ended.
//! Public members only (`kty`, `kid`, `use`, `alg`, and `n`/`e` or
//! `crv`/`x`/`y`): the types it is built from have no other.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::SigningKeys;

impl SigningKeys {
    /// The key set document at `now`.
    #[must_use]
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        let keys: Vec<_> = std::iter::once(self.current().published())
            .chain(self.retired_at(now))
            .collect();
        json!({ "keys": keys })
    }
}
