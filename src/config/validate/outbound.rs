//! The checks of what Rescind calls out to: webhook endpoints, the
//! secret-scanning partners' key URLs, and every outbound URL's form.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::ConfigError;
use crate::config::{ScannerKeySettings, Settings};

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

/// A URL Rescind calls: `https`, or `http` to a loopback address (a local
/// relay, the tests); never with user information, which would end in logs.
pub(crate) fn outbound_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(ConfigError::new(key, "is not a URL"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(key, "must not carry user information"));
    }
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ConfigError::new(
            key,
            "must be an https URL (http only to a loopback address)",
        )),
    }
}
