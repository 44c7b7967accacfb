//! A secret scanner's public signing keys: loaded from a file or fetched
//! from a URL, cached, refreshed, several at once (rotation).
//!
//! The document is GitHub's format (GitLab's program uses the same):
//! `{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC
//! KEY-----...", "is_current": true}]}`. Only ECDSA P-256 keys are
//! accepted, as those programs sign with ECDSA P-256 SHA-256.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokio::sync::Mutex;

/// The DER prefix of every P-256 `SubjectPublicKeyInfo`: the algorithm
/// (id-ecPublicKey, prime256v1) and the BIT STRING header, before the 65-byte
/// uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The keys are fetched at most this often (or every `refresh`, if shorter),
/// whatever the requests: an attacker sending made-up key identifiers cannot
/// make us hammer the key URL.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    File(PathBuf),
    Url(reqwest::Url),
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the keys: {0}")]
    Read(String),
    #[error("the keys document is not valid: {0}")]
    Invalid(&'static str),
}

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

/// The keys of one scanner, cached.
pub struct ScannerKeys {
    source: KeySource,
    refresh: Duration,
    client: reqwest::Client,
    cached: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: Arc<HashMap<String, Vec<u8>>>,
    loaded_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl ScannerKeys {
    #[must_use]
    pub fn new(source: KeySource, refresh: Duration, client: reqwest::Client) -> Self {
        Self {
            source,
            refresh,
            client,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The point of the key `identifier`, loading or refreshing the keys
    /// first when they are stale, or when the identifier is unknown and the
    /// last attempt is long enough ago. A failed refresh keeps the keys
    /// already held.
    pub async fn key(&self, identifier: &str) -> Option<Vec<u8>> {
        let mut cached = self.cached.lock().await;
        let stale = cached
            .loaded_at
            .is_none_or(|loaded| loaded.elapsed() >= self.refresh);
        let unknown = !cached.keys.contains_key(identifier);
        let gap = self.refresh.min(REFETCH_AT_MOST_EVERY);
        let allowed = cached
            .attempted_at
            .is_none_or(|attempted| attempted.elapsed() >= gap);
        if (stale || unknown) && allowed {
            cached.attempted_at = Some(Instant::now());
            match self.load().await {
                Ok(keys) => {
                    cached.keys = Arc::new(keys);
                    cached.loaded_at = Some(Instant::now());
                }
                Err(error) => tracing::warn!(%error, "cannot load secret scanner keys"),
            }
        }
        cached.keys.get(identifier).cloned()
    }

    async fn load(&self) -> Result<HashMap<String, Vec<u8>>, KeyError> {
        let text = match &self.source {
            KeySource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|error| KeyError::Read(error.to_string()))?,
            KeySource::Url(url) => {
                let response = self
                    .client
                    .get(url.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|error| KeyError::Read(error.without_url().to_string()))?;
                response
                    .bytes()
                    .await
                    .map_err(|error| KeyError::Read(error.without_url().to_string()))?
                    .to_vec()
            }
        };
        parse_keys(&text)
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
