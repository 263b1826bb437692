//! The hot path without the database: key lookups are served from memory, and dropped the
//! moment the store announces a change (PostgreSQL `NOTIFY`, SQLite's generation counter), so no
//! instance honours a rotated or revoked key for more than a moment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AccountRange, AccountRecord, ChangeWatch, KeyInfo, KeyStore, NewKey, StoreError, StoredKey,
};
use crate::core::adminkey::{AdminKeyInfo, NewAdminKey, StoredAdminKey};
use crate::core::apikey::KeyId;
use crate::core::audit::{AuditBatch, AuditEntry, AuditQuery};
use crate::core::audit_chain::{ChainEnd, ChainedBatch};
use crate::core::keyring::{KeyPairRecord, SigningAlg};
use crate::core::settings::{AccountSettings, SettingsChange};

/// Keys remembered at most. Full, the cache evicts its coldest entries (quick_cache's S3-FIFO):
/// a flood of made-up key ids neither grows it nor pushes out the keys in use.
const MAX_ENTRIES: usize = 100_000;
/// How long to wait before subscribing again after losing the change feed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(250);

/// Told about every lookup, for metrics.
pub trait CacheObserver: Send + Sync + std::fmt::Debug {
    fn hit(&self) {}
    fn miss(&self) {}
}

#[derive(Debug)]
struct Unobserved;

impl CacheObserver for Unobserved {}

#[derive(Debug)]
pub struct CachedStore {
    inner: Arc<dyn KeyStore>,
    observer: Arc<dyn CacheObserver>,
    /// Each answer with when it was fetched: none is trusted for longer than `ttl`, so a change
    /// that was never announced (TRUNCATE, triggers disabled by a restore or replication)
    /// still shows within that bound.
    keys: quick_cache::sync::Cache<KeyId, (Option<StoredKey>, Instant)>,
    ttl: Duration,
    /// Bumped by every invalidation; a lookup that raced one does not fill the cache.
    generation: AtomicU64,
    /// Whether the change feed is up: while it is down, changes may go unnoticed.
    watching: AtomicBool,
}

impl CachedStore {
    /// Wraps `inner` and starts watching it for changes; returns once the first subscription is
    /// in place (or has failed, in which case it keeps retrying in the background).
    pub async fn wrap(
        inner: Arc<dyn KeyStore>,
        ttl: Duration,
        observer: Option<Arc<dyn CacheObserver>>,
    ) -> Arc<Self> {
        let cache = Arc::new(Self {
            inner,
            observer: observer.unwrap_or_else(|| Arc::new(Unobserved)),
            keys: quick_cache::sync::Cache::new(MAX_ENTRIES),
            ttl,
            generation: AtomicU64::new(0),
            watching: AtomicBool::new(false),
        });
        // The first subscription is in place before anything is cached: nothing to drop yet,
        // so the watcher starts listening without emptying what the first requests fill.
        let first = cache.inner.watch().await;
        cache.watching.store(first.is_ok(), Ordering::SeqCst);
        tokio::spawn(watch(Arc::downgrade(&cache), first));
        cache
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.clear();
    }
}

