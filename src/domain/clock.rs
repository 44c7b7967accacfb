//! Time is passed in, never read from a global, so tests can move it.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock. The only place allowed to call `Utc::now()` (see `clippy.toml`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one sanctioned wall-clock read"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
