//! The store port: what the core needs from wherever accounts, keys, signing keys, revoked
//! tokens and the audit trail are kept, in the core's own records and errors. `crate::store`
//! implements it for SQLite and PostgreSQL; nothing here knows a database.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::adminkey::{AdminKeyInfo, NewAdminKey, StoredAdminKey};
use super::apikey::{KeyHash, KeyId};
use super::audit::{AuditBatch, AuditEntry, AuditQuery};
use super::audit_chain::{ChainEnd, ChainedBatch};
use super::envelope::MasterKeys;
use super::keyring::{KeyPairRecord, SigningAlg};
use super::rotation::KeyName;
use super::scope::{Catalogue, ScopeSet};
use super::settings::{AccountSettings, SettingsChange};
use super::slot::KeySlot;

/// What a storage backend reports as the cause of a failure (a driver error, an I/O error).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A key to be stored: its id, slot and hash, never the key itself.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: KeyId,
    pub slot: KeySlot,
    pub hash: KeyHash,
    /// The scopes the key may grant; `None` means every scope.
    pub scopes: Option<ScopeSet>,
    /// What the key is for, as its owner calls it.
    pub name: Option<KeyName>,
    /// When it stops working by itself; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What verification needs to know about a presented key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: KeyId,
    pub account: Arc<str>,
    pub slot: KeySlot,
    pub hash: KeyHash,
    pub revoked: bool,
    /// Until when a key revoked by a rotation keeps working: the grace period's end.
    pub retires_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<ScopeSet>,
    /// Its account's, read with the key so that minting needs no other lookup.
    pub settings: AccountSettings,
}

impl StoredKey {
    /// Whether the key works at `now`: not revoked (a retiring key until its grace period ends)
    /// and not expired. Decided here, at verification, so a cached key lapses on time too.
    pub fn works_at(&self, now: DateTime<Utc>) -> bool {
        (!self.revoked || self.retires_at.is_some_and(|end| now < end))
            && self.expires_at.is_none_or(|at| now < at)
    }
}

/// What an operator may see about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: KeyId,
    pub slot: KeySlot,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub scopes: Option<ScopeSet>,
    pub name: Option<String>,
    /// When it stops working by itself; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a rotation's grace period ends for it: it is retiring until then. `None` for its
    /// slot's current key.
    pub retires_at: Option<DateTime<Utc>>,
}

impl KeyInfo {
    /// When it stops working, unless revoked first: its expiry or its grace period's end.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.retires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// An account as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// As it was created (names differing only in case are one name).
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: AccountSettings,
}

