//! Abuse control (RFC 6749 §2.3.1 brute force, RFC 7009 §5 denial of
//! service): per-address and per-client request limits, and a lockout after
//! repeated failed client authentications.
//!
//! Counting is `governor`'s (GCRA, one state per key); lockouts are kept in
//! [`lockouts`], keys are made in [`keys`].

mod keys;
mod lockouts;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

pub use self::keys::address_key;
use self::keys::{OVERFLOW_ADDRESS, key_for_id};
use self::lockouts::{Lockouts, MAX_LOCKOUTS};

/// Keys one counter holds at most. Past it (after dropping idle ones), a
/// caller not yet known is counted in one shared overflow key instead, so no
/// flood of invented client ids or addresses can grow memory without bound.
const MAX_KEYS: usize = 100_000;

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
    /// Failed authentications of a client id from an address.
    pair_lockouts: Lockouts<(String, IpAddr)>,
    /// Failed authentications from an address, any client id.
    address_lockouts: Lockouts<IpAddr>,
    /// Failed secret-scanner signatures from an address.
    signature_lockouts: Lockouts<IpAddr>,
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
            pair_lockouts: Lockouts::new(MAX_LOCKOUTS),
            address_lockouts: Lockouts::new(MAX_LOCKOUTS),
            signature_lockouts: Lockouts::new(MAX_LOCKOUTS),
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
            self.locked(&self.address_lockouts, &address, "failed_auth_address")?;
            if let Some(id) = client_id {
                self.locked(
                    &self.pair_lockouts,
                    &(key_for_id(id), address),
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
        self.locked(
            &self.signature_lockouts,
            &address,
            "failed_signature_address",
        )
    }

    /// Records a secret-scanner report whose signature was missing, by an
    /// unknown key, or wrong.
    pub fn failed_signature(&self, address: IpAddr) {
        let address = address_key(address);
        if let Some(limiter) = &self.failed_signatures_by_address
            && exhausted(
                limiter,
                &self.failure_key(limiter, address, OVERFLOW_ADDRESS),
            )
        {
            self.signature_lockouts
                .lock(address, self.clock.now(), SIGNATURE_WINDOW);
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
                self.pair_lockouts
                    .lock(key, self.clock.now(), self.settings.window);
            }
        }
        if let Some(limiter) = &self.failures_by_address
            && exhausted(
                limiter,
                &self.failure_key(limiter, address, OVERFLOW_ADDRESS),
            )
        {
            self.address_lockouts
                .lock(address, self.clock.now(), self.settings.window);
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
        self.pair_lockouts.forget_ended(now);
        self.address_lockouts.forget_ended(now);
        self.signature_lockouts.forget_ended(now);
    }

    /// The configured window (how often [`Self::forget_idle`] should run).
    #[must_use]
    pub const fn window(&self) -> Duration {
        self.settings.window
    }

    fn locked<K: std::hash::Hash + Eq>(
        &self,
        lockouts: &Lockouts<K>,
        key: &K,
        limit: &'static str,
    ) -> Result<(), Refusal> {
        match lockouts.remaining(key, self.clock.now()) {
            Some(retry_after) => Err(Refusal { limit, retry_after }),
            None => Ok(()),
        }
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

#[cfg(test)]
mod tests;
