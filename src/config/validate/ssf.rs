//! The Shared Signals transmitter's settings.

use std::time::Duration;

use super::ConfigError;
use crate::config::Settings;

/// `[ssf]`: a poll waits a few seconds at most, less than a request may
/// take, for at least one waiter and one event; a push is tried at least
/// once, each attempt bounded.
pub(super) fn ssf(settings: &Settings) -> Result<(), ConfigError> {
    let ssf = &settings.ssf;
    if ssf.poll_wait > Duration::from_secs(60) {
        return Err(ConfigError::new("ssf.poll_wait", "must be at most 60s"));
    }
    // A waiting poll must end before the request time bound cuts it off
    // (not checked while off: a short request_timeout is fine then).
    if ssf.enabled
        && !settings.server.request_timeout.is_zero()
        && ssf.poll_wait >= settings.server.request_timeout
    {
        return Err(ConfigError::new(
            "ssf.poll_wait",
            "must be shorter than server.request_timeout",
        ));
    }
    if ssf.max_poll_waiters == 0 {
        return Err(ConfigError::new(
            "ssf.max_poll_waiters",
            "must be at least 1",
        ));
    }
    if !(1..=1000).contains(&ssf.max_events) {
        return Err(ConfigError::new(
            "ssf.max_events",
            "must be between 1 and 1000",
        ));
    }
    if ssf.max_queued_sets < ssf.max_events {
        return Err(ConfigError::new(
            "ssf.max_queued_sets",
            "must be at least ssf.max_events",
        ));
    }
    if ssf.push_max_attempts == 0 {
        return Err(ConfigError::new(
            "ssf.push_max_attempts",
            "must be at least 1",
        ));
    }
    for (key, value) in [
        ("ssf.push_timeout", ssf.push_timeout),
        ("ssf.push_retry_initial", ssf.push_retry_initial),
    ] {
        if value.is_zero() {
            return Err(ConfigError::new(key, "must be more than zero"));
        }
    }
    if ssf.push_retry_max < ssf.push_retry_initial {
        return Err(ConfigError::new(
            "ssf.push_retry_max",
            "must be at least ssf.push_retry_initial",
        ));
    }
    Ok(())
}
