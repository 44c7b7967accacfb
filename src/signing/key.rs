//! One private signing key, read from PEM: an RSA key (PKCS#8 or PKCS#1) of
//! 2,048 bits at least for RS256, or an ECDSA P-256 key (PKCS#8) for ES256.
//! ring checks the key as it loads it and makes every signature; the key
//! type decides the algorithm.

use jsonwebtoken::EncodingKey;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rsa::pkcs8::PrivateKeyInfo;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use super::SigningAlgorithm;
use super::jwk::{PublicJwk, PublishedKey};

/// The smallest RSA modulus accepted, in bits (the CAEP interoperability
/// profile's floor; ring refuses smaller keys too).
pub const MIN_RSA_BITS: usize = 2048;

/// Why a PEM file is not a usable signing key. The messages name no key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("no PEM private key (expected \"PRIVATE KEY\" or \"RSA PRIVATE KEY\")")]
    NotPem,
    #[error(
        "an \"EC PRIVATE KEY\" (SEC1) key; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    Sec1,
    #[error("the RSA key has {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooShort(usize),
    #[error("the key is neither an RSA key nor an ECDSA P-256 key ({0})")]
    Unsupported(String),
}

/// A signing key and what the JWKS publishes of it.
pub struct SigningKey {
    published: PublishedKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of every log line.
        f.debug_struct("SigningKey")
            .field("kid", &self.published.kid)
            .field("alg", &self.published.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads the first private key of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyFileError> {
        match PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyFileError::NotPem)? {
            PrivateKeyDer::Pkcs1(der) => rsa(der.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(der) => {
                let pkcs8 = der.secret_pkcs8_der();
                let info = PrivateKeyInfo::try_from(pkcs8)
                    .map_err(|error| KeyFileError::Unsupported(error.to_string()))?;
                if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID {
                    rsa(info.private_key)
                } else {
                    p256(pkcs8)
                }
            }
            PrivateKeyDer::Sec1(_) => Err(KeyFileError::Sec1),
            _ => Err(KeyFileError::NotPem),
        }
    }

    /// The key id: the public key's RFC 7638 thumbprint.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.published.kid
    }

    #[must_use]
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.published.alg
    }

    /// The public key as the JWKS lists it.
    #[must_use]
    pub fn published(&self) -> &PublishedKey {
        &self.published
    }

    pub(super) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// An RSA key from its PKCS#1 `RSAPrivateKey` DER.
fn rsa(pkcs1: &[u8]) -> Result<SigningKey, KeyFileError> {
    let pair =
        ring::rsa::KeyPair::from_der(pkcs1).map_err(|rejected| match modulus_bits(pkcs1) {
            Some(bits) if bits < MIN_RSA_BITS => KeyFileError::RsaTooShort(bits),
            _ => KeyFileError::Unsupported(rejected.to_string()),
        })?;
    let bits = pair.public().modulus_len() * 8;
    if bits < MIN_RSA_BITS {
        return Err(KeyFileError::RsaTooShort(bits));
    }
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok(SigningKey {
        published: PublishedKey::new(
            PublicJwk::rsa(&components.n, &components.e),
            SigningAlgorithm::Rs256,
        ),
        encoding: EncodingKey::from_rsa_der(pkcs1),
    })
}

/// The modulus size of a PKCS#1 key ring refused, to say why.
fn modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    rsa::RsaPrivateKey::from_pkcs1_der(pkcs1)
        .ok()
        .map(|key| key.n().bits())
}

/// An ECDSA P-256 key from its PKCS#8 DER (ring refuses other curves).
fn p256(pkcs8: &[u8]) -> Result<SigningKey, KeyFileError> {
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|rejected| KeyFileError::Unsupported(rejected.to_string()))?;
    let public = PublicJwk::p256(pair.public_key().as_ref())
        .ok_or_else(|| KeyFileError::Unsupported("not a P-256 point".to_owned()))?;
    Ok(SigningKey {
        published: PublishedKey::new(public, SigningAlgorithm::Es256),
        encoding: EncodingKey::from_ec_der(pkcs8),
    })
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};

    use super::*;

    fn rsa_key(bits: usize) -> rsa::RsaPrivateKey {
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rsa_keys_load_from_pkcs8_and_pkcs1_and_short_ones_are_refused() {
        let key = rsa_key(2048);
        let pkcs8 = key
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        let pkcs1 = key
            .to_pkcs1_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        let (Ok(from_pkcs8), Ok(from_pkcs1)) = (
            SigningKey::from_pem(pkcs8.as_bytes()),
            SigningKey::from_pem(pkcs1.as_bytes()),
        ) else {
            panic!("both forms load")
        };
        assert_eq!(from_pkcs8.algorithm(), SigningAlgorithm::Rs256);
        assert_eq!(from_pkcs8.kid(), from_pkcs1.kid());

        let short = rsa_key(1024)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            SigningKey::from_pem(short.as_bytes()),
            Err(KeyFileError::RsaTooShort(1024))
        ));
    }

    #[test]
    fn other_keys_and_forms_are_refused() {
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(sec1.as_bytes()),
            Err(KeyFileError::Sec1)
        ));
        assert!(matches!(
            SigningKey::from_pem(b"not pem"),
            Err(KeyFileError::NotPem)
        ));
        // An Ed25519 key is PKCS#8 too, but not one Rescind signs with.
        let ed25519 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap_or_else(|e| panic!("{e}"));
        let pem = rsa::pkcs8::SecretDocument::try_from(ed25519.as_ref())
            .and_then(|doc| doc.to_pem("PRIVATE KEY", LineEnding::LF))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            SigningKey::from_pem(pem.as_bytes()),
            Err(KeyFileError::Unsupported(_))
        ));
    }
}
