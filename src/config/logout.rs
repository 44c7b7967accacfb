//! The OpenID Connect back-channel logout receiver: which authorisation
//! servers may end sessions here, and with which keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[logout]`: the receiver is off while no upstream is configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogoutSettings {
    /// One table per authorisation server (`[[logout.upstream]]`).
    pub upstream: Vec<UpstreamSettings>,
}

/// One upstream authorisation server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Its issuer identifier, compared exactly with a token's `iss`.
    pub issuer: String,
    /// The client id Rescind is registered under there: the `aud` its
    /// logout tokens name.
    pub audience: String,
    /// Its key set's URL (fetched and cached), or...
    pub jwks_uri: Option<String>,
    /// ...a file holding the key set.
    pub jwks_file: Option<PathBuf>,
    /// How long fetched keys are used before fetching again; a token naming
    /// an unknown `kid` fetches at once (at most once a minute).
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
    /// The clock difference tolerated on `iat` and `exp`.
    #[serde(with = "humantime_serde")]
    pub iat_skew: Duration,
    /// The oldest `iat` accepted.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// The clients whose grants this server issues: a logout revokes
    /// grants of these only. Empty: of every client.
    pub clients: Vec<String>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            jwks_uri: None,
            jwks_file: None,
            refresh: Duration::from_secs(3600),
            iat_skew: Duration::from_secs(30),
            // Issuers are asked to make logout tokens expire within two
            // minutes, and a delivery may be retried for a while.
            max_age: Duration::from_secs(5 * 60),
            clients: Vec::new(),
        }
    }
}
