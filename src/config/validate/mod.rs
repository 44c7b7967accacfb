//! Validation of a loaded configuration. Each check names the key it rejects,
//! so a bad configuration stops every command with one clear line.

mod durations;
mod outbound;
mod ssf;

use std::fmt;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Settings, TlsMode};
use crate::domain::minted::TokenFormat;
use crate::domain::origin::check_origin;

pub use self::durations::MAX_DURATION;
use self::durations::durations;
pub use self::outbound::MIN_WEBHOOK_SECRET;
use self::outbound::{events, scanner_keys, tracing_export};
use self::ssf::ssf;

/// A configuration that cannot be used, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The dotted key (`server.listen`), or `--config` for the file itself.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// One line, whatever figment says: parser messages span several lines
    /// (a caret under the column), and a terminal or log wants one.
    pub(crate) fn from_figment(error: &figment::Error) -> Self {
        let key = if error.path.is_empty() {
            "--config".to_owned()
        } else {
            error.path.join(".")
        };
        let origin = error
            .metadata
            .as_ref()
            .map(|metadata| match &metadata.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                _ => metadata.name.to_string(),
            });
        let message = match origin {
            Some(origin) => format!("{} (from {origin})", error.kind),
            None => error.kind.to_string(),
        };
        Self {
            key,
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Metadata keys that Rescind computes itself; `metadata.extra` may not set them.
pub const RESERVED_METADATA_KEYS: &[&str] = &[
    "issuer",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
];

pub(super) fn settings(settings: &Settings) -> Result<(), ConfigError> {
    durations(settings)?;
    issuer(&settings.issuer)?;
    data_dir(settings)?;
    tls(settings)?;
    database(settings)?;
    server(settings)?;
    cors_origins(&settings.cors.allowed_origins)?;
    metadata(settings)?;
    tokens(settings)?;
    rate_limit(settings)?;
    admin(settings)?;
    retention(settings)?;
    events(settings)?;
    scanner_keys("secret_scanning.github", &settings.secret_scanning.github)?;
    scanner_keys("secret_scanning.gitlab", &settings.secret_scanning.gitlab)?;
    outbound::logout_upstreams(&settings.logout.upstream)?;
    tracing_export(&settings.tracing)?;
    ssf(settings)?;
    if settings.auth.argon2_concurrency == Some(0) {
        return Err(ConfigError::new(
            "auth.argon2_concurrency",
            "must be at least 1",
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&settings.log.level).is_err() {
        return Err(ConfigError::new(
            "log.level",
            "is not a valid tracing filter (try \"info\")",
        ));
    }
    Ok(())
}

/// RFC 8414 §2: an `https` URL with no query or fragment. We also refuse
/// userinfo, and path characters outside RFC 3986 `unreserved`, so that the
/// path can be used as a route prefix as it is.
fn issuer(issuer: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        Err(ConfigError::new(
            "issuer",
            format!("{why} (got {issuer:?})"),
        ))
    };
    let Some(rest) = issuer.strip_prefix("https://") else {
        return bad("must be an https URL");
    };
    if issuer.contains(['?', '#']) {
        return bad("must not have a query or fragment");
    }
    let (authority, path) = rest
        .find('/')
        .map_or((rest, ""), |slash| (&rest[..slash], &rest[slash..]));
    if authority.is_empty() || authority.contains('@') {
        return bad("must name a host, without user information");
    }
    if issuer.parse::<axum::http::Uri>().is_err() {
        return bad("is not a valid URL");
    }
    let path = path.trim_end_matches('/');
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if !path.is_empty()
        && !path
            .split('/')
            .skip(1)
            .all(|segment| !segment.is_empty() && segment.chars().all(unreserved))
    {
        return bad("path segments may only use letters, digits, '-', '.', '_' and '~'");
    }
    Ok(())
}

fn data_dir(settings: &Settings) -> Result<(), ConfigError> {
    let shown = settings.data_dir.to_string_lossy();
    if shown.is_empty() || shown.contains(['?', '#']) {
        return Err(ConfigError::new(
            "data_dir",
            "must be a directory path without '?' or '#'",
        ));
    }
    Ok(())
}

fn tls(settings: &Settings) -> Result<(), ConfigError> {
    if settings.tls.mode == TlsMode::Files {
        if settings.tls.cert.is_none() {
            return Err(ConfigError::new(
                "tls.cert",
                "is required when tls.mode = \"files\"",
            ));
        }
        if settings.tls.key.is_none() {
            return Err(ConfigError::new(
                "tls.key",
                "is required when tls.mode = \"files\"",
            ));
        }
    }
    Ok(())
}

fn database(settings: &Settings) -> Result<(), ConfigError> {
    if let Some(url) = &settings.database.url {
        let url = url.expose_secret();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !postgres && !url.starts_with("sqlite:") {
            return Err(ConfigError::new(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        // Each pooled connection would see its own empty in-memory database.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(ConfigError::new(
                "database.url",
                "an in-memory SQLite database is not supported",
            ));
        }
    }
    if settings.database.max_connections == 0 {
        return Err(ConfigError::new(
            "database.max_connections",
            "must be at least 1",
        ));
    }
    if settings.database.batch_workers == 0 {
        return Err(ConfigError::new(
            "database.batch_workers",
            "must be at least 1",
        ));
    }
    if settings.database.timeout.is_zero() {
        return Err(ConfigError::new(
            "database.timeout",
            "must be greater than zero",
        ));
    }
    Ok(())
}

fn server(settings: &Settings) -> Result<(), ConfigError> {
    let limit = settings.server.body_limit;
    if !(1024..=1024 * 1024).contains(&limit) {
        return Err(ConfigError::new(
            "server.body_limit",
            "must be between 1024 and 1048576 bytes",
        ));
    }
    for (key, value) in [
        ("server.body_timeout", settings.server.body_timeout),
        ("server.retry_after", settings.server.retry_after),
    ] {
        if value.as_secs() == 0 {
            return Err(ConfigError::new(key, "must be at least one second"));
        }
    }
    Ok(())
}

/// Each origin must be `scheme://host[:port]` ([`check_origin`]).
pub(crate) fn cors_origins(origins: &[String]) -> Result<(), ConfigError> {
    for origin in origins {
        check_origin(origin)
            .map_err(|why| ConfigError::new("cors.allowed_origins", format!("{origin:?} {why}")))?;
    }
    Ok(())
}

fn metadata(settings: &Settings) -> Result<(), ConfigError> {
    for key in settings.metadata.extra.keys() {
        if RESERVED_METADATA_KEYS.contains(&key.as_str()) {
            return Err(ConfigError::new(
                format!("metadata.extra.{key}"),
                "is computed by Rescind and cannot be overridden",
            ));
        }
    }
    if settings.metadata.max_age.as_secs() == 0 {
        return Err(ConfigError::new(
            "metadata.max_age",
            "must be at least one second",
        ));
    }
    Ok(())
}

fn tokens(settings: &Settings) -> Result<(), ConfigError> {
    let tokens = &settings.tokens;
    TokenFormat::new(&tokens.access_prefix, &tokens.refresh_prefix)
        .map_err(|error| ConfigError::new("tokens.access_prefix", error.to_string()))?;
    for (key, ttl) in [
        ("tokens.access_ttl", tokens.access_ttl),
        ("tokens.refresh_ttl", tokens.refresh_ttl),
    ] {
        if ttl.as_secs() == 0 {
            return Err(ConfigError::new(key, "must be at least one second"));
        }
    }
    Ok(())
}

/// A CIDR (`10.0.0.0/8`) or a single address (`10.0.0.7`, meaning /32 or /128).
pub(super) fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

fn rate_limit(settings: &Settings) -> Result<(), ConfigError> {
    for proxy in &settings.server.trusted_proxies {
        if parse_network(proxy).is_none() {
            return Err(ConfigError::new(
                "server.trusted_proxies",
                format!("{proxy:?} is not a CIDR (10.0.0.0/8) or an IP address"),
            ));
        }
    }
    if settings.server.max_concurrent_requests == 0 {
        return Err(ConfigError::new(
            "server.max_concurrent_requests",
            "must be at least 1",
        ));
    }
    if settings.server.max_connections == 0 {
        return Err(ConfigError::new(
            "server.max_connections",
            "must be at least 1",
        ));
    }
    if settings.server.header_timeout.is_zero()
        || settings.server.header_timeout > Duration::from_secs(3600)
    {
        return Err(ConfigError::new(
            "server.header_timeout",
            "must be between 1ms and 1h",
        ));
    }
    if settings.server.request_timeout.is_zero() {
        return Err(ConfigError::new(
            "server.request_timeout",
            "must be greater than zero",
        ));
    }
    if settings.rate_limit.window < std::time::Duration::from_secs(1) {
        return Err(ConfigError::new(
            "rate_limit.window",
            "must be at least one second",
        ));
    }
    Ok(())
}

fn admin(settings: &Settings) -> Result<(), ConfigError> {
    let Some(listen) = settings.admin.listen else {
        return Ok(());
    };
    let Some(hash) = settings
        .admin
        .token_hash
        .as_ref()
        .map(ExposeSecret::expose_secret)
    else {
        return Err(ConfigError::new(
            "admin.token_hash",
            "is required when admin.listen is set (make one with `rescind admin hash-token`)",
        ));
    };
    if !hash.starts_with("$argon2id$") || argon2::PasswordHash::new(hash).is_err() {
        return Err(ConfigError::new(
            "admin.token_hash",
            "must be an argon2id PHC string (make one with `rescind admin hash-token`)",
        ));
    }
    if listen == settings.server.listen && listen.port() != 0 {
        return Err(ConfigError::new(
            "admin.listen",
            "must differ from server.listen: the admin API needs its own port",
        ));
    }
    Ok(())
}

fn retention(settings: &Settings) -> Result<(), ConfigError> {
    if settings.retention.interval < std::time::Duration::from_secs(1) {
        return Err(ConfigError::new(
            "retention.interval",
            "must be at least one second",
        ));
    }
    Ok(())
}
