//! Time is passed in, never read from a global, so tests can move it.

use std::time::Instant;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// A monotonic reading, for lifetimes measured in this process (cache
    /// entries): unlike [`Self::now`] it never goes back when the wall
    /// clock is set back, so nothing cached outlives its time to live.
    fn instant(&self) -> Instant {
        Instant::now()
    }
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

/// The wall clock moved forward by an offset that can grow: a server
/// built with it runs in real time, and a test skips ahead (past a grace
/// period, a token's expiry) with [`Self::advance`] instead of sleeping.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    /// How far ahead of the wall clock, in microseconds.
    ahead_micros: std::sync::atomic::AtomicI64,
}

impl AdjustableClock {
    /// Moves this clock `by` further ahead.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.ahead_micros
            .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AdjustableClock {
    fn ahead_micros(&self) -> i64 {
        self.ahead_micros.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + chrono::Duration::microseconds(self.ahead_micros())
    }

    fn instant(&self) -> Instant {
        let ahead = u64::try_from(self.ahead_micros()).unwrap_or(0);
        Instant::now() + std::time::Duration::from_micros(ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_runs_with_the_wall_clock_and_skips_ahead() {
        let clock = AdjustableClock::default();
        let before = SystemClock.now();
        let start = clock.now();
        assert!(start >= before);
        clock.advance(std::time::Duration::from_secs(3600));
        let later = clock.now();
        assert!(later - start >= chrono::Duration::seconds(3600));
        assert!(later - start < chrono::Duration::seconds(3660));
    }

    #[test]
    fn its_monotonic_reading_skips_ahead_with_it() {
        let clock = AdjustableClock::default();
        let start = clock.instant();
        clock.advance(std::time::Duration::from_secs(60));
        let later = clock.instant();
        assert!(later - start >= std::time::Duration::from_secs(60));
        assert!(later - start < std::time::Duration::from_secs(120));
    }
}
