//! Where the signing keys live, and how a key is replaced.
//!
//! A folder `signing/` in the data folder, made `0700` and checked at every
//! start like the TLS key's:
//!
//! - `current.pem`: the generated private key (PKCS#8 PEM, `0600`). Absent
//!   when the key comes from a configured file instead.
//! - `published.json`: the public keys to publish, not secret:
//!   `{"current": <JWK>, "retired": [{"not_after": <RFC 3339>, "key": <JWK>}]}`.
//!   `current` is the public half of the key in use at the last start, so a
//!   key replaced while Rescind was stopped (a new file, a generated key of
//!   another algorithm) is noticed: its predecessor moves to `retired`,
//!   published until the overlap ends, and dropped from the file after.
//!
//! Both files are replaced atomically (written beside, then renamed), so a
//! crash leaves the old file or the new one. Generating an RSA key takes a
//! moment and the files are read and written synchronously: call these
//! from start-up code or a blocking task.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::generate::{GenerateError, generate_pem};
use super::jwk::PublishedKey;
use super::key::KeyFileError;
use super::keys::RetiredKey;
use super::{SigningAlgorithm, SigningKey, SigningKeys};
use crate::private_files::{self, PrivateFileError};

/// The folder in the data folder.
pub const FOLDER: &str = "signing";
const CURRENT: &str = "current.pem";
const PUBLISHED: &str = "published.json";

/// How long a replaced key stays published by default: long enough for
/// receivers that cache the key set for a day, and for events a receiver
/// polls for days after they were signed.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Where the signing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// Generated into `current.pem` on first start, for this algorithm.
    Generate(SigningAlgorithm),
    /// An operator's PEM file (say, a secret every instance mounts). The
    /// key type decides the algorithm; replacing the key is replacing the
    /// file.
    File(PathBuf),
}

/// Why the signing keys could not be opened. Each names its file.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("cannot read the signing key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing key {path} cannot be used: {source}")]
    Key { path: PathBuf, source: KeyFileError },
    #[error("{path} is not a valid list of published keys: {reason}; remove it to start a new one")]
    Published { path: PathBuf, reason: String },
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Private(#[from] PrivateFileError),
}

/// What `published.json` holds.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Published {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<PublishedKey>,
    #[serde(default)]
    retired: Vec<RetiredKey>,
}

