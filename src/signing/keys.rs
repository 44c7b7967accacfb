//! The keys of a running Rescind: the one it signs with, and the ones it
//! signed with before whose public half is still published, each until its
//! overlap ends, so a receiver can verify events signed before a rotation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SigningKey;
use super::jwk::PublishedKey;

/// A replaced key: its public half, published until `not_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub not_after: DateTime<Utc>,
    pub key: PublishedKey,
}

/// The signing key and the retired keys still published.
#[derive(Debug)]
pub struct SigningKeys {
    current: SigningKey,
    retired: Vec<RetiredKey>,
}

impl SigningKeys {
    pub(super) fn new(current: SigningKey, retired: Vec<RetiredKey>) -> Self {
        Self { current, retired }
    }

    /// The key every new token is signed with.
    #[must_use]
    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// The keys published besides the current one, at `now`.
    pub fn retired_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &PublishedKey> {
        self.retired
            .iter()
            .filter(move |retired| retired.not_after > now)
            .map(|retired| &retired.key)
    }
}
