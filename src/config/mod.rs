//! Configuration: built-in defaults < TOML file < `DATABASE_URL` (for
//! `database.url` only) < `RESCIND_*` environment < command-line flags (docs/behaviour.md, Configuration).
//!
//! Every key is documented, with its default and environment name, in
//! `config/rescind.example.toml`; a test parses that file so it cannot drift.

mod events;
mod logout;
mod operations;
mod redacted;
mod security;
mod server;
mod service_links;
mod ssf;
mod validate;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use events::{
    EventSettings, IntrospectionSettings, ScannerKeySettings, SecretScanningSettings,
    WebhookSettings,
};
pub use logout::{LogoutSettings, UpstreamSettings};
pub use operations::{
    DatabaseSettings, LogFormat, LogSettings, RetentionSettings, TracingSettings,
};
pub use security::{AdminSettings, AuthSettings, PolicySettings, RateLimitSettings, TokenSettings};
pub use server::{
    CorsSettings, ForwardedHeader, MetadataSettings, ServerSettings, TlsMode, TlsSettings,
};
pub use ssf::SsfSettings;
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
    pub logout: LogoutSettings,
    pub ssf: SsfSettings,
    pub log: LogSettings,
    pub tracing: TracingSettings,
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
            logout: LogoutSettings::default(),
            ssf: SsfSettings::default(),
            log: LogSettings::default(),
            tracing: TracingSettings::default(),
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
