//! Recent introspection answers for live tokens, so a resource server asking
//! about the same token many times a second costs one database read.
//!
//! An answer is dropped when its grant's revocation event arrives (any
//! instance's, through the event follower), when any client's credentials
//! change, and after its time to live: it registers as a
//! [`RevocationHook`] of the instance's events. The introspector uses the cache only
//! while the follower has read the outbox within the last second
//! ([`crate::events::Events::is_current`]): that is what bounds how long
//! another instance's revocation can go unnoticed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::clock::Clock;
use crate::domain::grant::GrantId;
use crate::domain::introspection::TokenState;
use crate::domain::token::TokenHash;
use crate::events::RevocationHook;

/// A cache of live tokens' states, keyed by token hash.
pub struct AnswerCache {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
    /// Moves on every invalidation: an answer read from the database before
    /// an invalidation may already be stale, and is then not stored.
    generation: AtomicU64,
}

#[derive(Default)]
struct Entries {
    by_token: HashMap<TokenHash, Cached>,
    by_grant: HashMap<GrantId, Vec<TokenHash>>,
}

struct Cached {
    state: TokenState,
    until: Instant,
}

/// Taken before a database read; the answer is stored only if no
/// invalidation happened meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl AnswerCache {
    /// A cache keeping answers `ttl` (zero: keeps none), `capacity` at most.
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ttl,
            capacity,
            entries: Mutex::new(Entries::default()),
            generation: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached state of the token with this hash, if fresh.
    pub fn get(&self, hash: &TokenHash) -> Option<TokenState> {
        let entries = self.entries();
        let cached = entries.by_token.get(hash)?;
        (cached.until > self.clock.instant()).then(|| cached.state.clone())
    }

    /// Call before reading the database; pass to [`Self::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Stores a live token's state read since `generation`, unless an
    /// invalidation came in between or the cache is full of fresh answers.
    pub fn insert(&self, generation: Generation, hash: TokenHash, state: TokenState) {
        if self.ttl.is_zero() {
            return;
        }
        let now = self.clock.instant();
        let mut entries = self.entries();
        // Checked under the lock that invalidations take too.
        if self.generation() != generation {
            return;
        }
        if entries.by_token.len() >= self.capacity {
            entries.drop_expired(now);
            if entries.by_token.len() >= self.capacity {
                return;
            }
        }
        let grant = state.grant_id;
        let replaced = entries.by_token.insert(
            hash,
            Cached {
                state,
                until: now + self.ttl,
            },
        );
        if replaced.is_none() {
            entries.by_grant.entry(grant).or_default().push(hash);
        }
    }

    /// Drops the answers for the tokens of `grant` (it was revoked).
    pub fn invalidate_grant(&self, grant: &GrantId) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(hashes) = entries.by_grant.remove(grant) {
            for hash in hashes {
                entries.by_token.remove(&hash);
            }
        }
    }

    /// Drops every answer (a client changed, or events may have been missed).
    pub fn clear(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.by_token.clear();
        entries.by_grant.clear();
    }

    /// How many answers are held (metrics, tests).
    pub fn len(&self) -> usize {
        self.entries().by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entries {
    fn drop_expired(&mut self, now: Instant) {
        self.by_token.retain(|_, cached| cached.until > now);
        let by_token = &self.by_token;
        self.by_grant.retain(|_, hashes| {
            hashes.retain(|hash| by_token.contains_key(hash));
            !hashes.is_empty()
        });
    }
}

/// Revoked grants' answers go at once; a batch or a client change drops all.
impl RevocationHook for AnswerCache {
    fn grant_revoked(&self, grant: &GrantId) {
        self.invalidate_grant(grant);
    }

    fn anything_changed(&self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::client::ClientId;
    use crate::domain::clock::{AdjustableClock, SystemClock};
    use crate::domain::token::TokenKind;

    fn state(grant: GrantId) -> TokenState {
        let now = DateTime::<Utc>::MAX_UTC - chrono::Duration::days(1);
        TokenState {
            kind: TokenKind::Access,
            grant_id: grant,
            client_id: ClientId::parse("spa").expect("a valid id"),
            subject: "alice".to_owned(),
            scope: None,
            issued_at: now,
            expires_at: DateTime::<Utc>::MAX_UTC,
            revoked: false,
            client_gone: false,
        }
    }

    fn hash(token: &str) -> TokenHash {
        TokenHash::of(token)
    }

    #[test]
    fn a_grant_revocation_drops_its_tokens_only() {
        let cache = AnswerCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        let (revoked, kept) = (GrantId::generate(), GrantId::generate());
        cache.insert(cache.generation(), hash("a1"), state(revoked));
        cache.insert(cache.generation(), hash("r1"), state(revoked));
        cache.insert(cache.generation(), hash("a2"), state(kept));
        cache.invalidate_grant(&revoked);
        assert!(cache.get(&hash("a1")).is_none());
        assert!(cache.get(&hash("r1")).is_none());
        assert!(cache.get(&hash("a2")).is_some());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn an_answer_read_before_an_invalidation_is_not_stored() {
        let cache = AnswerCache::new(Duration::from_secs(60), 10, Arc::new(SystemClock));
        let grant = GrantId::generate();
        let before = cache.generation();
        cache.invalidate_grant(&grant);
        cache.insert(before, hash("a1"), state(grant));
        assert!(cache.get(&hash("a1")).is_none());
    }

    #[test]
    fn expired_answers_go_and_a_full_cache_of_fresh_ones_stores_no_more() {
        let clock = Arc::new(AdjustableClock::default());
        let cache = AnswerCache::new(Duration::from_secs(30), 2, clock.clone());
        cache.insert(cache.generation(), hash("a1"), state(GrantId::generate()));
        cache.insert(cache.generation(), hash("a2"), state(GrantId::generate()));
        cache.insert(cache.generation(), hash("a3"), state(GrantId::generate()));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&hash("a3")).is_none());
        clock.advance(Duration::from_secs(29));
        assert!(cache.get(&hash("a1")).is_some(), "within its time to live");
        clock.advance(Duration::from_secs(1));
        assert!(cache.get(&hash("a1")).is_none(), "past its time to live");
        cache.insert(cache.generation(), hash("a3"), state(GrantId::generate()));
        assert_eq!(cache.len(), 1, "expired answers made room");
        let off = AnswerCache::new(Duration::ZERO, 2, Arc::new(SystemClock));
        off.insert(off.generation(), hash("a1"), state(GrantId::generate()));
        assert!(off.is_empty());
    }
}
