//! Someone else's public keys, read from a file or fetched from a URL and
//! cached: the secret scanners' signing keys and the upstream authorization
//! servers' key sets share this. The keys are reloaded when they are older
//! than the refresh interval, or when a key is asked for that they lack (a
//! rotation on the other side), but never more often than
//! [`REFETCH_AT_MOST_EVERY`]: requests naming made-up keys cannot make
//! Rescind hammer the URL. A document larger than its cap is refused before
//! it is parsed, so a hostile or broken server cannot make us hold much.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;
use tokio::sync::Mutex;

use crate::outbound::BodyError;

/// The keys are fetched at most this often (or every `refresh`, if
/// shorter), whatever the requests.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    File(PathBuf),
    Url(reqwest::Url),
}

/// Why keys could not be loaded. The messages name no key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the keys: {0}")]
    Read(String),
    #[error("the keys document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the keys document is not valid: {0}")]
    Invalid(&'static str),
}

/// What to load and how to read it.
pub struct KeyDocument<T> {
    pub source: KeySource,
    /// Reload after this long, even if every key asked for is known.
    pub refresh: Duration,
    /// The largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Parses a whole document; an error keeps the keys held before.
    pub parse: fn(&[u8]) -> Result<T, KeyError>,
    /// Names the keys in the warning a failed load logs.
    pub label: &'static str,
}

/// One cached key document.
pub struct FetchedKeys<T> {
    document: KeyDocument<T>,
    client: reqwest::Client,
    cached: Mutex<Cached<T>>,
}

struct Cached<T> {
    keys: Option<Arc<T>>,
    loaded_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl<T> FetchedKeys<T> {
    #[must_use]
    pub fn new(document: KeyDocument<T>, client: reqwest::Client) -> Self {
        Self {
            document,
            client,
            cached: Mutex::new(Cached {
                keys: None,
                loaded_at: None,
                attempted_at: None,
            }),
        }
    }

    /// The keys, loaded or reloaded first when they are stale, or when
    /// `has_wanted` says they lack the key the caller needs and the last
    /// attempt is long enough ago. A failed load keeps the keys already held
    /// (`None` until one load has succeeded).
    ///
    /// Once keys are held, a reload runs without holding the cache: callers
    /// meanwhile get the keys already held, so a slow key server (or a
    /// caller naming an unknown key id to make it fetch) cannot hold every
    /// request for the fetch's timeout. The first load is waited for: there
    /// is nothing else to answer with.
    pub async fn current(&self, has_wanted: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let first = {
            let cached = self.cached.lock().await;
            if cached.keys.is_none() {
                Some(cached)
            } else {
                drop(cached);
                None
            }
        };
        if let Some(mut cached) = first {
            return self.load_holding(&mut cached).await;
        }
        {
            let mut cached = self.cached.lock().await;
            let refresh = self.document.refresh;
            let stale = cached
                .loaded_at
                .is_none_or(|loaded| loaded.elapsed() >= refresh);
            let lacking = cached.keys.as_deref().is_none_or(|keys| !has_wanted(keys));
            let gap = refresh.min(REFETCH_AT_MOST_EVERY);
            let allowed = cached
                .attempted_at
                .is_none_or(|attempted| attempted.elapsed() >= gap);
            if !((stale || lacking) && allowed) {
                return cached.keys.clone();
            }
            cached.attempted_at = Some(Instant::now());
        }
        let loaded = self.load().await;
        let mut cached = self.cached.lock().await;
        self.keep(&mut cached, loaded)
    }

    /// The first load, holding the cache so concurrent callers wait for it
    /// (at most once every [`REFETCH_AT_MOST_EVERY`] while it fails).
    async fn load_holding(&self, cached: &mut Cached<T>) -> Option<Arc<T>> {
        let allowed = cached.attempted_at.is_none_or(|attempted| {
            attempted.elapsed() >= REFETCH_AT_MOST_EVERY.min(self.document.refresh)
        });
        if allowed {
            cached.attempted_at = Some(Instant::now());
            let loaded = self.load().await;
            return self.keep(cached, loaded);
        }
        cached.keys.clone()
    }

    /// Stores what a load gave (a failure keeps the keys held).
    fn keep<E: std::fmt::Display>(
        &self,
        cached: &mut Cached<T>,
        loaded: Result<T, E>,
    ) -> Option<Arc<T>> {
        match loaded {
            Ok(keys) => {
                cached.keys = Some(Arc::new(keys));
                cached.loaded_at = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(%error, keys = self.document.label, "cannot load keys");
            }
        }
        cached.keys.clone()
    }

    async fn load(&self) -> Result<T, KeyError> {
        let text = match &self.document.source {
            KeySource::File(path) => read_file(path, self.document.max_bytes).await?,
            KeySource::Url(url) => self.fetch(url).await?,
        };
        (self.document.parse)(&text)
    }

    async fn fetch(&self, url: &reqwest::Url) -> Result<Vec<u8>, KeyError> {
        let max = self.document.max_bytes;
        let read = |error: reqwest::Error| KeyError::Read(error.without_url().to_string());
        let mut response = self
            .client
            .get(url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(read)?;
        crate::outbound::read_bounded(&mut response, max)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(max) => KeyError::TooLarge(max),
                BodyError::Read(error) => read(error),
            })
    }
}

