//! Every duration setting is bounded, so no clock addition overflows.

use std::time::Duration;

use super::ConfigError;
use crate::config::Settings;

/// The longest duration any setting may hold (ten years). Durations are
/// added to clocks (`Instant`, timers, timestamps); a bound far above any
/// sensible value keeps every such addition from overflowing and panicking.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Every duration setting, by key.
fn duration_settings(settings: &Settings) -> Vec<(String, Duration)> {
    let mut all = vec![
        ("server.body_timeout", settings.server.body_timeout),
        ("server.shutdown_grace", settings.server.shutdown_grace),
        ("server.retry_after", settings.server.retry_after),
        ("server.request_timeout", settings.server.request_timeout),
        ("server.header_timeout", settings.server.header_timeout),
        ("tls.reload_interval", settings.tls.reload_interval),
        ("database.timeout", settings.database.timeout),
        ("metadata.max_age", settings.metadata.max_age),
        ("tokens.access_ttl", settings.tokens.access_ttl),
        ("tokens.refresh_ttl", settings.tokens.refresh_ttl),
        ("auth.cache_ttl", settings.auth.cache_ttl),
        ("rate_limit.window", settings.rate_limit.window),
        ("retention.keep_expired", settings.retention.keep_expired),
        ("retention.interval", settings.retention.interval),
        ("introspection.cache_ttl", settings.introspection.cache_ttl),
        ("events.poll_interval", settings.events.poll_interval),
        ("ssf.rotation_overlap", settings.ssf.rotation_overlap),
        ("ssf.poll_wait", settings.ssf.poll_wait),
        (
            "secret_scanning.github.refresh",
            settings.secret_scanning.github.refresh,
        ),
        (
            "secret_scanning.gitlab.refresh",
            settings.secret_scanning.gitlab.refresh,
        ),
        ("ssf.push_timeout", settings.ssf.push_timeout),
        ("ssf.push_retry_initial", settings.ssf.push_retry_initial),
        ("ssf.push_retry_max", settings.ssf.push_retry_max),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect::<Vec<_>>();
    for (index, webhook) in settings.events.webhooks.iter().enumerate() {
        for (field, value) in [
            ("timeout", webhook.timeout),
            ("retry_initial", webhook.retry_initial),
            ("retry_max", webhook.retry_max),
        ] {
            all.push((format!("events.webhooks[{index}].{field}"), value));
        }
    }
    all
}

pub(super) fn durations(settings: &Settings) -> Result<(), ConfigError> {
    for (key, value) in duration_settings(settings) {
        if value > MAX_DURATION {
            return Err(ConfigError::new(key, "must be at most 3650 days"));
        }
    }
    Ok(())
}
