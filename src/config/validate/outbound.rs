//! The checks of what Rescind calls out to: webhook endpoints, the
//! secret-scanning partners' key URLs, the logout upstreams, the OTLP
//! collector, and every
//! outbound URL's form.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{ConfigError, MAX_DURATION};
use crate::config::{ScannerKeySettings, Settings, TracingSettings, UpstreamSettings};
use crate::domain::client::ClientId;

pub(super) fn events(settings: &Settings) -> Result<(), ConfigError> {
    let events = &settings.events;
    if events.poll_interval < Duration::from_millis(10)
        || events.poll_interval > Duration::from_millis(500)
    {
        return Err(ConfigError::new(
            "events.poll_interval",
            "must be between 10ms and 500ms (cached answers must go within a second)",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (index, webhook) in events.webhooks.iter().enumerate() {
        let key = |field: &str| format!("events.webhooks[{index}].{field}");
        let name_ok = !webhook.name.is_empty()
            && webhook.name.len() <= 64
            && webhook
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(ConfigError::new(
                key("name"),
                "must be 1-64 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !names.insert(webhook.name.as_str()) {
            return Err(ConfigError::new(key("name"), "is used twice"));
        }
        outbound_url(&key("url"), &webhook.url)?;
        match (&webhook.secret, &webhook.secret_file) {
            (Some(secret), None) if secret.expose_secret().len() >= MIN_WEBHOOK_SECRET => {}
            (Some(_), None) => {
                return Err(ConfigError::new(key("secret"), "must be at least 32 bytes"));
            }
            (None, Some(_)) => {}
            _ => {
                return Err(ConfigError::new(
                    key("secret"),
                    "give exactly one of secret and secret_file",
                ));
            }
        }
        if webhook.max_attempts == 0 {
            return Err(ConfigError::new(key("max_attempts"), "must be at least 1"));
        }
        if webhook.timeout.is_zero() || webhook.retry_initial.is_zero() {
            return Err(ConfigError::new(
                key("retry_initial"),
                "timeout and retry_initial must be more than zero",
            ));
        }
        if webhook.retry_max < webhook.retry_initial {
            return Err(ConfigError::new(
                key("retry_max"),
                "must be at least retry_initial",
            ));
        }
    }
    Ok(())
}

/// The shortest webhook secret accepted, in bytes (HMAC-SHA-256 wants a
/// key of at least its output's size to keep its full strength).
pub const MIN_WEBHOOK_SECRET: usize = 32;

pub(super) fn scanner_keys(section: &str, keys: &ScannerKeySettings) -> Result<(), ConfigError> {
    if keys.keys_file.is_some() && keys.keys_url.is_some() {
        return Err(ConfigError::new(
            format!("{section}.keys_url"),
            "give keys_file or keys_url, not both",
        ));
    }
    if let Some(url) = &keys.keys_url {
        outbound_url(&format!("{section}.keys_url"), url)?;
    }
    if keys.refresh < Duration::from_secs(1) {
        return Err(ConfigError::new(
            format!("{section}.refresh"),
            "must be at least one second",
        ));
    }
    Ok(())
}

/// A URL Rescind calls ([`crate::domain::outbound::outbound_url`]).
pub(crate) fn outbound_url(key: &str, url: &str) -> Result<(), ConfigError> {
    crate::domain::outbound::outbound_url(url)
        .map(drop)
        .map_err(|problem| ConfigError::new(key, problem))
}

/// The OTLP collector: `http` or `https` (collectors usually listen in plain
/// HTTP beside the server, and spans carry no secret), with a host, and
/// without user information, query or fragment, which would end in logs or
/// be dropped.
pub(super) fn tracing_export(tracing: &TracingSettings) -> Result<(), ConfigError> {
    if let Some(endpoint) = tracing.endpoint.as_deref().filter(|url| !url.is_empty()) {
        let bad = |why: &str| Err(ConfigError::new("tracing.endpoint", why));
        let Ok(url) = reqwest::Url::parse(endpoint) else {
            return bad("is not a URL");
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return bad("must be an http or https URL with a host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad("must not carry user information");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return bad("must not have a query or fragment");
        }
    }
    let name = &tracing.service_name;
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "tracing.service_name",
            "must be 1-255 characters without control characters",
        ));
    }
    if !(0.0..=1.0).contains(&tracing.sample_ratio) {
        return Err(ConfigError::new(
            "tracing.sample_ratio",
            "must be between 0 and 1",
        ));
    }
    Ok(())
}

/// Each `[[logout.upstream]]`: an issuer (once), an audience, exactly one
/// key source, valid client ids (listed when there are several upstreams),
/// durations of at least a second.
pub(super) fn logout_upstreams(upstreams: &[UpstreamSettings]) -> Result<(), ConfigError> {
    let mut issuers = std::collections::BTreeSet::new();
    for (n, upstream) in upstreams.iter().enumerate() {
        let key = |field: &str| format!("logout.upstream[{n}].{field}");
        if upstream.issuer.is_empty() || !issuers.insert(upstream.issuer.as_str()) {
            return Err(ConfigError::new(
                key("issuer"),
                "must be set, and name each issuer once",
            ));
        }
        if upstream.audience.is_empty() {
            return Err(ConfigError::new(
                key("audience"),
                "must be set: the client id Rescind is registered under there",
            ));
        }
        match (&upstream.jwks_uri, &upstream.jwks_file) {
            (Some(url), None) => outbound_url(&key("jwks_uri"), url)?,
            (None, Some(_)) => {}
            _ => {
                return Err(ConfigError::new(
                    key("jwks_uri"),
                    "give jwks_uri or jwks_file, exactly one",
                ));
            }
        }
        // Grants do not record which issuer their session or subject came
        // from: with two upstreams, one's logout could end grants the other
        // issued (two servers numbering subjects alike) unless each names
        // the clients it serves.
        if upstreams.len() > 1 && upstream.clients.is_empty() {
            return Err(ConfigError::new(
                key("clients"),
                "must list the clients this server issues grants to when more than one \
                 upstream is configured",
            ));
        }
        if upstream
            .clients
            .iter()
            .any(|client| ClientId::parse(client).is_err())
        {
            return Err(ConfigError::new(
                key("clients"),
                "holds something that is not a client id",
            ));
        }
        for (field, value) in [("refresh", upstream.refresh), ("max_age", upstream.max_age)] {
            if value < Duration::from_secs(1) || value > MAX_DURATION {
                return Err(ConfigError::new(
                    key(field),
                    "must be between one second and 3650 days",
                ));
            }
        }
        if upstream.iat_skew > MAX_DURATION {
            return Err(ConfigError::new(
                key("iat_skew"),
                "must be at most 3650 days",
            ));
        }
    }
    Ok(())
}