/// Follows the store's change feed for as long as the cache lives.
async fn watch(cache: Weak<CachedStore>, first: Result<Box<dyn ChangeWatch>, StoreError>) {
    let mut subscription = first;
    loop {
        match subscription {
            Ok(mut feed) => loop {
                let changed = feed.changed().await;
                let Some(live) = cache.upgrade() else { return };
                match changed {
                    Ok(()) => live.invalidate(),
                    Err(err) => {
                        tracing::warn!(error = %err, "lost the key change feed; resubscribing");
                        live.watching.store(false, Ordering::SeqCst);
                        break;
                    }
                }
            },
            Err(err) => {
                if cache.strong_count() == 0 {
                    return;
                }
                tracing::warn!(error = %err, "cannot subscribe to key changes; retrying");
            }
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        let Some(live) = cache.upgrade() else { return };
        subscription = live.inner.watch().await;
        if subscription.is_ok() {
            live.watching.store(true, Ordering::SeqCst);
            // Whatever happened while nobody listened is unknown: start clean.
            live.invalidate();
        }
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn create_account(
        &self,
        name: &str,
        settings: &AccountSettings,
        keys: &[NewKey],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self.inner.create_account(name, settings, keys, now).await;
        self.invalidate();
        result
    }

    /// Cached keys carry their account's settings: dropped here at once, elsewhere when the
    /// change is announced.
    async fn update_account(
        &self,
        name: &str,
        change: &SettingsChange,
    ) -> Result<AccountRecord, StoreError> {
        let result = self.inner.update_account(name, change).await;
        self.invalidate();
        result
    }

    async fn delete_account(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyId>, StoreError> {
        let result = self.inner.delete_account(name, now).await;
        self.invalidate();
        result
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        let stale = match self.keys.get(id) {
            Some((hit, fetched)) if fetched.elapsed() < self.ttl => {
                self.observer.hit();
                return Ok(hit);
            }
            Some((hit, _)) => Some(hit),
            None => None,
        };
        self.observer.miss();
        let generation = self.generation.load(Ordering::SeqCst);
        let found = match self.inner.find_key(id).await {
            Ok(found) => found,
            // The database is away: the last answer serves (forward-auth carries on through an
            // outage); minting waits anyway, since the change feed is down too.
            Err(StoreError::Unavailable(err)) => {
                return stale.ok_or(StoreError::Unavailable(err));
            }
            Err(err) => return Err(err),
        };
        if self.generation.load(Ordering::SeqCst) == generation {
            self.keys.insert(*id, (found.clone(), Instant::now()));
            // An invalidation between the check and the insert: take the insert back.
            if self.generation.load(Ordering::SeqCst) != generation {
                self.keys.remove(id);
            }
        }
        Ok(found)
    }

    async fn rotate_key(
        &self,
        account: &str,
        expected: Option<&KeyId>,
        key: &NewKey,
        retire_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .rotate_key(account, expected, key, retire_until, now)
            .await;
        self.invalidate();
        result
    }

    async fn current_key(
        &self,
        account: &str,
        slot: crate::core::slot::KeySlot,
    ) -> Result<Option<KeyId>, StoreError> {
        self.inner.current_key(account, slot).await
    }

    async fn slot_scopes(
        &self,
        account: &str,
        slot: crate::core::slot::KeySlot,
    ) -> Result<Option<crate::core::scope::ScopeSet>, StoreError> {
        self.inner.slot_scopes(account, slot).await
    }

    async fn list_keys(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        self.inner.list_keys(account, now).await
    }

    async fn revoke_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self.inner.revoke_key(id, now).await;
        self.invalidate();
        result
    }

    async fn find_account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.find_account(name).await
    }

    async fn list_accounts(
        &self,
        range: &AccountRange<'_>,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        self.inner.list_accounts(range).await
    }

    async fn create_admin_key(
        &self,
        key: &NewAdminKey,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.create_admin_key(key, now).await
    }

    /// Never from memory: a revoked admin key stops working at once, everywhere.
    async fn find_admin_key(&self, id: &KeyId) -> Result<Option<StoredAdminKey>, StoreError> {
        self.inner.find_admin_key(id).await
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyInfo>, StoreError> {
        self.inner.list_admin_keys().await
    }

    async fn revoke_admin_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.revoke_admin_key(id, now).await
    }

    async fn record_usage(&self, used: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.inner.record_usage(used).await
    }

    async fn signing_secret(
        &self,
        proposed: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError> {
        self.inner.signing_secret(proposed, now).await
    }

    async fn seal_signing_secrets(&self, rewrap: bool) -> Result<u64, StoreError> {
        self.inner.seal_signing_secrets(rewrap).await
    }

    async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
        self.inner.signing_keys(alg).await
    }

    async fn add_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError> {
        self.inner.add_signing_key(key).await
    }

    async fn add_first_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError> {
        self.inner.add_first_signing_key(key).await
    }

    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: Option<&KeyPairRecord>,
    ) -> Result<(), StoreError> {
        let result = self.inner.revoke_signing_key(kid, now, replacement).await;
        self.invalidate();
        result
    }

    async fn record_audit(&self, batches: &[AuditBatch]) -> Result<(), StoreError> {
        self.inner.record_audit(batches).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_audit(before).await
    }

    async fn audit_chain_ends(&self) -> Result<(Option<ChainEnd>, Option<ChainEnd>), StoreError> {
        self.inner.audit_chain_ends().await
    }

    async fn audit_batches_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChainedBatch>, StoreError> {
        self.inner.audit_batches_after(after, limit).await
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_events(query).await
    }

    async fn revoke_token(
        &self,
        jti: uuid::Uuid,
        account: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Not invalidated here: no key changed, and the service adds the token to its own
        // revocation list at once; the announcement reaches the other instances.
        self.inner.revoke_token(jti, account, expires_at, now).await
    }

    async fn revoked_tokens(
        &self,
        expiring_from: DateTime<Utc>,
    ) -> Result<Vec<(uuid::Uuid, DateTime<Utc>)>, StoreError> {
        self.inner.revoked_tokens(expiring_from).await
    }

    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_revoked_tokens(before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn watch(&self) -> Result<Box<dyn ChangeWatch>, StoreError> {
        self.inner.watch().await
    }

    fn is_current(&self) -> bool {
        self.watching.load(Ordering::SeqCst)
    }

    fn changes_seen(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
