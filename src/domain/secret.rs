//! Client secrets and their stored hashes. Neither ever prints its content.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// A client secret in clear, as presented by a caller or just generated.
///
/// `Debug` is redacted so that a secret cannot reach a log line by accident.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Bytes of entropy in a generated secret (at least 256 bits; docs/behaviour.md, Terms).
    pub const GENERATED_BYTES: usize = 32;

    /// Wraps a presented secret.
    #[must_use]
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// A new random secret: 32 bytes from the OS CSPRNG, base64url without padding
    /// (43 URL-safe characters).
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; Self::GENERATED_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The clear value, for hashing or for showing once to an operator.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    /// Wraps a PHC string read from the store; its format is checked when verifying.
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    #[must_use]
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_has_256_bits_in_url_safe_characters() {
        let secret = ClientSecret::generate();
        assert_eq!(secret.expose().len(), 43);
        assert!(
            secret
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(secret.expose(), ClientSecret::generate().expose());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = ClientSecret::new("hunter2-very-secret".to_owned());
        assert!(!format!("{secret:?}").contains("hunter2"));
        let hash = SecretHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned());
        assert!(!format!("{hash:?}").contains("argon2id"));
    }
}
