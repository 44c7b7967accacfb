//! Logging and trace export: one `tracing` subscriber that writes text or
//! JSON to standard error and, when `tracing.endpoint` is set, exports the
//! server's spans to an OpenTelemetry collector ([`otlp`]).
//!
//! What is logged is decided where it happens (see `http::observe`): never a
//! token, a secret, an `Authorization` header or the request URI (docs/behaviour.md, Logging and redaction).
//! Exported spans carry the same fields as the log lines, so the same rule
//! covers them.

pub mod otlp;
mod propagation;

use std::io::IsTerminal as _;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

pub use otlp::{ExportError, SpanExport};
pub use propagation::{TRACEPARENT, continue_trace};

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

/// Installs the global subscriber: the log, and the span export when there
/// is one. A second call is a no-op.
///
/// `log.level` filters the log alone: spans are exported whatever it is
/// (see [`SpanExport::layer`] for which).
pub fn init(settings: &LogSettings, export: Option<&SpanExport>) {
    let filter =
        EnvFilter::try_new(directives(&settings.level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; none in files and pipes.
        .with_ansi(std::io::stderr().is_terminal());
    let log = match settings.format {
        LogFormat::Text => log.with_filter(filter).boxed(),
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
    };
    // try_init fails only when a subscriber is already set (tests).
    let _ = Registry::default()
        .with(log)
        .with(export.map(SpanExport::layer))
        .try_init();
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
