//! The Shared Signals Framework transmitter: whether it runs, the key its
//! Security Event Tokens are signed with, and the bounds of poll and push
//! delivery.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::signing::SigningAlgorithm;

/// `[ssf]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsfSettings {
    /// Off by default: no endpoint, no key, nothing queued.
    pub enabled: bool,
    /// The algorithm of the generated key (ignored with `key_file`, whose
    /// key type decides).
    pub algorithm: SigningAlgorithm,
    /// A PEM private key (PKCS#8, RSA of 2,048 bits at least or P-256), say
    /// a secret every instance mounts; generated into the data folder when
    /// absent. Every instance must sign with the same key.
    pub key_file: Option<PathBuf>,
    /// How long a replaced key stays in the published key set.
    #[serde(with = "humantime_serde")]
    pub rotation_overlap: Duration,
    /// The longest a poll request waits for events (RFC 8936 long polling).
    #[serde(with = "humantime_serde")]
    pub poll_wait: Duration,
    /// Poll requests one receiver may have waiting at once; more are
    /// answered at once, as if they asked to return immediately.
    pub max_poll_waiters: u32,
    /// The most SETs one poll answer carries (`maxEvents` above it is cut).
    pub max_events: u32,
    /// The most SETs queued for one stream, unacknowledged. At the cap
    /// nothing more is queued from the outbox (the stream's cursor waits,
    /// nothing is lost) and verification requests are refused, until the
    /// receiver acknowledges.
    pub max_queued_sets: u32,
    /// The shortest time between two verification requests of a stream
    /// (SSF `min_verification_interval`); one sooner is answered 429.
    #[serde(with = "humantime_serde")]
    pub min_verification_interval: Duration,
    /// Push delivery (RFC 8935): one attempt's time limit.
    #[serde(with = "humantime_serde")]
    pub push_timeout: Duration,
    /// Attempts before a pushed token is dead (visible and retryable in the
    /// admin API). A token the receiver refuses (`400`) is dead at once.
    pub push_max_attempts: u32,
    /// The first retry's delay (doubling, with jitter, up to
    /// `push_retry_max`).
    #[serde(with = "humantime_serde")]
    pub push_retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub push_retry_max: Duration,
}

impl Default for SsfSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: SigningAlgorithm::Rs256,
            key_file: None,
            rotation_overlap: crate::signing::store::DEFAULT_OVERLAP,
            poll_wait: Duration::from_secs(5),
            max_poll_waiters: 2,
            max_events: 100,
            max_queued_sets: 1000,
            min_verification_interval: Duration::from_secs(30),
            push_timeout: Duration::from_secs(10),
            push_max_attempts: 12,
            push_retry_initial: Duration::from_secs(5),
            push_retry_max: Duration::from_secs(3600),
        }
    }
}
