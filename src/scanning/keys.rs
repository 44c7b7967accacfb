//! A secret scanner's public signing keys: loaded from a file or fetched
//! from a URL, cached, refreshed, several at once (rotation).
//!
//! The document is GitHub's format (GitLab's program uses the same):
//! `{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC
//! KEY-----...", "is_current": true}]}`. Only ECDSA P-256 keys are
//! accepted, as those programs sign with ECDSA P-256 SHA-256.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::key_fetch::{FetchedKeys, KeyDocument};
pub use crate::key_fetch::{KeyError, KeySource, REFETCH_AT_MOST_EVERY};

/// The DER prefix of every P-256 `SubjectPublicKeyInfo`: the algorithm
/// (id-ecPublicKey, prime256v1) and the BIT STRING header, before the 65-byte
/// uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The largest keys document accepted: the programs publish a few keys of
/// a few hundred bytes each.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Document {
    public_keys: Vec<PublicKeyEntry>,
}

#[derive(Deserialize)]
struct PublicKeyEntry {
    key_identifier: String,
    key: String,
}

/// Parses a keys document into identifier → uncompressed P-256 point.
pub fn parse_keys(text: &[u8]) -> Result<HashMap<String, Vec<u8>>, KeyError> {
    let document: Document =
        serde_json::from_slice(text).map_err(|_| KeyError::Invalid("not the expected JSON"))?;
    let mut keys = HashMap::new();
    for entry in document.public_keys {
        keys.insert(entry.key_identifier, p256_point_from_pem(&entry.key)?);
    }
    if keys.is_empty() {
        return Err(KeyError::Invalid("no public key"));
    }
    Ok(keys)
}

/// The uncompressed point of a PEM `PUBLIC KEY` holding a P-256 key.
fn p256_point_from_pem(pem: &str) -> Result<Vec<u8>, KeyError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|line| *line != "-----END PUBLIC KEY-----")
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| KeyError::Invalid("a key is not PEM"))?;
    match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(point.to_vec()),
        _ => Err(KeyError::Invalid("a key is not an ECDSA P-256 public key")),
    }
}

/// The keys of one scanner, cached (identifier → uncompressed P-256 point).
pub struct ScannerKeys {
    keys: FetchedKeys<HashMap<String, Vec<u8>>>,
}

impl ScannerKeys {
    #[must_use]
    pub fn new(source: KeySource, refresh: Duration, client: reqwest::Client) -> Self {
        let document = KeyDocument {
            source,
            refresh,
            max_bytes: MAX_DOCUMENT_BYTES,
            parse: parse_keys,
            label: "secret scanner",
        };
        Self {
            keys: FetchedKeys::new(document, client),
        }
    }

    /// The point of the key `identifier`, loading or refreshing the keys
    /// first when they are stale, or when the identifier is unknown and the
    /// last attempt is long enough ago. A failed refresh keeps the keys
    /// already held.
    pub async fn key(&self, identifier: &str) -> Option<Vec<u8>> {
        self.keys
            .current(|keys| keys.contains_key(identifier))
            .await?
            .get(identifier)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn p256_keys_parse_and_others_are_refused() {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.push(0x04);
        der.extend([7_u8; 64]);
        let document = serde_json::json!({ "public_keys": [
            { "key_identifier": "k1", "key": pem(&der), "is_current": true }
        ]});
        let keys = parse_keys(document.to_string().as_bytes()).expect("a valid document");
        assert_eq!(keys["k1"].len(), 65);

        let mut wrong_curve = der.clone();
        wrong_curve[21] = 0x08; // another named curve
        let mut short = der.clone();
        short.pop();
        for bad in [wrong_curve, short] {
            let document = serde_json::json!({ "public_keys": [
                { "key_identifier": "k1", "key": pem(&bad) }
            ]});
            assert!(parse_keys(document.to_string().as_bytes()).is_err());
        }
        assert!(parse_keys(br#"{"public_keys": []}"#).is_err());
        assert!(parse_keys(b"not json").is_err());
    }
}
