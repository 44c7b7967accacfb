//! Abuse control (RFC 6749 §2.3.1 brute force, RFC 7009 §5 denial of
//! service): per-address and per-client request limits, and a lockout after
//! repeated failed client authentications.
//!
//! Counting is `governor`'s (GCRA, one state per key). A lockout is kept here:
//! governor can only answer "may this one more go through?" by spending a
//! cell, and the lockout must refuse an attempt *before* its argon2
//! verification runs, while successful attempts spend nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Locked-out keys remembered at most; beyond it, expired ones are dropped
/// first, and a new lockout that still does not fit is skipped (and logged).
const MAX_LOCKOUTS: usize = 100_000;

/// The limits, from configuration. A count of zero turns that limit off.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub window: Duration,
    /// Failed client authentications per (`client_id`, address) per window.
    pub failed_auth_per_client: u32,
    /// Failed client authentications per address per window, any client id.
    pub failed_auth_per_address: u32,
    /// Requests per address per window.
    pub requests_per_address: u32,
    /// Requests per `client_id` per window.
    pub requests_per_client: u32,
    /// `POST /credentials/revoke` requests per address per minute.
    pub public_reports_per_minute: u32,
}

/// A refusal: which limit, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: &'static str,
    pub retry_after: Duration,
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// What a lockout is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Pair(String, IpAddr),
    Address(IpAddr),
}

/// All limits of one instance (they are not shared between instances: each
/// counts what it sees, so N instances allow up to N times the limit).
pub struct Limiter {
    settings: LimitSettings,
    clock: DefaultClock,
    failures_by_pair: Option<Keyed<(String, IpAddr)>>,
    failures_by_address: Option<Keyed<IpAddr>>,
    requests_by_address: Option<Keyed<IpAddr>>,
    requests_by_client: Option<Keyed<String>>,
    public_reports_by_address: Option<Keyed<IpAddr>>,
    lockouts: Mutex<HashMap<LockKey, Instant>>,
}

