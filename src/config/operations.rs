//! Settings of running the server: the database, retention, logs and
//! span export.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redacted;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite:…`; unset means `<data_dir>/rescind.db`.
    /// A secret: it may carry the database password.
    #[serde(serialize_with = "redacted::database_url")]
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// On PostgreSQL, how many statements of each kind of batch may run at
    /// once: revocations (group commit) and introspection's reads, each
    /// statement carrying every request of its kind waiting at that moment.
    /// At most a quarter of `max_connections` for each kind (one at
    /// least), so from 4 connections up both together leave half the pool
    /// to the rest.
    pub batch_workers: u32,
    /// Bounds a wait for a connection and every statement.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

/// What the retention task deletes, and how often it looks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Tokens are deleted this long after they expired (revoked or not).
    #[serde(with = "humantime_serde")]
    pub keep_expired: Duration,
    /// Revocation records and admin call records older than this many days
    /// are deleted; zero keeps them forever.
    pub audit_days: u32,
    /// How often the task runs (on one instance at a time).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            keep_expired: Duration::from_secs(7 * 24 * 3600),
            audit_days: 365,
            interval: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter directive, such as `info` or `rescind=debug,info`.
    pub level: String,
    pub format: LogFormat,
}

/// Export of request spans to an OpenTelemetry collector, over OTLP/HTTP
/// with protobuf bodies (`telemetry::otlp`). Off unless `endpoint` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingSettings {
    /// The collector's traces URL, `http(s)://host:4318/v1/traces`; one
    /// without a path gets `/v1/traces`. Unset or empty: nothing exported.
    pub endpoint: Option<String>,
    /// The `service.name` the spans are exported under.
    pub service_name: String,
    /// The share of traces that start here that are exported, 0 to 1. A
    /// trusted proxy's `traceparent` decides for its request.
    pub sample_ratio: f64,
}

impl Default for TracingSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "rescind".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

impl TracingSettings {
    /// Where spans are sent: `endpoint` (validated at load), with
    /// `/v1/traces` when it names no path; `None` when export is off.
    #[must_use]
    pub fn traces_url(&self) -> Option<reqwest::Url> {
        let endpoint = self.endpoint.as_deref().filter(|url| !url.is_empty())?;
        let mut url = reqwest::Url::parse(endpoint).ok()?;
        if url.path() == "/" {
            url.set_path("/v1/traces");
        }
        Some(url)
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            // Few connections keep PostgreSQL's backends from competing for
            // its cores: on the 2-core benchmark 8 beat 16 (bench/README.md).
            max_connections: 8,
            // Fewer statements at once means larger batches, each
            // request costing the database less: on the 2-core
            // benchmark two workers revoked 14-31 % more per second than
            // four, with about a third less PostgreSQL CPU per revocation
            // (bench/README.md). Two rather than one, so that a batch
            // waiting for a locked grant does not hold up every other.
            batch_workers: 2,
            timeout: Duration::from_secs(5),
            migrate_on_start: true,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}
