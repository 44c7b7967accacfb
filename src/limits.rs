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

/// Keys one counter holds at most. Past it (after dropping idle ones), a
/// caller not yet known is counted in one shared overflow key instead, so no
/// flood of invented client ids or addresses can grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// The longest client id worth a key of its own: a longer one cannot be a
/// registered client (see `ClientId`), so all of them share one key.
const MAX_KEYED_ID: usize = 255;

/// The window of the failed-signature budget, and how long an address that
/// used it up is refused.
const SIGNATURE_WINDOW: Duration = Duration::from_secs(60);

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
    /// Secret-scanner reports per address per minute whose signature is
    /// missing or does not verify; then `429` for a minute.
    pub failed_signatures_per_minute: u32,
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
    /// Failed secret-scanner signatures from an address.
    Signatures(IpAddr),
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
    failed_signatures_by_address: Option<Keyed<IpAddr>>,
    lockouts: Mutex<HashMap<LockKey, Instant>>,
    /// When a full counter was last pruned (see [`Self::has_room`]).
    last_prune: Mutex<Instant>,
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
            failed_signatures_by_address: keyed(
                settings.failed_signatures_per_minute,
                SIGNATURE_WINDOW,
            ),
            lockouts: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// Checks a request before any work: the request limits (spending one
    /// cell each) and, for a request that carries a secret, the
    /// failed-authentication lockouts. `client_id` is the raw identifier the
    /// request names, if any.
    ///
    /// A lockout refuses only further attempts to authenticate with a secret:
    /// a revocation that needs no secret (anonymous, or a public client's id)
    /// still goes through from a locked-out address. Refusing it would protect
    /// nothing (the holder could leave the credentials out), and would let
    /// whoever shares the address (a NAT, a proxy) block everyone's logout.
    pub fn admit(
        &self,
        address: IpAddr,
        client_id: Option<&str>,
        carries_secret: bool,
    ) -> Result<(), Refusal> {
        let address = address_key(address);
        if carries_secret {
            self.locked(&LockKey::Address(address), "failed_auth_address")?;
            if let Some(id) = client_id {
                self.locked(
                    &LockKey::Pair(key_for_id(id), address),
                    "failed_auth_client",
                )?;
            }
        }
        if let Some(limiter) = &self.requests_by_address {
            self.spend(limiter, &address, "requests_address")?;
        }
        if let (Some(limiter), Some(id)) = (&self.requests_by_client, client_id) {
            self.spend(limiter, &key_for_id(id), "requests_client")?;
        }
        Ok(())
    }

    /// Checks an unauthenticated bulk report (`POST /credentials/revoke`)
    /// against its own, tight, per-address limit.
    pub fn admit_public_report(&self, address: IpAddr) -> Result<(), Refusal> {
        let address = address_key(address);
        match &self.public_reports_by_address {
            Some(limiter) => self.spend(limiter, &address, "public_reports_address"),
            None => Ok(()),
        }
    }

    /// Checks a secret-scanner report before its body is read: an address
    /// that used up its budget of failed signatures is refused for a minute,
    /// so it cannot make the server read 4 MiB bodies it will refuse.
    pub fn admit_signed_report(&self, address: IpAddr) -> Result<(), Refusal> {
        let address = address_key(address);
        self.locked(&LockKey::Signatures(address), "failed_signature_address")
    }

    /// Records a secret-scanner report whose signature was missing, by an
    /// unknown key, or wrong.
    pub fn failed_signature(&self, address: IpAddr) {
        let address = address_key(address);
        if let Some(limiter) = &self.failed_signatures_by_address
            && exhausted(limiter, &address)
        {
            self.lock(LockKey::Signatures(address), SIGNATURE_WINDOW);
        }
    }

    /// Records a failed authentication with a secret. When it uses up a
    /// budget, the key is locked out for one whole window: the next attempt
    /// with a secret gets `429` without being verified.
    pub fn failed_authentication(&self, address: IpAddr, client_id: Option<&str>) {
        let address = address_key(address);
        if let (Some(limiter), Some(id)) = (&self.failures_by_pair, client_id) {
            let key = (key_for_id(id), address);
            if exhausted(
                limiter,
                &self.failure_key(limiter, key.clone(), (String::new(), address)),
            ) {
                self.lock(LockKey::Pair(key.0, address), self.settings.window);
            }
        }
        if let Some(limiter) = &self.failures_by_address
            && exhausted(
                limiter,
                &self.failure_key(limiter, address, OVERFLOW_ADDRESS),
            )
        {
            self.lock(LockKey::Address(address), self.settings.window);
        }
    }

    /// Forgets idle rate-limit state (call once per window).
    pub fn forget_idle(&self) {
        forget_idle(self.failures_by_pair.as_ref());
        forget_idle(self.failures_by_address.as_ref());
        forget_idle(self.requests_by_address.as_ref());
        forget_idle(self.requests_by_client.as_ref());
        forget_idle(self.public_reports_by_address.as_ref());
        forget_idle(self.failed_signatures_by_address.as_ref());
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

    fn lock(&self, key: LockKey, duration: Duration) {
        let now = self.clock.now();
        let until = now + duration;
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

    /// Spends a cell of a request limit. When the counter is full of
    /// callers even after dropping idle ones, a caller it does not hold yet
    /// is let through uncounted: a request limit fails open (never refusing
    /// everyone because someone invented many addresses or ids), while the
    /// failure counters fail closed (see [`Self::failure_key`]).
    fn spend<K: Clone + std::hash::Hash + Eq>(
        &self,
        limiter: &Keyed<K>,
        key: &K,
        limit: &'static str,
    ) -> Result<(), Refusal> {
        if !self.has_room(limiter) {
            return Ok(());
        }
        limiter
            .check_key(key)
            .map(|_| ())
            .map_err(|not_until| Refusal {
                limit,
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// `key`, or `overflow` when the counter is full: failures of callers
    /// it cannot hold are counted together, so a flood can only make the
    /// lockouts stricter, never looser, and never larger in memory.
    fn failure_key<K: Clone + std::hash::Hash + Eq>(
        &self,
        limiter: &Keyed<K>,
        key: K,
        overflow: K,
    ) -> K {
        if self.has_room(limiter) {
            key
        } else {
            overflow
        }
    }

    /// Whether `limiter` holds fewer than [`MAX_KEYS`] keys, dropping idle
    /// ones first when it is full (at most once a second, since that walks
    /// every key).
    fn has_room<K: Clone + std::hash::Hash + Eq>(&self, limiter: &Keyed<K>) -> bool {
        if limiter.len() < MAX_KEYS {
            return true;
        }
        let now = Instant::now();
        {
            let mut last = self
                .last_prune
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if now.duration_since(*last) < Duration::from_secs(1) {
                return false;
            }
            *last = now;
        }
        limiter.retain_recent();
        let room = limiter.len() < MAX_KEYS;
        if !room {
            tracing::warn!("a rate-limit counter is full of recent callers");
        }
        room
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

/// The address every caller shares in a failure counter that is full.
const OVERFLOW_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The key an address is counted under: an IPv4 address as it is (an
/// IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64, since one
/// host commonly holds a whole /64 and could otherwise pick a fresh
/// address, and a fresh budget, for every attempt.
#[must_use]
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            },
            IpAddr::V4,
        ),
    }
}

/// A client id as a counter key: a longer id than any client may have is
/// one shared key, so a key is never longer than [`MAX_KEYED_ID`] bytes.
fn key_for_id(id: &str) -> String {
    if id.len() <= MAX_KEYED_ID {
        id.to_owned()
    } else {
        "\u{0}too long".to_owned()
    }
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
            failed_signatures_per_minute: 0,
        }
    }

    const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    #[test]
    fn the_pair_is_locked_out_after_its_budget_of_failures_and_only_that_pair() {
        let limiter = Limiter::new(settings());
        for _ in 0..3 {
            assert_eq!(limiter.admit(ADDRESS, Some("app"), true), Ok(()));
            limiter.failed_authentication(ADDRESS, Some("app"));
        }
        let refusal = limiter.admit(ADDRESS, Some("app"), true);
        assert!(
            matches!(refusal, Err(Refusal { limit: "failed_auth_client", retry_after }) if retry_after > Duration::from_secs(58)),
            "{refusal:?}"
        );
        assert_eq!(
            limiter.admit(OTHER, Some("app"), true),
            Ok(()),
            "another address"
        );
        assert_eq!(
            limiter.admit(ADDRESS, Some("other-app"), true),
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
            limiter.admit(ADDRESS, Some("fresh"), true),
            Err(Refusal {
                limit: "failed_auth_address",
                ..
            })
        ));
        assert!(matches!(
            limiter.admit(ADDRESS, None, true),
            Err(Refusal {
                limit: "failed_auth_address",
                ..
            })
        ));
    }

    #[test]
    fn a_lockout_refuses_only_requests_that_carry_a_secret() {
        let limiter = Limiter::new(settings());
        for n in 0..5 {
            limiter.failed_authentication(ADDRESS, Some(&format!("guess-{n}")));
        }
        assert!(limiter.admit(ADDRESS, Some("guess-0"), true).is_err());
        assert_eq!(limiter.admit(ADDRESS, None, false), Ok(()), "anonymous");
        assert_eq!(
            limiter.admit(ADDRESS, Some("guess-0"), false),
            Ok(()),
            "a public client's bare id"
        );
    }

    #[test]
    fn failed_signatures_refuse_the_address_after_their_budget_and_only_it() {
        let limiter = Limiter::new(LimitSettings {
            failed_signatures_per_minute: 3,
            ..settings()
        });
        for _ in 0..3 {
            assert_eq!(limiter.admit_signed_report(ADDRESS), Ok(()));
            limiter.failed_signature(ADDRESS);
        }
        assert!(matches!(
            limiter.admit_signed_report(ADDRESS),
            Err(Refusal {
                limit: "failed_signature_address",
                ..
            })
        ));
        assert_eq!(limiter.admit_signed_report(OTHER), Ok(()));
        assert_eq!(
            limiter.admit(ADDRESS, Some("app"), true),
            Ok(()),
            "revocations go on"
        );
    }

    #[test]
    fn counters_never_hold_more_than_their_bound_of_keys() {
        let limiter = Limiter::new(LimitSettings {
            requests_per_client: 1_000,
            ..settings()
        });
        let Some(by_client) = &limiter.requests_by_client else {
            panic!("the per-client limit is on");
        };
        for n in 0..MAX_KEYS + 500 {
            assert_eq!(
                limiter.admit(ADDRESS, Some(&format!("invented-{n}")), false),
                Ok(()),
                "a full request counter fails open"
            );
        }
        assert!(by_client.len() <= MAX_KEYS, "{}", by_client.len());
        // An id longer than any client's is one shared key, whatever its length.
        let long = "x".repeat(16 * 1024);
        assert_eq!(key_for_id(&long), key_for_id(&"y".repeat(300)));
        assert!(key_for_id(&long).len() <= MAX_KEYED_ID);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let host =
            |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        assert_eq!(address_key(host(1)), address_key(host(0xffff)));
        assert_ne!(
            address_key(host(1)),
            address_key(IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 0, 2, 0, 0, 0, 1
            )))
        );
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(address_key(mapped), ADDRESS);
        // Failures spread over a /64 lock the whole /64 out.
        let limiter = Limiter::new(settings());
        for n in 0..5 {
            limiter.failed_authentication(host(n), Some(&format!("guess-{n}")));
        }
        assert!(limiter.admit(host(0x1234), Some("fresh"), true).is_err());
    }

    #[test]
    fn request_limits_are_off_at_zero_and_refuse_past_their_budget() {
        let limiter = Limiter::new(LimitSettings {
            requests_per_address: 2,
            ..settings()
        });
        assert_eq!(limiter.admit(ADDRESS, None, true), Ok(()));
        assert_eq!(limiter.admit(ADDRESS, None, true), Ok(()));
        assert!(matches!(
            limiter.admit(ADDRESS, None, true),
            Err(Refusal {
                limit: "requests_address",
                ..
            })
        ));
        let unlimited = Limiter::new(settings());
        for _ in 0..1000 {
            assert_eq!(unlimited.admit(ADDRESS, Some("app"), true), Ok(()));
        }
    }
}
