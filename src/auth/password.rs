//! argon2id hashing and verification of client secrets.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
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

/// Verifies client secrets off the async runtime, at most `concurrency` at a
/// time, so a flood of bad secrets queues behind the semaphore instead of
/// starving the runtime that serves revocations (SPEC §5).
#[derive(Clone)]
pub struct SecretVerifier {
    permits: Arc<Semaphore>,
    /// Verified against when the client is unknown, so that an unknown client
    /// and a wrong secret cost the same time (SPEC §2).
    dummy: SecretHash,
}

impl SecretVerifier {
    /// Builds a verifier; computes the dummy hash once (tens of milliseconds).
    pub fn new(concurrency: usize) -> Result<Self, argon2::password_hash::Error> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: hash_secret(&ClientSecret::generate())?,
        })
    }

    /// Whether `secret` matches `hash`. With `hash = None` the same work is done
    /// against the dummy hash and the answer is `false`. A stored hash that
    /// does not parse also answers `false`: it fails closed.
    pub async fn verify(&self, secret: &ClientSecret, hash: Option<&SecretHash>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let target = hash.unwrap_or(&self.dummy).clone();
        let counts = hash.is_some();
        let secret = secret.clone();
        let span = Span::current();
        let verified = tokio::task::spawn_blocking(move || {
            span.in_scope(|| verify_blocking(&secret, &target))
        })
        .await;
        counts && verified.unwrap_or(false)
    }
}

/// argon2's verification compares the derived key in constant time.
fn verify_blocking(secret: &ClientSecret, hash: &SecretHash) -> bool {
    let Ok(parsed) = PasswordHash::new(hash.as_phc()) else {
        tracing::error!("a stored client secret hash is not a valid PHC string");
        return false;
    };
    Argon2::default()
        .verify_password(secret.expose().as_bytes(), &parsed)
        .is_ok()
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
