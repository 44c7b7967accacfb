//! Rescind's public keys as JSON Web Keys (RFC 7517), and the key id each
//! is published under: its RFC 7638 thumbprint, so the same key always has
//! the same `kid` on every start and every instance that holds it, and a
//! different key can never take an old key's id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::SigningAlgorithm;

/// The public members of a key, by type. There is no place for a private
/// member here, so none can be published by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    /// An RSA key: modulus and public exponent, base64url.
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    /// An elliptic-curve key (`crv` is `P-256`): the point's coordinates.
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
}

/// The uncompressed P-256 point: `04`, then x and y, 32 bytes each.
const P256_POINT_LEN: usize = 65;

impl PublicJwk {
    /// An RSA key from its modulus and exponent (big-endian bytes).
    #[must_use]
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Self {
        Self::Rsa {
            n: URL_SAFE_NO_PAD.encode(modulus),
            e: URL_SAFE_NO_PAD.encode(exponent),
        }
    }

    /// A P-256 key from its uncompressed point; `None` for anything else.
    #[must_use]
    pub fn p256(point: &[u8]) -> Option<Self> {
        if point.len() != P256_POINT_LEN || point[0] != 0x04 {
            return None;
        }
        let (x, y) = point[1..].split_at(32);
        Some(Self::Ec {
            crv: "P-256".to_owned(),
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order without white space, base64url.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        // Field order is serialization order: each struct lists its members
        // sorted, as the RFC requires.
        #[derive(Serialize)]
        struct Rsa<'a> {
            e: &'a str,
            kty: &'static str,
            n: &'a str,
        }
        #[derive(Serialize)]
        struct Ec<'a> {
            crv: &'a str,
            kty: &'static str,
            x: &'a str,
            y: &'a str,
        }
        let canonical = match self {
            Self::Rsa { n, e } => serde_json::to_vec(&Rsa { e, kty: "RSA", n }),
            Self::Ec { crv, x, y } => serde_json::to_vec(&Ec {
                crv,
                kty: "EC",
                x,
                y,
            }),
        }
        .unwrap_or_default();
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical))
    }
}

/// `use`: these keys verify signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    #[serde(rename = "sig")]
    Signature,
}

/// A key as the JWKS publishes it: its public members, `kid`, `use`, `alg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    #[serde(flatten)]
    pub key: PublicJwk,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: KeyUse,
    pub alg: SigningAlgorithm,
}

impl PublishedKey {
    /// `key` for `alg`, under its thumbprint.
    #[must_use]
    pub fn new(key: PublicJwk, alg: SigningAlgorithm) -> Self {
        Self {
            kid: key.thumbprint(),
            key,
            key_use: KeyUse::Signature,
            alg,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638s_example() {
        // The RSA key and thumbprint of RFC 7638, section 3.1.
        let key = PublicJwk::Rsa {
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".to_owned(),
            e: "AQAB".to_owned(),
        };
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_published_key_has_exactly_the_public_members() {
        let mut point = vec![0x04];
        point.extend([1_u8; 32]);
        point.extend([2_u8; 32]);
        let Some(key) = PublicJwk::p256(&point) else {
            panic!("a P-256 point")
        };
        let published = PublishedKey::new(key, SigningAlgorithm::Es256);
        let value = serde_json::to_value(&published).unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode([1_u8; 32]),
                "y": URL_SAFE_NO_PAD.encode([2_u8; 32]),
                "kid": published.kid,
                "use": "sig",
                "alg": "ES256",
            })
        );
        let back: PublishedKey = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, published);
        assert!(PublicJwk::p256(&point[1..]).is_none());
    }
}
