//! Configuration: built-in defaults < TOML file < `DATABASE_URL` (for
//! `database.url` only) < `RESCIND_*` environment < command-line flags (docs/behaviour.md, Configuration).
//!
//! Every key is documented, with its default and environment name, in
//! `config/rescind.example.toml`; a test parses that file so it cannot drift.

mod redacted;
mod service_links;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::revocation::{AnonymousPolicy, ForeignPolicy};

pub use validate::{ConfigError, MAX_DURATION, MIN_WEBHOOK_SECRET, RESERVED_METADATA_KEYS};

/// Everything Rescind can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The issuer identifier (RFC 8414 §2): an `https` URL without query or
    /// fragment. Endpoints live under its path.
    pub issuer: String,
    /// Holds the SQLite file and the self-signed certificate.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub database: DatabaseSettings,
    pub policy: PolicySettings,
    pub cors: CorsSettings,
    pub metadata: MetadataSettings,
    pub tokens: TokenSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub admin: AdminSettings,
    pub retention: RetentionSettings,
    pub introspection: IntrospectionSettings,
    pub events: EventSettings,
    pub secret_scanning: SecretScanningSettings,
    pub log: LogSettings,
    pub tracing: TracingSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes (16 KiB by default; docs/behaviour.md, Revocation).
    pub body_limit: usize,
    /// How long a client may take to send its body.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The `Retry-After` sent with `503`.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Networks (CIDRs or single addresses) whose forwarding header
    /// (`forwarded_header`) is believed.
    pub trusted_proxies: Vec<String>,
    /// The one forwarding header the trusted proxies write; the other is
    /// ignored, since a proxy passes a header it does not write through
    /// untouched, and the client would choose what it says.
    pub forwarded_header: ForwardedHeader,
    /// Requests served at once per listener; beyond it, `503` at once.
    pub max_concurrent_requests: usize,
    /// The longest a public request may take once its headers are in.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a connection may take to send a request's headers, counted
    /// from the connection's start or its previous answer: a connection that
    /// sends nothing is closed then (and a TLS handshake must end by then).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Connections open at once, both listeners together; lowered at start
    /// to fit under the open-files limit.
    pub max_connections: usize,
}

/// Which header carries the client's address (and scheme) from a trusted
/// proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` and `X-Forwarded-Proto`: what most load balancers
    /// append to.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` and `proto=`.
    Forwarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// A certificate for `localhost`/`127.0.0.1`, made on first start (dev).
    SelfSigned,
    /// PEM certificate chain and key from `tls.cert` and `tls.key`.
    Files,
    /// Plain HTTP behind a TLS-terminating proxy; published URLs stay `https`.
    Proxy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// How often the certificate files are re-read (zero: only on SIGHUP).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite:…`; unset means `<data_dir>/rescind.db`.
    /// A secret: it may carry the database password.
    #[serde(serialize_with = "redacted::database_url")]
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// Bounds a wait for a connection and every statement.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    pub anonymous: AnonymousPolicy,
    pub foreign: ForeignPolicy,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example.com`) allowed to call `/oauth2/revoke`.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataSettings {
    /// `Cache-Control: public, max-age=…` of the metadata document.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Merged into the metadata document (file only, not from the environment).
    pub extra: serde_json::Map<String, serde_json::Value>,
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
    /// The share of traces that start here (no `traceparent`) that are
    /// exported, 0 to 1. A caller's `traceparent` decides for its own.
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

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "https://localhost:8443".to_owned(),
            data_dir: PathBuf::from("./data"),
            server: ServerSettings::default(),
            tls: TlsSettings::default(),
            database: DatabaseSettings::default(),
            policy: PolicySettings::default(),
            cors: CorsSettings::default(),
            metadata: MetadataSettings::default(),
            tokens: TokenSettings::default(),
            auth: AuthSettings::default(),
            rate_limit: RateLimitSettings::default(),
            admin: AdminSettings::default(),
            retention: RetentionSettings::default(),
            introspection: IntrospectionSettings::default(),
            events: EventSettings::default(),
            secret_scanning: SecretScanningSettings::default(),
            log: LogSettings::default(),
            tracing: TracingSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            body_limit: 16 * 1024,
            body_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            max_concurrent_requests: 1024,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            cert: None,
            key: None,
            reload_interval: Duration::from_secs(30),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            // Few connections keep PostgreSQL's backends from competing for
            // its cores: on the 2-core benchmark 8 beat 16 (bench/README.md).
            max_connections: 8,
            timeout: Duration::from_secs(5),
            migrate_on_start: true,
        }
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            anonymous: AnonymousPolicy::Revoke,
            foreign: ForeignPolicy::Revoke,
        }
    }
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            extra: serde_json::Map::new(),
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

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// The environment variable naming the configuration file (also `--config`).
pub const CONFIG_FILE_ENV: &str = "RESCIND_CONFIG";

impl Settings {
    /// Loads and validates the configuration: defaults, then `file` (which must
    /// exist when given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Self = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(rescind_env())
            .extract()
            .map_err(|error| ConfigError::from_figment(&error))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every key; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::settings(self)
    }

    /// The database URL in force (`database.url`, else SQLite in
    /// `data_dir`), a secret since it may carry the password.
    #[must_use]
    pub fn database_url(&self) -> SecretString {
        self.database.url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", self.data_dir.join("rescind.db").display()).into()
        })
    }

    /// `server.trusted_proxies` as networks (validated at load).
    #[must_use]
    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|text| validate::parse_network(text))
            .collect()
    }

    /// The issuer without a trailing `/`, to which endpoint paths are appended.
    #[must_use]
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// The issuer's path (`""` or `/tenant1`), under which endpoints are served.
    #[must_use]
    pub fn issuer_path(&self) -> &str {
        let after_scheme = self.issuer_base().trim_start_matches("https://");
        after_scheme
            .find('/')
            .map_or("", |slash| &after_scheme[slash..])
    }
}

/// `RESCIND_<KEY>` for a top-level key, `RESCIND_<SECTION>__<KEY>` nested.
/// Unknown keys are refused, so a typo cannot fall back to a default; left
/// out are `RESCIND_CONFIG` (it names the file), `metadata.extra` (file-only),
/// and the service-link variables Kubernetes injects for any Service named
/// `rescind` or `rescind-…` ([`service_links`]).
fn rescind_env() -> Env {
    Env::prefixed("RESCIND_")
        .filter(|key| is_rescind_key(key.as_str()))
        .split("__")
}

fn is_rescind_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config"
        && !key.starts_with("metadata__extra")
        && !service_links::is_service_link(&format!("RESCIND_{key}"))
}

#[cfg(test)]
mod tests;
