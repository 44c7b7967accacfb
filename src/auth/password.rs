//! argon2id hashing and verification of client secrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;
use tracing::Span;

use crate::domain::secret::{ClientSecret, SecretHash};

/// Hashes a secret with argon2id at the crate's default cost (RFC 9106's
/// second recommended option: m = 19 MiB, t = 2, p = 1) and a random salt.
///
/// Runs synchronously: it is meant for the CLI, or for the blocking pool.
pub fn hash_secret(secret: &ClientSecret) -> Result<SecretHash, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = Argon2::default().hash_password(secret.expose().as_bytes(), &salt)?;
    Ok(SecretHash::from_phc(phc.to_string()))
}

/// The most argon2 memory one verification may ask for (256 MiB): a stored
/// hash demanding more is refused rather than allowed to exhaust memory.
const MAX_BLOCKS: usize = 256 * 1024;

/// Verifies client secrets off the async runtime, at most `concurrency` at a
/// time, so a flood of bad secrets queues behind the semaphore instead of
/// starving the runtime that serves revocations (docs/behaviour.md, Client authentication).
///
/// Each verification needs argon2's whole memory (19 MiB at the default
/// cost). The verifier keeps one such area per permit and reuses it: letting
/// argon2 allocate per call leaves the freed areas in the allocator's
/// per-thread arenas, and the process grew to hundreds of MiB under a
/// benchmark. With reuse, memory is bounded by `concurrency` areas.
#[derive(Clone)]
pub struct SecretVerifier {
    permits: Arc<Semaphore>,
    /// Idle argon2 memory areas; at most one per permit.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the client is unknown, so that an unknown client
    /// and a wrong secret cost the same time (docs/behaviour.md, Client authentication).
    dummy: SecretHash,
    /// Verifications waiting for a permit (the `argon2` queue depth metric).
    waiting: Arc<AtomicUsize>,
}

impl SecretVerifier {
    /// Builds a verifier; computes the dummy hash once (tens of milliseconds).
    pub fn new(concurrency: usize) -> Result<Self, argon2::password_hash::Error> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::new(Mutex::new(Vec::new())),
            dummy: hash_secret(&ClientSecret::generate())?,
            waiting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// How many verifications are waiting for a permit right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether `secret` matches `hash`. With `hash = None` the same work is done
    /// against the dummy hash and the answer is `false`. A stored hash that
    /// does not parse also answers `false`: it fails closed.
    pub async fn verify(&self, secret: &ClientSecret, hash: Option<&SecretHash>) -> bool {
        let queued = Queued::join(&self.waiting);
        let permit = self.permits.acquire().await;
        drop(queued);
        let Ok(_permit) = permit else {
            return false;
        };
        let target = hash.unwrap_or(&self.dummy).clone();
        let counts = hash.is_some();
        let secret = secret.clone();
        let span = Span::current();
        let pool = self.memory.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let mut memory = pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let verified = span.in_scope(|| verify_blocking(&secret, &target, &mut memory));
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            verified
        })
        .await;
        counts && verified.unwrap_or(false)
    }
}

/// One place in the verification queue; leaves it when dropped, also when
/// the waiting request is cancelled.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Recomputes the hash's derived key for `secret` in `memory` (grown to the
/// hash's memory cost on first use) and compares the keys in constant time.
/// Anything unparsable fails closed.
fn verify_blocking(secret: &ClientSecret, hash: &SecretHash, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash.as_phc()) else {
        tracing::error!("a stored client secret hash is not a valid PHC string");
        return false;
    };
    let (Some(salt), Some(expected), Ok(algorithm), Ok(params)) = (
        parsed.salt,
        parsed.hash,
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        tracing::error!("a stored client secret hash is not an argon2 hash");
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        tracing::error!("a stored client secret hash asks for too much memory");
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0; 64];
    let mut derived = [0; 64];
    let (Ok(salt), Some(derived)) = (
        salt.decode_b64(&mut salt_bytes),
        derived.get_mut(..expected.len()),
    ) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            secret.expose().as_bytes(),
            salt,
            derived,
            &mut memory[..blocks],
        )
        .is_ok()
        && bool::from(derived.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_secret_verifies_and_a_wrong_one_does_not() {
        let verifier = SecretVerifier::new(2).map_err(|e| e.to_string());
        let secret = ClientSecret::new("correct horse: battery staple".to_owned());
        let hash = hash_secret(&secret).map_err(|e| e.to_string());
        let (Ok(verifier), Ok(hash)) = (verifier, hash) else {
            panic!("hashing failed")
        };
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verifier.verify(&secret, Some(&hash)).await);
        assert!(
            !verifier
                .verify(&ClientSecret::new("correct horse".to_owned()), Some(&hash))
                .await
        );
    }

    #[tokio::test]
    async fn an_unknown_client_never_verifies_even_with_the_dummy_secret() {
        let Ok(verifier) = SecretVerifier::new(1) else {
            panic!("hashing failed")
        };
        assert!(!verifier.verify(&ClientSecret::generate(), None).await);
    }

    /// One memory area serves hashes of different costs in turn.
    #[tokio::test]
    async fn reused_memory_verifies_hashes_of_any_cost() {
        let Ok(verifier) = SecretVerifier::new(1) else {
            panic!("hashing failed")
        };
        let secret = ClientSecret::new("s3cret".to_owned());
        let salt = SaltString::generate(&mut OsRng);
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap_or_else(|e| panic!("{e}")),
        )
        .hash_password(b"s3cret", &salt)
        .map_or_else(|e| panic!("{e}"), |h| SecretHash::from_phc(h.to_string()));
        let default = hash_secret(&secret).unwrap_or_else(|e| panic!("{e}"));
        for hash in [&cheap, &default, &cheap, &default] {
            assert!(verifier.verify(&secret, Some(hash)).await);
            let wrong = ClientSecret::new("s3cres".to_owned());
            assert!(!verifier.verify(&wrong, Some(hash)).await);
        }
        assert_eq!(verifier.memory.lock().map_or(0, |m| m.len()), 1);
    }

    #[tokio::test]
    async fn a_hash_asking_for_too_much_memory_fails_closed() {
        let Ok(verifier) = SecretVerifier::new(1) else {
            panic!("hashing failed")
        };
        let secret = ClientSecret::new("s3cret".to_owned());
        let real = hash_secret(&secret).unwrap_or_else(|e| panic!("{e}"));
        let greedy = real.as_phc().replace("m=19456", "m=4194304");
        assert_ne!(greedy, real.as_phc());
        let greedy = SecretHash::from_phc(greedy);
        assert!(!verifier.verify(&secret, Some(&greedy)).await);
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_fails_closed() {
        let Ok(verifier) = SecretVerifier::new(1) else {
            panic!("hashing failed")
        };
        let corrupt = SecretHash::from_phc("not a phc string".to_owned());
        assert!(
            !verifier
                .verify(&ClientSecret::new("x".to_owned()), Some(&corrupt))
                .await
        );
    }
}
