//! New private keys, as PKCS#8 PEM. ring generates the P-256 keys; it
//! cannot generate RSA keys, so the `rsa` crate does, once, offline, from
//! the operating system's random source and no outside input. That is all
//! it does: every signature is ring's (the `rsa` crate's own private-key
//! operations have a timing side channel, RUSTSEC-2023-0071).

use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rsa::pkcs8::der::pem::PemLabel as _;
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding, PrivateKeyInfo, SecretDocument};

use super::SigningAlgorithm;

/// The size of a generated RSA key: the interoperability floor, which every
/// receiver takes, and quick to generate.
pub const RSA_BITS: usize = 2048;

/// Why a key could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate a signing key: {0}")]
pub struct GenerateError(String);

/// A new private key for `algorithm`, PKCS#8 PEM (the text is wiped from
/// memory when dropped).
pub fn generate_pem(algorithm: SigningAlgorithm) -> Result<Zeroizing<String>, GenerateError> {
    let document = match algorithm {
        SigningAlgorithm::Rs256 => rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
            .map_err(|error| GenerateError(error.to_string()))?
            .to_pkcs8_der()
            .map_err(|error| GenerateError(error.to_string()))?,
        SigningAlgorithm::Es256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &ring::rand::SystemRandom::new(),
            )
            .map_err(|_| GenerateError("ring refused to generate a P-256 key".to_owned()))?;
            SecretDocument::try_from(pkcs8.as_ref())
                .map_err(|error| GenerateError(error.to_string()))?
        }
    };
    document
        .to_pem(PrivateKeyInfo::PEM_LABEL, LineEnding::LF)
        .map_err(|error| GenerateError(error.to_string()))
}
