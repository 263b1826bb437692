//! Bearer tokens revoked before their expiry (RFC 7009), held in memory by their `jti`: every
//! check of a token asks this list, never the database, and while nothing is revoked it reads
//! one atomic and nothing else.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, Ordering};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::token::LEEWAY_SECS;

/// The revoked tokens that could still be presented: each `jti` with its token's `exp`.
#[derive(Debug, Default)]
pub struct RevocationList {
    /// `jti` → `exp` (Unix seconds).
    entries: RwLock<HashMap<Uuid, i64>>,
    /// [`LOADED`] and [`HOLDING`], in one atomic so that the common case is one read; only ever
    /// changed under the write lock of `entries`.
    state: AtomicU8,
}

/// The store's revocations have been read at least once: until then the list cannot vouch for
/// any token.
const LOADED: u8 = 1;
/// `entries` holds something.
const HOLDING: u8 = 2;

/// The list has not been read from the store yet (the database was away at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the revoked tokens have not been read yet")]
pub struct NotLoaded;

/// The earliest expiry a revocation must still be kept for at `now`: a token is accepted until
/// [`LEEWAY_SECS`] past its `exp`, in whole seconds as tokens are checked, and so long must its
/// revocation be refused.
pub fn kept_from(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(now.timestamp().saturating_sub(LEEWAY_SECS), 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
}

impl RevocationList {
    /// An empty list, not yet loaded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the token with this `jti` has been revoked; unknown until the list is loaded.
    pub fn is_revoked(&self, jti: &Uuid) -> Result<bool, NotLoaded> {
        match self.state.load(Ordering::Acquire) {
            LOADED => Ok(false),
            state if state & LOADED == 0 => Err(NotLoaded),
            _ => Ok(self
                .entries
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(jti)),
        }
    }

    /// Adds one revocation, refused from now on.
    pub fn revoke(&self, jti: Uuid, exp: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(jti, exp);
        self.state.fetch_or(HOLDING, Ordering::Release);
    }

    /// Takes in what the store lists and forgets what has expired by `now`. What the store lists
    /// is added to what is held, never put in its place: a revocation is never withdrawn, and a
    /// read that began before a local one committed must not drop it.
    pub fn reload(
        &self,
        stored: impl IntoIterator<Item = (Uuid, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) {
        let from = kept_from(now).timestamp();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.extend(stored.into_iter().map(|(jti, exp)| (jti, exp.timestamp())));
        entries.retain(|_, exp| *exp >= from);
        let holding = if entries.is_empty() { 0 } else { HOLDING };
        self.state.store(LOADED | holding, Ordering::Release);
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn jti(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A list read from a store holding nothing.
    fn loaded() -> RevocationList {
        let list = RevocationList::new();
        list.reload([], at(0));
        list
    }

    #[test]
    fn a_list_never_read_from_the_store_vouches_for_no_token() {
        let list = RevocationList::new();
        assert_eq!(list.is_revoked(&jti(1)), Err(NotLoaded));
        list.revoke(jti(1), at(900).timestamp());
        assert_eq!(
            list.is_revoked(&jti(2)),
            Err(NotLoaded),
            "one local revocation is not the list"
        );
    }

    #[test]
    fn an_empty_list_revokes_nothing() {
        let list = loaded();
        assert!(list.is_empty());
        assert_eq!(list.is_revoked(&jti(1)), Ok(false));
    }

    #[test]
    fn only_the_revoked_jti_is_revoked() {
        let list = loaded();
        list.revoke(jti(1), at(900).timestamp());
        assert_eq!(list.is_revoked(&jti(1)), Ok(true));
        assert_eq!(list.is_revoked(&jti(2)), Ok(false));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_reload_adds_the_stored_revocations_and_keeps_the_local_ones() {
        let list = loaded();
        list.revoke(jti(1), at(900).timestamp());
        list.reload([(jti(2), at(900))], at(0));
        assert_eq!(
            list.is_revoked(&jti(1)),
            Ok(true),
            "a local revocation the read missed"
        );
        assert_eq!(list.is_revoked(&jti(2)), Ok(true));
    }

    #[test]
    fn a_revocation_is_forgotten_once_its_token_would_be_refused_anyway() {
        let list = loaded();
        list.revoke(jti(1), at(900).timestamp());
        list.reload([], at(900 + LEEWAY_SECS));
        assert_eq!(
            list.is_revoked(&jti(1)),
            Ok(true),
            "still inside the leeway"
        );
        list.reload([], at(901 + LEEWAY_SECS));
        assert_eq!(list.is_revoked(&jti(1)), Ok(false));
        assert!(list.is_empty());
    }

    #[test]
    fn stored_revocations_that_have_expired_are_not_taken_in() {
        let list = RevocationList::new();
        list.reload([(jti(1), at(0))], at(1 + LEEWAY_SECS));
        assert!(list.is_empty());
        assert_eq!(list.is_revoked(&jti(1)), Ok(false));
    }
}