/// The keys in `dir` (the data folder's `signing/`) at `now`: the key
/// `source` names, generated first if needed, and the retired keys still
/// published. A key replaced since the last start is retired with `overlap`.
pub fn open(
    dir: &Path,
    source: &SigningKeySource,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Result<SigningKeys, KeyStoreError> {
    private_files::ensure_private_dir(dir)?;
    let key = match source {
        SigningKeySource::Generate(algorithm) => generated(dir, *algorithm)?,
        SigningKeySource::File(path) => read_key(path)?,
    };
    let published_path = dir.join(PUBLISHED);
    let before = read_published(&published_path)?;
    let after = publish(&before, &key, overlap, now);
    if after != before {
        let text = serde_json::to_vec_pretty(&after).map_err(|error| KeyStoreError::Published {
            path: published_path.clone(),
            reason: error.to_string(),
        })?;
        private_files::replace_private(&published_path, &text)?;
    }
    Ok(SigningKeys::new(key, after.retired))
}

/// Replaces the generated key in `dir` with a new one for `algorithm`; the
/// old key's public half stays published for `overlap` from `now`.
pub fn rotate(
    dir: &Path,
    algorithm: SigningAlgorithm,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Result<SigningKeys, KeyStoreError> {
    private_files::ensure_private_dir(dir)?;
    write_generated(dir, algorithm)?;
    open(dir, &SigningKeySource::Generate(algorithm), overlap, now)
}

/// The generated key, made on first start or when the configured
/// algorithm no longer matches it.
fn generated(dir: &Path, algorithm: SigningAlgorithm) -> Result<SigningKey, KeyStoreError> {
    let path = dir.join(CURRENT);
    if std::fs::symlink_metadata(&path).is_ok() {
        private_files::check(&path, 0o600)?;
        let key = read_key(&path)?;
        if key.algorithm() == algorithm {
            return Ok(key);
        }
        tracing::info!(from = %key.algorithm(), to = %algorithm, "the signing algorithm changed; generating a new key");
    }
    write_generated(dir, algorithm)
}

fn write_generated(dir: &Path, algorithm: SigningAlgorithm) -> Result<SigningKey, KeyStoreError> {
    let path = dir.join(CURRENT);
    let pem = generate_pem(algorithm)?;
    let key = SigningKey::from_pem(pem.as_bytes()).map_err(|source| KeyStoreError::Key {
        path: path.clone(),
        source,
    })?;
    private_files::replace_private(&path, pem.as_bytes())?;
    tracing::info!(path = %path.display(), kid = key.kid(), alg = %algorithm, "generated a signing key");
    Ok(key)
}

fn read_key(path: &Path) -> Result<SigningKey, KeyStoreError> {
    let pem = std::fs::read(path).map_err(|source| KeyStoreError::Read {
        path: path.to_owned(),
        source,
    })?;
    SigningKey::from_pem(&pem).map_err(|source| KeyStoreError::Key {
        path: path.to_owned(),
        source,
    })
}

fn read_published(path: &Path) -> Result<Published, KeyStoreError> {
    match std::fs::read(path) {
        Ok(text) => serde_json::from_slice(&text).map_err(|error| KeyStoreError::Published {
            path: path.to_owned(),
            reason: error.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Published::default()),
        Err(source) => Err(KeyStoreError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The published keys once `key` signs: a different key used before is
/// retired until `now + overlap`; retired keys past their end, or equal to
/// `key`, are dropped.
fn publish(
    before: &Published,
    key: &SigningKey,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Published {
    let mut retired = before.retired.clone();
    if let Some(previous) = &before.current
        && previous.kid != key.kid()
    {
        let overlap = TimeDelta::from_std(overlap).unwrap_or(TimeDelta::MAX);
        retired.retain(|old| old.key.kid != previous.kid);
        retired.push(RetiredKey {
            not_after: now
                .checked_add_signed(overlap)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            key: previous.clone(),
        });
    }
    retired.retain(|old| old.not_after > now && old.key.kid != key.kid());
    Published {
        current: Some(key.published().clone()),
        retired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    fn kids(keys: &SigningKeys, now: DateTime<Utc>) -> Vec<String> {
        let jwks = keys.jwks(now);
        jwks["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|key| key["kid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn opened(dir: &Path, source: &SigningKeySource, now: DateTime<Utc>) -> SigningKeys {
        open(dir, source, HOUR, now).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_changed_algorithm_generates_a_new_key_and_retires_the_old_one() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = root.path().join(FOLDER);
        let es256 = SigningKeySource::Generate(SigningAlgorithm::Es256);
        let first = opened(&dir, &es256, at(0));
        let old = first.current().kid().to_owned();
        assert_eq!(opened(&dir, &es256, at(10)).current().kid(), old);

        let rs256 = SigningKeySource::Generate(SigningAlgorithm::Rs256);
        let second = opened(&dir, &rs256, at(20));
        assert_eq!(second.current().algorithm(), SigningAlgorithm::Rs256);
        let new = second.current().kid().to_owned();
        assert_eq!(kids(&second, at(20)), [new.clone(), old.clone()]);
        // Reopened within the overlap the old key is still published, and
        // dropped from the file once it has ended.
        assert_eq!(
            kids(&opened(&dir, &rs256, at(30)), at(30)),
            [new.clone(), old]
        );
        let later = opened(&dir, &rs256, at(20 + 3600));
        assert_eq!(kids(&later, at(20 + 3600)), [new]);
        let text = std::fs::read(dir.join(PUBLISHED)).unwrap_or_default();
        let published: Published = serde_json::from_slice(&text).unwrap_or_default();
        assert_eq!(published.retired, []);
    }

    #[test]
    fn a_replaced_key_file_retires_its_predecessor() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = root.path().join(FOLDER);
        let file = root.path().join("mounted.pem");
        let write = |pem: &[u8]| std::fs::write(&file, pem).unwrap_or_else(|e| panic!("{e}"));
        let generate = || generate_pem(SigningAlgorithm::Es256).unwrap_or_else(|e| panic!("{e}"));
        write(generate().as_bytes());
        let source = SigningKeySource::File(file.clone());
        let first = opened(&dir, &source, at(0));
        assert!(!dir.join(CURRENT).exists(), "nothing is generated");
        write(generate().as_bytes());
        let second = opened(&dir, &source, at(60));
        assert_ne!(second.current().kid(), first.current().kid());
        assert_eq!(
            kids(&second, at(60)),
            [second.current().kid(), first.current().kid()]
        );
        assert_eq!(kids(&second, at(60 + 3600)), [second.current().kid()]);
    }

    #[test]
    fn broken_files_are_refused_by_name() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = root.path().join(FOLDER);
        let es256 = SigningKeySource::Generate(SigningAlgorithm::Es256);
        opened(&dir, &es256, at(0));
        let published = dir.join(PUBLISHED);
        std::fs::write(&published, "{").unwrap_or_else(|e| panic!("{e}"));
        let refused = open(&dir, &es256, HOUR, at(1)).map_err(|e| e.to_string());
        assert!(
            matches!(&refused, Err(message) if message.contains(&published.display().to_string())),
            "{refused:?}"
        );
        let missing = root.path().join("missing.pem");
        let refused = open(&dir, &SigningKeySource::File(missing.clone()), HOUR, at(1))
            .map_err(|e| e.to_string());
        assert!(
            matches!(&refused, Err(message) if message.contains(&missing.display().to_string())),
            "{refused:?}"
        );
    }
}
