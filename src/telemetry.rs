//! Logging setup: one `tracing` subscriber, text or JSON, to standard error.
//!
//! What is logged is decided where it happens (see `http::observe`): never a
//! token, a secret, an `Authorization` header or the request URI (docs/behaviour.md, Logging and redaction).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// The configured filter, with PostgreSQL's notices (sqlx logs them at info,
/// e.g. "relation `_sqlx_migrations` already exists, skipping" on every start)
/// lowered to warnings, unless the filter names sqlx itself.
fn directives(level: &str) -> String {
    if level.contains("sqlx") {
        level.to_owned()
    } else {
        format!("{level},sqlx::postgres::notice=warn")
    }
}

/// Installs the global subscriber. A second call is a no-op.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_new(directives(&settings.level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; none in files and pipes.
        .with_ansi(std::io::stderr().is_terminal());
    // try_init fails only when a subscriber is already set (tests).
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn postgres_notices_are_quiet_unless_sqlx_is_named() {
        assert_eq!(directives("info"), "info,sqlx::postgres::notice=warn");
        assert_eq!(directives("sqlx=debug,info"), "sqlx=debug,info");
    }
}
