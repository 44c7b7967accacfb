//! Recently verified client credentials, so that a logout storm from a
//! confidential client does not pay an argon2 verification per request.
//!
//! After a successful verification the cache keeps, per client, an HMAC of the
//! presented secret under a key drawn at start and never stored, the client's
//! kind, and the `credentials_revision` it was verified at. A later request
//! with the same secret is authenticated by recomputing the HMAC (constant-time
//! comparison). Failures are never cached: a wrong secret always pays argon2,
//! behind the verifier's concurrency limit.
//!
//! A hit is only provisional. The store's revocation checks the presenter's
//! revision in the same statement that revokes (see
//! [`RevocationOutcome::StalePresenter`](crate::domain::revocation::RevocationOutcome)),
//! so a client rotated or disabled on any instance loses its cached
//! credentials at once, without a message between instances. The time to
//! live only bounds how long a secret's HMAC stays in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::domain::client::{ClientId, ClientKind};
use crate::domain::clock::Clock;
use crate::domain::presenter::Presenter;
use crate::domain::secret::ClientSecret;

type Fingerprint = [u8; 32];

/// What was verified for one client.
struct Entry {
    kind: ClientKind,
    revision: i64,
    resource_server: bool,
    /// `None` for a public client, which presents no secret.
    fingerprint: Option<Fingerprint>,
    verified_at: Instant,
}

/// A bounded map from client id to its last verified credentials.
pub struct CredentialCache {
    /// Entries' ages are read from its monotonic reading.
    clock: Arc<dyn Clock>,
    /// One SHA-256 block: HMAC uses a key of this size as it is.
    key: [u8; 64],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<ClientId, Entry>>,
    /// Verifications under way, by client and presented secret.
    in_flight: Mutex<HashMap<(ClientId, Fingerprint), Gate>>,
}

/// Held by the request verifying a secret; the others wait on it.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// A caller's turn to verify credentials that others may be verifying too
/// (see [`CredentialCache::take_turn`]). Ends when dropped.
pub struct Turn<'a> {
    cache: &'a CredentialCache,
    key: (ClientId, Fingerprint),
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's handle and ours: nobody else is waiting, forget the gate.
        if in_flight
            .get(&self.key)
            .is_some_and(|gate| Arc::strong_count(gate) <= 2)
        {
            in_flight.remove(&self.key);
        }
    }
}

impl CredentialCache {
    /// A cache keeping entries for `ttl` (zero disables it), at most `capacity`.
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        let mut key = [0; 64];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self {
            clock,
            key,
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `entry` was verified within the time to live at `now`.
    fn is_fresh(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.verified_at) < self.ttl
    }