/// Which accounts a listing reads: names starting with `prefix`, after `after`, in order of
/// their names folded to lower case (one order on every backend: bytewise, and names are ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRange<'a> {
    /// Lower case; empty for every name.
    pub prefix: &'a str,
    /// A folded name: only names folding to something greater are read.
    pub after: Option<&'a str>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("an account named {0:?} already exists")]
    DuplicateAccount(String),
    #[error("no active key with id {0}")]
    UnknownKey(String),
    /// A compare-and-swap lost: the slot's current key is not the one expected.
    #[error("the slot's current key changed meanwhile")]
    SlotChanged,
    #[error("the database cannot be reached")]
    Unavailable(#[source] Cause),
    #[error("key changes cannot be followed right now")]
    ChangesUnknown,
    #[error("the database did not answer in time")]
    TimedOut,
    #[error("database error")]
    Database(#[source] Cause),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Sealing(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}

#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Creates an account with its settings and keys, atomically. Fails with `DuplicateAccount`
    /// if the name is taken (by a deleted account too: names are never reused).
    async fn create_account(
        &self,
        name: &str,
        settings: &AccountSettings,
        keys: &[NewKey],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Changes the settings `change` names, atomically, and announces it as key changes are.
    /// Fails with `UnknownAccount` if there is no such account (compared regardless of case).
    async fn update_account(
        &self,
        name: &str,
        change: &SettingsChange,
    ) -> Result<AccountRecord, StoreError>;

    /// Deletes an account: revokes its active keys and hides it from lookups and listings, at
    /// once, announced as key changes are. Its name stays taken. Returns the keys revoked.
    /// Fails with `UnknownAccount` if there is no such account.
    async fn delete_account(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyId>, StoreError>;

    /// Looks a key up by id, revoked or not.
    async fn find_key(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError>;

    /// Stores `key` as the current key of its slot in place of `expected`, the slot's current
    /// key (`None`: the slot has none), atomically, in one transaction. The replaced key is
    /// revoked, working on until `retire_until` if given (a grace period's end); the slot's
    /// keys retiring from earlier rotations stop by then too (at once without it). Fails with
    /// `SlotChanged`, changing nothing, if `expected` is not the slot's current key any more:
    /// of two rotations from the same key, one wins.
    async fn rotate_key(
        &self,
        account: &str,
        expected: Option<&KeyId>,
        key: &NewKey,
        retire_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The id of the slot's current key (revoked or not yet expired aside), if it has one.
    async fn current_key(&self, account: &str, slot: KeySlot) -> Result<Option<KeyId>, StoreError>;

    /// The scopes of the newest key ever held in `slot` (revoked or not); `None` means every
    /// scope. Rotation carries them to the slot's next key.
    async fn slot_scopes(
        &self,
        account: &str,
        slot: KeySlot,
    ) -> Result<Option<ScopeSet>, StoreError>;

    /// The account's keys not revoked, or retiring after `now` (expired ones too), primary
    /// first, current before retiring.
    async fn list_keys(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyInfo>, StoreError>;

    /// Revokes one key, a retiring one too (its grace period ends at once). Fails with
    /// `UnknownKey` if there is no such key.
    async fn revoke_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The account named `name` (compared regardless of case), if there is one.
    async fn find_account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError>;

    /// At most `range.limit` accounts, in order of their folded names (see [`AccountRange`]).
    async fn list_accounts(
        &self,
        range: &AccountRange<'_>,
    ) -> Result<Vec<AccountRecord>, StoreError>;

    /// Stores an admin key (its hash, never the key).
    async fn create_admin_key(
        &self,
        key: &NewAdminKey,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Looks an admin key up by id, revoked or not. Never cached: admin traffic is small, and a
    /// revoked admin key must stop working on every instance at once.
    async fn find_admin_key(&self, id: &KeyId) -> Result<Option<StoredAdminKey>, StoreError>;

    /// Every admin key, revoked ones too, oldest first.
    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyInfo>, StoreError>;

    /// Revokes one active admin key. Fails with `UnknownKey` if there is no such active key.
    async fn revoke_admin_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records when keys were last used (batched by the caller).
    async fn record_usage(&self, used: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError>;

    /// Returns the shared signing secret, storing `proposed` first if there is none yet, so
    /// every instance on one database signs with the same secret.
    async fn signing_secret(
        &self,
        proposed: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError>;

    /// Seals, with the current master key, every signing secret kept in the clear, and with
    /// `rewrap` also those sealed with another master key; atomically. Returns how many were
    /// sealed. Fails if the store holds no master keys.
    async fn seal_signing_secrets(&self, rewrap: bool) -> Result<u64, StoreError>;

    /// Every stored key pair of `alg`.
    async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError>;

    /// Stores a new key pair (published at once, signing from its `activates_at`).
    async fn add_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError>;

    /// Stores `key` as the first key pair of its algorithm, unless one was recorded first
    /// (by another instance starting at the same moment): then nothing is stored. Callers read
    /// the stored keys afterwards either way.
    async fn add_first_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError>;

    /// Revokes a key pair and stores `replacement` (if any), atomically. Fails with
    /// `UnknownKey` if there is no such key not yet revoked.
    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: Option<&KeyPairRecord>,
    ) -> Result<(), StoreError>;

    /// Appends batches of audit events, a row each, atomically.
    async fn record_audit(&self, batches: &[AuditBatch]) -> Result<(), StoreError>;

    /// Deletes the audit batches whose newest event is older than `before`; returns how many
    /// rows went.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The audit chain's ends: the link the oldest kept batch follows (set by pruning) and the
    /// newest link.
    async fn audit_chain_ends(&self) -> Result<(Option<ChainEnd>, Option<ChainEnd>), StoreError>;

    /// Up to `limit` stored audit batches with ids above `after`, in the order they were written.
    async fn audit_batches_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChainedBatch>, StoreError>;

    /// Reads audit events, newest first (greatest [`AuditPosition`](super::audit::AuditPosition) first).
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Records a bearer token as revoked until `expires_at` (its `exp`), for `account`. Revoking
    /// a token already recorded changes nothing. A new entry is announced as key changes are,
    /// so that every instance reloads its revocation list.
    async fn revoke_token(
        &self,
        jti: Uuid,
        account: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The revoked tokens expiring at or after `expiring_from`, with their expiry: those that
    /// could still be presented.
    async fn revoked_tokens(
        &self,
        expiring_from: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError>;

    /// Forgets the revoked tokens that expired before `before`; returns how many went.
    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Cheap reachability check.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Subscribes to changes that can alter a key's or a token's validity (rotation, revocation,
    /// new keys, revoked tokens).
    async fn watch(&self) -> Result<Box<dyn ChangeWatch>, StoreError>;

    /// Whether what this store answers is known to be current. A cache whose change feed is
    /// down says no: it still answers, but minting should not trust it.
    fn is_current(&self) -> bool {
        true
    }

    /// How many changes this store has seen announced (a cache counts its change feed's
    /// notices; a plain store says 0): a new count means "reload what you derived".
    fn changes_seen(&self) -> u64 {
        0
    }
}

/// A subscription to key changes.
#[async_trait]
pub trait ChangeWatch: Send {
    /// Resolves when something may have changed; an error means the feed is lost.
    async fn changed(&mut self) -> Result<(), StoreError>;
}

/// How a store is opened: deadlines that keep a slow or stuck database from stalling keymint,
/// the scope catalogue keys' scope names are read and written with, and the master keys that
/// seal the signing secrets.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long one round trip may take: a change-feed heartbeat, a bookkeeping write (which
    /// the database itself also gives up, as `statement_timeout` and `lock_timeout`). Beyond
    /// it the feed counts as lost, or the write is given up and retried.
    pub timeout: std::time::Duration,
    /// The deployment's scopes (the routes file's), which stored scope names index.
    pub scopes: Arc<Catalogue>,
    /// Seal the signing secrets at rest (`None`: keep them as they are stored).
    pub master_keys: Option<Arc<MasterKeys>>,
    /// Every commit must survive a crash of the database host too (durable audit): PostgreSQL
    /// waits for the WAL flush whatever `synchronous_commit` the server is configured with.
    pub durable_commits: bool,
}

/// Two seconds: a database five times slower than a slow one still answers in time, and a
/// silently dead connection is noticed within about two and a half seconds.
pub const DEFAULT_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl StoreOptions {
    /// The default deadlines, and the deployment's scopes.
    pub fn new(scopes: Arc<Catalogue>) -> Self {
        Self {
            timeout: DEFAULT_STORE_TIMEOUT,
            scopes,
            master_keys: None,
            durable_commits: false,
        }
    }
}