impl Limiter {
    #[must_use]
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings,
            clock: DefaultClock::default(),
            failures_by_pair: keyed(settings.failed_auth_per_client, settings.window),
            failures_by_address: keyed(settings.failed_auth_per_address, settings.window),
            requests_by_address: keyed(settings.requests_per_address, settings.window),
            requests_by_client: keyed(settings.requests_per_client, settings.window),
            public_reports_by_address: keyed(
                settings.public_reports_per_minute,
                Duration::from_secs(60),
            ),
            lockouts: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a request before any work: the request limits (spending one
    /// cell each) and the failed-authentication lockouts. `client_id` is the
    /// raw identifier the request names, if any.
    pub fn admit(&self, address: IpAddr, client_id: Option<&str>) -> Result<(), Refusal> {
        self.locked(&LockKey::Address(address), "failed_auth_address")?;
        if let Some(id) = client_id {
            self.locked(&LockKey::Pair(id.to_owned(), address), "failed_auth_client")?;
        }
        if let Some(limiter) = &self.requests_by_address {
            self.spend(limiter, &address, "requests_address")?;
        }
        if let (Some(limiter), Some(id)) = (&self.requests_by_client, client_id) {
            self.spend(limiter, &id.to_owned(), "requests_client")?;
        }
        Ok(())
    }

    /// Checks an unauthenticated bulk report (`POST /credentials/revoke`)
    /// against its own, tight, per-address limit.
    pub fn admit_public_report(&self, address: IpAddr) -> Result<(), Refusal> {
        match &self.public_reports_by_address {
            Some(limiter) => self.spend(limiter, &address, "public_reports_address"),
            None => Ok(()),
        }
    }

    /// Records a failed client authentication. When it uses up a budget, the
    /// key is locked out for one whole window: the next attempt gets `429`
    /// without being verified.
    pub fn failed_authentication(&self, address: IpAddr, client_id: Option<&str>) {
        if let (Some(limiter), Some(id)) = (&self.failures_by_pair, client_id) {
            let key = (id.to_owned(), address);
            if exhausted(limiter, &key) {
                self.lock(LockKey::Pair(key.0, address));
            }
        }
        if let Some(limiter) = &self.failures_by_address
            && exhausted(limiter, &address)
        {
            self.lock(LockKey::Address(address));
        }
    }

    /// Forgets idle rate-limit state (call once per window).
    pub fn forget_idle(&self) {
        forget_idle(self.failures_by_pair.as_ref());
        forget_idle(self.failures_by_address.as_ref());
        forget_idle(self.requests_by_address.as_ref());
        forget_idle(self.requests_by_client.as_ref());
        forget_idle(self.public_reports_by_address.as_ref());
        let now = self.clock.now();
        self.lockouts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }

    /// The configured window (how often [`Self::forget_idle`] should run).
    #[must_use]
    pub const fn window(&self) -> Duration {
        self.settings.window
    }

    fn locked(&self, key: &LockKey, limit: &'static str) -> Result<(), Refusal> {
        let now = self.clock.now();
        let lockouts = self.lockouts.lock().unwrap_or_else(PoisonError::into_inner);
        match lockouts.get(key) {
            Some(until) if *until > now => Err(Refusal {
                limit,
                retry_after: *until - now,
            }),
            _ => Ok(()),
        }
    }

    fn lock(&self, key: LockKey) {
        let now = self.clock.now();
        let until = now + self.settings.window;
        let mut lockouts = self.lockouts.lock().unwrap_or_else(PoisonError::into_inner);
        if lockouts.len() >= MAX_LOCKOUTS {
            lockouts.retain(|_, until| *until > now);
        }
        if lockouts.len() >= MAX_LOCKOUTS && !lockouts.contains_key(&key) {
            tracing::warn!("too many lockouts at once; this one is not recorded");
            return;
        }
        lockouts.insert(key, until);
    }

    fn spend<K: Clone + std::hash::Hash + Eq>(
        &self,
        limiter: &Keyed<K>,
        key: &K,
        limit: &'static str,
    ) -> Result<(), Refusal> {
        limiter
            .check_key(key)
            .map(|_| ())
            .map_err(|not_until| Refusal {
                limit,
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}

/// A keyed limiter of `count` per `window`, bursts up to `count`; `None` off.
fn keyed<K: Clone + std::hash::Hash + Eq>(count: u32, window: Duration) -> Option<Keyed<K>> {
    let count = NonZeroU32::new(count)?;
    let quota = Quota::with_period(window / count.get())?.allow_burst(count);
    Some(RateLimiter::hashmap(quota).with_middleware::<StateInformationMiddleware>())
}

fn forget_idle<K: Clone + std::hash::Hash + Eq>(limiter: Option<&Keyed<K>>) {
    if let Some(limiter) = limiter {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// Spends one cell for `key`; true when none is left after it (or none was).
fn exhausted<K: Clone + std::hash::Hash + Eq>(limiter: &Keyed<K>, key: &K) -> bool {
    limiter
        .check_key(key)
        .map_or(true, |snapshot| snapshot.remaining_burst_capacity() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            window: Duration::from_secs(60),
            failed_auth_per_client: 3,
            failed_auth_per_address: 5,
            requests_per_address: 0,
            requests_per_client: 0,
            public_reports_per_minute: 0,
        }
    }

    const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    #[test]
    fn the_pair_is_locked_out_after_its_budget_of_failures_and_only_that_pair() {
        let limiter = Limiter::new(settings());
        for _ in 0..3 {
            assert_eq!(limiter.admit(ADDRESS, Some("app")), Ok(()));
            limiter.failed_authentication(ADDRESS, Some("app"));
        }
        let refusal = limiter.admit(ADDRESS, Some("app"));
        assert!(
            matches!(refusal, Err(Refusal { limit: "failed_auth_client", retry_after }) if retry_after > Duration::from_secs(58)),
            "{refusal:?}"
        );
        assert_eq!(limiter.admit(OTHER, Some("app")), Ok(()), "another address");
        assert_eq!(
            limiter.admit(ADDRESS, Some("other-app")),
            Ok(()),
            "another client"
        );
    }

    #[test]
    fn an_address_spraying_client_ids_is_locked_out_by_its_own_budget() {
        let limiter = Limiter::new(settings());
        for n in 0..5 {
            limiter.failed_authentication(ADDRESS, Some(&format!("guess-{n}")));
        }
        assert!(matches!(
            limiter.admit(ADDRESS, Some("fresh")),
            Err(Refusal {
                limit: "failed_auth_address",
                ..
            })
        ));
        assert!(matches!(
            limiter.admit(ADDRESS, None),
            Err(Refusal {
                limit: "failed_auth_address",
                ..
            })
        ));
    }

    #[test]
    fn request_limits_are_off_at_zero_and_refuse_past_their_budget() {
        let limiter = Limiter::new(LimitSettings {
            requests_per_address: 2,
            ..settings()
        });
        assert_eq!(limiter.admit(ADDRESS, None), Ok(()));
        assert_eq!(limiter.admit(ADDRESS, None), Ok(()));
        assert!(matches!(
            limiter.admit(ADDRESS, None),
            Err(Refusal {
                limit: "requests_address",
                ..
            })
        ));
        let unlimited = Limiter::new(settings());
        for _ in 0..1000 {
            assert_eq!(unlimited.admit(ADDRESS, Some("app")), Ok(()));
        }
    }
}