    /// Waits until no other request is verifying this very secret for this
    /// client. When a confidential client's workers all log out at once
    /// (after a deploy, say), the first request verifies and the rest then
    /// find the result with [`Self::recall`], instead of each paying argon2.
    /// Different secrets never wait for each other, so a flood of wrong
    /// secrets for a client does not queue that client's right one here.
    pub async fn take_turn(&self, id: &ClientId, secret: &ClientSecret) -> Turn<'_> {
        let key = (id.clone(), self.fingerprint(secret));
        let gate = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        Turn {
            cache: self,
            key,
            _held: gate.lock_owned().await,
        }
    }

    /// The presenter `id` was verified as, if `secret` is the one verified
    /// (or both are absent, for a public client) within the time to live.
    pub fn recall(&self, id: &ClientId, secret: Option<&ClientSecret>) -> Option<Presenter> {
        if self.ttl.is_zero() {
            return None;
        }
        let presented = secret.map(|secret| self.fingerprint(secret));
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(id)?;
        let fresh = self.is_fresh(entry, self.clock.instant());
        let matches = match (&entry.fingerprint, &presented) {
            (Some(stored), Some(presented)) => bool::from(stored.ct_eq(presented)),
            (None, None) => true,
            _ => false,
        };
        (fresh && matches).then(|| Presenter::Client {
            id: id.clone(),
            kind: entry.kind,
            revision: entry.revision,
            resource_server: entry.resource_server,
        })
    }

    /// Records a successful authentication of `presenter` with `secret`.
    pub fn remember(&self, presenter: &Presenter, secret: Option<&ClientSecret>) {
        let Presenter::Client {
            id,
            kind,
            revision,
            resource_server,
        } = presenter
        else {
            return;
        };
        if self.ttl.is_zero() {
            return;
        }
        let verified = Entry {
            kind: *kind,
            revision: *revision,
            resource_server: *resource_server,
            fingerprint: secret.map(|secret| self.fingerprint(secret)),
            verified_at: self.clock.instant(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            let now = self.clock.instant();
            entries.retain(|_, entry| self.is_fresh(entry, now));
            if entries.len() >= self.capacity {
                // Still full of live entries: this client pays argon2 until
                // some expire. Only verified clients get in, so the bound is
                // reached by configuration (many clients), never by an attacker.
                return;
            }
        }
        entries.insert(id.clone(), verified);
    }

    /// Drops what is known of a presenter (its credentials went stale).
    pub fn forget(&self, presenter: &Presenter) {
        if let Some(id) = presenter.client_id() {
            self.entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
        }
    }

    fn fingerprint(&self, secret: &ClientSecret) -> Fingerprint {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.key.into());
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{AdjustableClock, SystemClock};

    fn client(name: &str) -> ClientId {
        ClientId::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn confidential(id: &ClientId, revision: i64) -> Presenter {
        Presenter::Client {
            id: id.clone(),
            kind: ClientKind::Confidential,
            revision,
            resource_server: false,
        }
    }

    #[test]
    fn only_the_verified_secret_is_recalled() {
        let cache = CredentialCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        let id = client("backend");
        let secret = ClientSecret::new("s3cret".to_owned());
        cache.remember(&confidential(&id, 4), Some(&secret));

        assert_eq!(cache.recall(&id, Some(&secret)), Some(confidential(&id, 4)));
        let wrong = ClientSecret::new("s3cres".to_owned());
        assert_eq!(cache.recall(&id, Some(&wrong)), None);
        assert_eq!(cache.recall(&id, None), None, "no secret is not the secret");
        assert_eq!(cache.recall(&client("other"), Some(&secret)), None);
    }

    #[test]
    fn a_public_client_is_recalled_without_a_secret_and_not_with_one() {
        let cache = CredentialCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        let id = client("spa");
        let public = Presenter::Client {
            id: id.clone(),
            kind: ClientKind::Public,
            revision: 0,
            resource_server: false,
        };
        cache.remember(&public, None);
        assert_eq!(cache.recall(&id, None), Some(public));
        let secret = ClientSecret::new("guess".to_owned());
        assert_eq!(cache.recall(&id, Some(&secret)), None);
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let secret = ClientSecret::new("s3cret".to_owned());
        let id = client("backend");

        let clock = Arc::new(AdjustableClock::default());
        let expiring = CredentialCache::new(Duration::from_secs(60), 10, clock.clone());
        expiring.remember(&confidential(&id, 0), Some(&secret));
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            expiring.recall(&id, Some(&secret)),
            Some(confidential(&id, 0))
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            expiring.recall(&id, Some(&secret)),
            None,
            "past its time to live"
        );

        let cache = CredentialCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        cache.remember(&confidential(&id, 0), Some(&secret));
        cache.forget(&confidential(&id, 0));
        assert_eq!(cache.recall(&id, Some(&secret)), None);
    }

    #[tokio::test]
    async fn turns_for_one_secret_are_taken_one_at_a_time_and_then_forgotten() {
        let cache = CredentialCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        let id = client("backend");
        let secret = ClientSecret::new("s3cret".to_owned());
        let other = ClientSecret::new("other".to_owned());
        let first = cache.take_turn(&id, &secret).await;
        // Another secret for the same client does not wait.
        let unrelated =
            tokio::time::timeout(Duration::from_secs(5), cache.take_turn(&id, &other)).await;
        assert!(unrelated.is_ok());
        drop(unrelated);
        // The same secret waits until the first turn ends.
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), cache.take_turn(&id, &secret)).await;
        assert!(
            waiting.is_err(),
            "a second turn started while the first was held"
        );
        drop(first);
        let second =
            tokio::time::timeout(Duration::from_secs(5), cache.take_turn(&id, &secret)).await;
        assert!(second.is_ok());
        drop(second);
        assert!(
            cache.in_flight.lock().is_ok_and(|m| m.is_empty()),
            "gates are forgotten"
        );
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = CredentialCache::new(Duration::ZERO, 10, Arc::new(SystemClock));
        let id = client("backend");
        let secret = ClientSecret::new("s3cret".to_owned());
        cache.remember(&confidential(&id, 0), Some(&secret));
        assert_eq!(cache.recall(&id, Some(&secret)), None);
    }

    #[test]
    fn a_full_cache_admits_no_new_client_until_entries_expire() {
        let cache = CredentialCache::new(Duration::from_secs(60), 2, Arc::new(SystemClock));
        let secret = ClientSecret::new("s3cret".to_owned());
        for name in ["a", "b", "c"] {
            cache.remember(&confidential(&client(name), 0), Some(&secret));
        }
        assert!(cache.recall(&client("a"), Some(&secret)).is_some());
        assert!(cache.recall(&client("b"), Some(&secret)).is_some());
        assert_eq!(cache.recall(&client("c"), Some(&secret)), None);
        // An existing client's entry is still refreshed when full.
        cache.remember(&confidential(&client("a"), 1), Some(&secret));
        assert_eq!(
            cache.recall(&client("a"), Some(&secret)),
            Some(confidential(&client("a"), 1))
        );
    }
}
