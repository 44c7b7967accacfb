//! Settings of who may do what: the revocation policies, the token format,
//! client authentication, abuse control, the admin listener.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redacted;
use crate::domain::revocation::{AnonymousPolicy, ForeignPolicy};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    pub anonymous: AnonymousPolicy,
    pub foreign: ForeignPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    pub access_prefix: String,
    pub refresh_prefix: String,
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Concurrent argon2 verifications; unset means one per CPU, capped by
    /// what the cgroup memory limit holds (`auth::concurrency`).
    pub argon2_concurrency: Option<usize>,
    /// How long a verified client secret is remembered (as an HMAC under a
    /// per-process key); zero turns the cache off.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// At most this many clients are remembered at once.
    pub cache_capacity: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            argon2_concurrency: None,
            cache_ttl: Duration::from_secs(300),
            cache_capacity: 10_000,
        }
    }
}

/// Abuse control; a count of zero turns that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// The window every count below is per.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Failed client authentications per (`client_id`, address); then `429`
    /// for that pair until the window passes.
    pub failed_auth_per_client: u32,
    /// Failed client authentications per address, whatever the `client_id`.
    pub failed_auth_per_address: u32,
    /// Requests per address, successful or not.
    pub requests_per_address: u32,
    /// Requests per `client_id`, successful or not.
    pub requests_per_client: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            failed_auth_per_client: 10,
            failed_auth_per_address: 100,
            requests_per_address: 0,
            requests_per_client: 0,
        }
    }
}

/// The admin listener: off unless `listen` is set, and then only with a
/// bearer token hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    pub listen: Option<SocketAddr>,
    /// argon2id PHC string of the admin bearer token (`rescind admin hash-token`).
    #[serde(serialize_with = "redacted::secret")]
    pub token_hash: Option<SecretString>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            anonymous: AnonymousPolicy::Revoke,
            foreign: ForeignPolicy::Revoke,
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_prefix: "rat".to_owned(),
            refresh_prefix: "rrt".to_owned(),
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
