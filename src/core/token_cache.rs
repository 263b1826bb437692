//! Bearer tokens whose signature and claims have already been checked. A client sends the same
//! token with every call for its whole life, so forward-auth looks it up (an exact match on the
//! whole token) instead of checking its signature and parsing its claims again. What can change
//! after the first check is still checked every time: the token's time window, whether it has
//! been revoked (by its `jti`), and whether the key that minted it is still active.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::apikey::KeyId;
use super::scope::ScopeSet;
use super::token::check_window;

/// What a verified token grants, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token's id, which its revocation names.
    pub jti: uuid::Uuid,
    pub subject: Arc<str>,
    pub key_id: KeyId,
    pub scopes: ScopeSet,
    pub nbf: i64,
    pub exp: i64,
}

impl Verified {
    /// Whether the token is inside its validity window at `now` (Unix seconds), with the same
    /// leeway as a full check.
    pub fn is_current(&self, now: i64) -> bool {
        check_window(self.nbf, self.exp, now).is_ok()
    }
}

/// A bounded map from token to what it grants (quick_cache: full, it evicts the coldest
/// entries), so a flood of distinct valid tokens (which only key holders can mint, within
/// their quota) can neither grow it nor empty it for everyone.
pub struct TokenCache {
    entries: Option<quick_cache::sync::Cache<Box<str>, Verified>>,
    /// Bumped by every [`clear`](Self::clear): a check that began before one may have used a
    /// key since withdrawn, so its result is not kept.
    generation: AtomicU64,
}

/// Its keys are live bearer tokens: Debug shows only how many there are.
impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.entries.as_ref().map_or(0, |e| e.len()))
            .field(
                "capacity",
                &self.entries.as_ref().map_or(0, |e| e.capacity()),
            )
            .finish()
    }
}

impl TokenCache {
    /// `capacity` 0 turns the cache off.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
            generation: AtomicU64::new(0),
        }
    }

    /// Taken before a full check, handed to [`insert`](Self::insert) after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, token: &str) -> Option<Verified> {
        self.entries.as_ref()?.get(token)
    }

    /// Remembers a token checked in full, unless the cache was cleared since `generation`.
    pub fn insert(&self, token: &str, verified: Verified, generation: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        entries.insert(token.into(), verified);
        // A clear between the check above and the insert: take the insert back.
        if self.generation() != generation {
            entries.remove(token);
        }
    }

    /// Forgets every token: the keys that verified them may be gone.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::token::LEEWAY_SECS;

    fn verified(exp: i64) -> Verified {
        Verified {
            jti: uuid::Uuid::from_u128(1),
            subject: Arc::from("acme"),
            key_id: "AbCdEfGhIjK".parse().unwrap(),
            scopes: crate::core::scope::Catalogue::example().all(),
            nbf: exp - 900,
            exp,
        }
    }

    #[test]
    fn only_the_exact_token_is_found() {
        let cache = TokenCache::new(10);
        cache.insert("a.b.c", verified(1000), cache.generation());
        assert_eq!(cache.get("a.b.c"), Some(verified(1000)));
        for other in ["a.b.C", "a.b.c ", "a.b", ""] {
            assert_eq!(cache.get(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_cached_token_is_current_only_inside_its_window() {
        let v = verified(1000);
        assert!(v.is_current(1000 + LEEWAY_SECS));
        assert!(!v.is_current(1001 + LEEWAY_SECS));
        assert!(v.is_current(100 - LEEWAY_SECS));
        assert!(!v.is_current(99 - LEEWAY_SECS));
    }

    #[test]
    fn a_full_cache_keeps_its_hot_entries_and_stays_bounded() {
        let cache = TokenCache::new(100);
        let hot = "hot.token.value";
        cache.insert(hot, verified(1000), cache.generation());
        // A scan of tokens seen once each: the one in use every time survives it.
        for i in 0..10_000 {
            assert!(cache.get(hot).is_some(), "evicted after {i} cold tokens");
            cache.insert(&format!("cold.{i}"), verified(1000), cache.generation());
        }
        let len = cache.entries.as_ref().unwrap().len();
        assert!(len <= 110, "{len} entries");
        cache.clear();
        assert_eq!(cache.get(hot), None);
    }

    #[test]
    fn a_cache_of_no_capacity_is_off() {
        let off = TokenCache::new(0);
        off.insert("t1", verified(1000), off.generation());
        assert_eq!(off.get("t1"), None);
    }

    #[test]
    fn a_check_that_began_before_a_clear_is_not_remembered() {
        let cache = TokenCache::new(10);
        let began = cache.generation();
        cache.clear();
        cache.insert("a.b.c", verified(1000), began);
        assert_eq!(cache.get("a.b.c"), None);
    }
}
