//! Settings of what Rescind tells others and hears from them: the event
//! outbox and webhooks, the introspection cache the events keep fresh, the
//! secret-scanning partners.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redacted;

/// The introspection answer cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntrospectionSettings {
    /// How long a live token's answer is reused; zero turns the cache off.
    /// A revocation on any instance drops it within one second whatever this is.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Answers kept at most.
    pub cache_capacity: usize,
}

impl Default for IntrospectionSettings {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(5),
            cache_capacity: 100_000,
        }
    }
}

/// Following the revocation event outbox, and delivering its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// How often each instance reads the outbox when nothing woke it
    /// (PostgreSQL `NOTIFY` wakes it at once). At most 500ms: cached
    /// introspection answers must go within a second of a revocation.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub webhooks: Vec<WebhookSettings>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            webhooks: Vec::new(),
        }
    }
}

/// One webhook endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Names the endpoint in the database and the admin API: keep it when
    /// the URL moves, or deliveries start afresh from the newest event.
    pub name: String,
    /// `https`, or `http` to a loopback address only.
    pub url: String,
    /// The HMAC-SHA256 key (at least 32 characters), or...
    #[serde(serialize_with = "redacted::secret")]
    pub secret: Option<SecretString>,
    /// ...a file holding it (a mounted secret), trailing newline ignored.
    pub secret_file: Option<PathBuf>,
    /// One attempt's time limit.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// The first retry's delay (doubling, with jitter, up to `retry_max`).
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            secret: None,
            secret_file: None,
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
        }
    }
}

/// The secret-scanning partner endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretScanningSettings {
    /// GitHub's partner program; off unless its keys are configured.
    pub github: ScannerKeySettings,
    /// GitLab's equivalent.
    pub gitlab: ScannerKeySettings,
    /// `POST /credentials/revoke`: requests per address per minute (0: off).
    pub public_reports_per_minute: u32,
    /// Partner reports per address per minute whose signature is missing,
    /// by an unknown key or wrong (0: no limit); then `429` for a minute.
    pub failed_signatures_per_minute: u32,
}

impl Default for SecretScanningSettings {
    fn default() -> Self {
        Self {
            github: ScannerKeySettings::default(),
            gitlab: ScannerKeySettings::default(),
            // Tight: a report costs a lookup per token, up to 1,000 tokens.
            public_reports_per_minute: 10,
            // A scanner's own reports verify; a few failures allow for a
            // key rotation caught half way.
            failed_signatures_per_minute: 10,
        }
    }
}

/// Where a scanner's signing keys come from: a file, or a URL fetched and
/// refreshed (GitHub's is `https://api.github.com/meta/public_keys/secret_scanning`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerKeySettings {
    pub keys_file: Option<PathBuf>,
    pub keys_url: Option<String>,
    /// How long fetched keys are used before fetching again. A signature by
    /// an unknown key identifier fetches at once (at most once a minute).
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
}

impl Default for ScannerKeySettings {
    fn default() -> Self {
        Self {
            keys_file: None,
            keys_url: None,
            refresh: Duration::from_secs(3600),
        }
    }
}

impl ScannerKeySettings {
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        self.keys_file.is_some() || self.keys_url.is_some()
    }
}