/// The file's contents, refused past `max` bytes without reading further.
async fn read_file(path: &std::path::Path, max: usize) -> Result<Vec<u8>, KeyError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|error| KeyError::Read(error.to_string()))?;
    let mut text = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut text)
        .await
        .map_err(|error| KeyError::Read(error.to_string()))?;
    if text.len() > max {
        return Err(KeyError::TooLarge(max));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_lines(text: &[u8]) -> Result<usize, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Invalid("empty"));
        }
        Ok(text.split(|byte| *byte == b'\n').count())
    }

    fn document(path: PathBuf, max_bytes: usize) -> KeyDocument<usize> {
        KeyDocument {
            source: KeySource::File(path),
            refresh: Duration::from_secs(3600),
            max_bytes,
            parse: count_lines,
            label: "test",
        }
    }

    #[tokio::test]
    async fn a_missing_key_refetches_once_per_gap_and_a_failure_keeps_the_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys");
        std::fs::write(&path, "a\nb").unwrap_or_else(|e| panic!("{e}"));
        let keys = FetchedKeys::new(document(path.clone(), 64), reqwest::Client::new());
        assert_eq!(keys.current(|_| true).await.as_deref(), Some(&2));

        // Changed on disk: a request that finds what it wants does not reload,
        // and one that lacks a key does not either within the gap.
        std::fs::write(&path, "a\nb\nc").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.current(|_| true).await.as_deref(), Some(&2));
        assert_eq!(keys.current(|n| *n == 3).await.as_deref(), Some(&2));

        // Past the gap it reloads; a broken document then keeps the old keys.
        keys.cached.lock().await.attempted_at = None;
        assert_eq!(keys.current(|n| *n == 3).await.as_deref(), Some(&3));
        std::fs::write(&path, "").unwrap_or_else(|e| panic!("{e}"));
        keys.cached.lock().await.attempted_at = None;
        assert_eq!(keys.current(|n| *n == 4).await.as_deref(), Some(&3));
    }

    #[tokio::test]
    async fn a_document_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys");
        std::fs::write(&path, "a\nb\nc").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            read_file(&path, 4).await,
            Err(KeyError::TooLarge(4))
        ));
        assert_eq!(read_file(&path, 5).await.map(|t| t.len()).ok(), Some(5));
        let keys = FetchedKeys::new(document(path, 4), reqwest::Client::new());
        assert!(keys.current(|_| true).await.is_none());
    }
}
