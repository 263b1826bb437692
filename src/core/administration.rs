//! The administrator's operations, one core for two faces: the command line and the admin API
//! call these, with the same validation, the same permission check, the same errors and the
//! same audit record. Every change is written to the audit trail before it is answered, with the
//! admin key that made it as its actor (the command line's operator has none).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::account::{AccountName, NamePrefix};
use super::admin::{FreshKey, KeyAdmin};
use super::adminkey::{AdminKeyInfo, AdminKeyName, AdminKeySecret, AdminPrincipal, NewAdminKey};
use super::apikey::{KeyId, KeyPrefix};
use super::audit::{
    AuditEntry, AuditEvent, AuditPosition, AuditQuery, Caller, Outcome, encode_batch,
};
use super::clock::Clock;
use super::rotation::{RetiredKey, Rotated, Rotation};
use super::scope::{Catalogue, ScopeSet};
use super::settings::SettingsChange;
use super::store::{AccountRange, AccountRecord, KeyInfo, KeyStore, StoreError};

/// The signing keys' operations.
pub mod signing_keys;

/// Who asks for an operation: where from, and with which admin key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    caller: Caller,
    /// `None` for the operator at the command line, who holds the database anyway.
    admin_key: Option<AdminPrincipal>,
}

/// The `dialect` of the command line's audit records.
pub const CLI: &str = "cli";

impl Writer {
    /// Who it is.
    pub fn actor(&self) -> &Actor {
        &self.0
    }
}

impl Actor {
    /// Where the request came from.
    pub fn caller(&self) -> Caller {
        self.caller
    }

    /// The operator at the command line: every right.
    pub fn operator() -> Self {
        Self {
            caller: Caller {
                dialect: CLI,
                client_ip: None,
            },
            admin_key: None,
        }
    }

    /// A caller of the admin API, authenticated by its admin key.
    pub fn admin_key(caller: Caller, key: AdminPrincipal) -> Self {
        Self {
            caller,
            admin_key: Some(key),
        }
    }

    /// The admin key acting, for the audit trail.
    pub fn admin_key_id(&self) -> Option<KeyId> {
        self.admin_key.as_ref().map(|key| key.id)
    }
}

/// An actor allowed to change things. Only [`Administration::writer`] makes one, so an
/// operation that takes a `Writer` cannot be reached by a read-only admin key.
#[derive(Debug)]
pub struct Writer(Actor);

/// Why an operation was refused. The `Display` text is for the command line and logs.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("this admin key is read-only")]
    ReadOnly,
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("an account named {0:?} already exists")]
    DuplicateAccount(String),
    #[error("no active key with id {0}")]
    UnknownKey(String),
    #[error("no active admin key with id {0}")]
    UnknownAdminKey(String),
    #[error("HS256 signs with one shared secret; key pairs are for ES256, EdDSA and RS256")]
    NotAsymmetric,
    #[error("a key slot is either `primary` or `secondary`")]
    UnknownSlot,
    /// A rotation raced another one of the same slot, and lost.
    #[error("the slot's key was rotated meanwhile")]
    RotationConflict,
    /// A rotation's precondition (`If-Match`) named a key that is not the slot's current one.
    #[error("the slot's current key is not the one expected")]
    NotCurrentKey,
    #[error("a key's expiry must be later than now")]
    ExpiryPassed,
    #[error("the key store is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("the key store failed")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownAccount(name) => AdminError::UnknownAccount(name),
            StoreError::DuplicateAccount(name) => AdminError::DuplicateAccount(name),
            StoreError::UnknownKey(id) => AdminError::UnknownKey(id),
            StoreError::Unavailable(_) | StoreError::ChangesUnknown | StoreError::TimedOut => {
                AdminError::Unavailable(err)
            }
            other => AdminError::Internal(other),
        }
    }
}

/// Accounts a listing page holds when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Accounts a listing page holds at most.
pub const MAX_PAGE_SIZE: u32 = 100;

/// How many accounts a listing page holds: 1 to [`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a page holds 1 to {MAX_PAGE_SIZE} entries")]
pub struct InvalidPageSize;

impl FromStr for PageSize {
    type Err = InvalidPageSize;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<u32>() {
            Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(Self(size)),
            _ => Err(InvalidPageSize),
        }
    }
}

impl From<PageSize> for u32 {
    fn from(size: PageSize) -> Self {
        size.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self(DEFAULT_PAGE_SIZE)
    }
}

/// Where a listing goes on: the folded name of the last account of the page before. Callers
/// treat it as opaque and pass it back as they got it; any value of its shape is a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

/// The cursors [`Cursor`] accepts, as a regular expression.
pub const CURSOR_PATTERN: &str = "^[a-z0-9._-]{1,64}$";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor of this listing: pass next_cursor back as it came")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shaped = (1..=64).contains(&s.len())
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if shaped {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidCursor)
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which accounts to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountQuery {
    pub prefix: NamePrefix,
    /// After the page this cursor ended; from the first name when `None`.
    pub after: Option<Cursor>,
    pub size: PageSize,
}

/// One page of accounts, in order of their names regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPage {
    pub accounts: Vec<AccountRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Where the next page starts (the last event's position); `None` on the last page.
    pub next: Option<AuditPosition>,
}

/// An account and its active keys' public facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDetails {
    pub account: AccountRecord,
    pub keys: Vec<KeyInfo>,
}

/// An account just created, with its keys' secrets: shown once.
#[derive(Debug)]
pub struct CreatedAccount {
    pub account: AccountRecord,
    /// What both keys may grant; `None`: every scope.
    pub scopes: Option<ScopeSet>,
    pub keys: Vec<FreshKey>,
}

/// An admin key just created, with its secret: shown once.
#[derive(Debug)]
pub struct FreshAdminKey {
    pub key: AdminKeySecret,
    pub info: AdminKeyInfo,
}

/// The operations, on a store.
#[derive(Debug, Clone)]
pub struct Administration {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    keys: KeyAdmin,
    /// The deployment's scopes, which account keys are limited to.
    scopes: Arc<Catalogue>,
    /// Durable audit: a change whose record cannot be written is answered `Unavailable`.
    durable: bool,
}

impl Administration {
    /// Operations on `store`; new account keys get `prefix`, and may grant `scopes`' names.
    pub fn new(
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        prefix: KeyPrefix,
        scopes: Arc<Catalogue>,
    ) -> Self {
        Self {
            keys: KeyAdmin::new(store.clone(), clock.clone(), prefix),
            store,
            clock,
            scopes,
            durable: true,
        }
    }

    /// With `false` (`--audit buffered`), a change whose record cannot be written is answered
    /// as made, the failure logged; by default it is answered `Unavailable`, though it stands.
    pub fn with_durable_audit(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The time now, by the operations' clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The deployment's scopes.
    pub fn scopes(&self) -> &Arc<Catalogue> {
        &self.scopes
    }

    /// The actor, allowed to change things unless its admin key is read-only (a refusal on
    /// record).
    pub async fn writer(&self, actor: Actor) -> Result<Writer, AdminError> {
        if actor.admin_key.as_ref().is_some_and(|key| key.read_only) {
            let mut refused = self.event(&actor, Outcome::Refused);
            refused.reason = Some(Cow::Borrowed("read_only"));
            // Refused either way: a refusal not on record is logged by `record`.
            let _ = self.record(refused).await;
            return Err(AdminError::ReadOnly);
        }
        Ok(Writer(actor))
    }

    /// Makes an admin key; its secret is in the answer only.
    pub async fn create_admin_key(
        &self,
        by: &Writer,
        name: AdminKeyName,
        read_only: bool,
    ) -> Result<FreshAdminKey, AdminError> {
        let key = AdminKeySecret::generate();
        let now = self.clock.now();
        let stored = NewAdminKey {
            id: *key.id(),
            name: name.clone(),
            hash: key.hash(),
            read_only,
        };
        self.store.create_admin_key(&stored, now).await?;
        let mut created = self.event(&by.0, Outcome::AdminKeyCreated);
        created.key_id = Some(*key.id());
        self.record(created).await?;
        let info = AdminKeyInfo {
            id: *key.id(),
            name: name.as_str().to_owned(),
            read_only,
            created_at: now,
            revoked_at: None,
        };
        Ok(FreshAdminKey { key, info })
    }

    /// Every admin key, revoked ones too, oldest first.
    pub async fn admin_keys(&self) -> Result<Vec<AdminKeyInfo>, AdminError> {
        Ok(self.store.list_admin_keys().await?)
    }

    /// Revokes an admin key: refused from the next request on, on every instance.
    pub async fn revoke_admin_key(&self, by: &Writer, id: &KeyId) -> Result<(), AdminError> {
        self.store
            .revoke_admin_key(id, self.clock.now())
            .await
            .map_err(|err| match err {
                StoreError::UnknownKey(id) => AdminError::UnknownAdminKey(id),
                other => other.into(),
            })?;
        let mut revoked = self.event(&by.0, Outcome::AdminKeyRevoked);
        revoked.key_id = Some(*id);
        self.record(revoked).await?;
        Ok(())
    }

    /// A page of accounts.
    pub async fn accounts(&self, query: &AccountQuery) -> Result<AccountPage, AdminError> {
        let size = query.size.0;
        let range = AccountRange {
            prefix: query.prefix.folded(),
            after: query.after.as_ref().map(|cursor| cursor.0.as_str()),
            // One more than the page holds: whether there is a next page.
            limit: size + 1,
        };
        let mut accounts = self.store.list_accounts(&range).await?;
        let next = if accounts.len() > size as usize {
            accounts.truncate(size as usize);
            accounts
                .last()
                .map(|last| Cursor(last.name.to_ascii_lowercase()))
        } else {
            None
        };
        Ok(AccountPage { accounts, next })
    }

    /// A page of the audit trail, `query.limit` events at most: the command line's `audit` and
    /// the admin API's listAuditEvents.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage, AdminError> {
        let size = query.limit as usize;
        let one_more = AuditQuery {
            // One more than the page holds: whether there is a next page.
            limit: query.limit.saturating_add(1),
            ..query.clone()
        };
        let mut events = self.store.audit_events(&one_more).await?;
        let next = if events.len() > size {
            events.truncate(size);
            events.last().map(|entry| entry.position)
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }

    /// An account and its active keys.
    pub async fn account(&self, name: &AccountName) -> Result<AccountDetails, AdminError> {
        let account = self
            .store
            .find_account(name.as_str())
            .await?
            .ok_or_else(|| AdminError::UnknownAccount(name.as_str().to_owned()))?;
        let keys = self.keys.list(&account_name(&account)?).await?;
        Ok(AccountDetails { account, keys })
    }

    /// Creates an account with `settings` and a primary and a secondary key, which may grant
    /// the account's scopes.
    pub async fn create_account(
        &self,
        by: &Writer,
        name: &AccountName,
        settings: &SettingsChange,
    ) -> Result<CreatedAccount, AdminError> {
        let now = self.clock.now();
        let settings = settings.initial();
        let keys = self.keys.create_account_at(name, &settings, now).await?;
        let mut created = self.event(&by.0, Outcome::AccountCreated);
        created.account = Some(Arc::from(name.as_str()));
        created.scopes = settings.scopes;
        self.record(created).await?;
        Ok(CreatedAccount {
            account: AccountRecord {
                name: name.as_str().to_owned(),
                created_at: now,
                settings,
            },
            scopes: settings.scopes,
            keys,
        })
    }

    /// Changes an account's settings; every instance applies them within the change feed's
    /// delay. Answers the account as it now is.
    pub async fn update_account(
        &self,
        by: &Writer,
        name: &AccountName,
        change: &SettingsChange,
    ) -> Result<AccountDetails, AdminError> {
        let account = self.store.update_account(name.as_str(), change).await?;
        let mut updated = self.event(&by.0, Outcome::AccountUpdated);
        updated.account = Some(Arc::from(account.name.as_str()));
        updated.scopes = account.settings.scopes;
        updated.reason = Some(Cow::Owned(change.summary()));
        self.record(updated).await?;
        self.account(name).await
    }

    /// Deletes an account: every key of it is revoked at once, the account is gone from
    /// lookups and listings, and its name is never given to another account (its tokens'
    /// `sub`).
    /// Answers the keys it revoked.
    pub async fn delete_account(
        &self,
        by: &Writer,
        name: &AccountName,
    ) -> Result<Vec<KeyId>, AdminError> {
        let account = self
            .store
            .find_account(name.as_str())
            .await?
            .ok_or_else(|| AdminError::UnknownAccount(name.as_str().to_owned()))?;
        let revoked = self
            .store
            .delete_account(&account.name, self.clock.now())
            .await?;
        let owner: Arc<str> = Arc::from(account.name.as_str());
        for id in &revoked {
            let mut event = self.event(&by.0, Outcome::KeyRevoked);
            event.account = Some(owner.clone());
            event.key_id = Some(*id);
            self.record(event).await?;
        }
        let mut deleted = self.event(&by.0, Outcome::AccountDeleted);
        deleted.account = Some(owner);
        self.record(deleted).await?;
        Ok(revoked)
    }

    /// Revokes one of an account's active keys; it stops working at once.
    pub async fn revoke_key(&self, by: &Writer, id: &KeyId) -> Result<(), AdminError> {
        let active = self
            .store
            .find_key(id)
            .await?
            .filter(|key| key.works_at(self.clock.now()))
            .ok_or_else(|| AdminError::UnknownKey(id.to_string()))?;
        self.keys.revoke(id).await?;
        let mut revoked = self.event(&by.0, Outcome::KeyRevoked);
        revoked.account = Some(active.account);
        revoked.key_id = Some(*id);
        self.record(revoked).await?;
        Ok(())
    }

    /// Replaces the key in a slot with a new one, whose secret is in the answer only. The old
    /// key keeps working for the grace period (not at all without one), then is refused like an
    /// unknown key; so are the tokens it minted. Of two rotations of the same slot at once, one
    /// is made and the other refused (`RotationConflict`, or `NotCurrentKey` with a
    /// precondition): a slot never ends up with two current keys.
    pub async fn rotate_key(
        &self,
        by: &Writer,
        name: &AccountName,
        rotation: &Rotation,
    ) -> Result<Rotated, AdminError> {
        let now = self.clock.now();
        if rotation.expires_at.is_some_and(|at| at <= now) {
            return Err(AdminError::ExpiryPassed);
        }
        let account = self
            .store
            .find_account(name.as_str())
            .await?
            .ok_or_else(|| AdminError::UnknownAccount(name.as_str().to_owned()))?;
        let slot = rotation.slot;
        // The slot keeps what it could grant, even if its last key was revoked meanwhile.
        let scopes = self.store.slot_scopes(&account.name, slot).await?;
        let current = self.store.current_key(&account.name, slot).await?;
        if let Some(expected) = &rotation.if_current
            && !current.is_some_and(|id| expected.contains(&id))
        {
            return Err(AdminError::NotCurrentKey);
        }
        let old = match &current {
            Some(id) => self.store.find_key(id).await?,
            None => None,
        };
        let (key, stored) =
            self.keys
                .fresh(slot, scopes, rotation.name.clone(), rotation.expires_at);
        let retire_until = (!rotation.grace.is_none()).then(|| now + rotation.grace.as_duration());
        self.store
            .rotate_key(&account.name, current.as_ref(), &stored, retire_until, now)
            .await
            .map_err(|err| match err {
                StoreError::SlotChanged if rotation.if_current.is_some() => {
                    AdminError::NotCurrentKey
                }
                StoreError::SlotChanged => AdminError::RotationConflict,
                other => other.into(),
            })?;
        let mut rotated = self.event(&by.0, Outcome::KeyRotated);
        rotated.account = Some(Arc::from(account.name.as_str()));
        rotated.key_id = Some(stored.id);
        self.record(rotated).await?;
        let retire_at = retire_until.unwrap_or(now);
        let previous = old.map(|old| RetiredKey {
            id: old.id,
            ends_at: old.expires_at.map_or(retire_at, |at| at.min(retire_at)),
        });
        let info = KeyInfo {
            id: stored.id,
            slot,
            created_at: now,
            last_used_at: None,
            scopes,
            name: stored.name.map(|name| name.as_str().to_owned()),
            expires_at: stored.expires_at,
            retires_at: None,
        };
        Ok(Rotated {
            key,
            info,
            previous,
        })
    }

    fn event(&self, actor: &Actor, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            dialect: Cow::Borrowed(actor.caller.dialect),
            outcome,
            reason: None,
            account: None,
            key_id: None,
            scopes: None,
            jti: None,
            client_ip: actor.caller.client_ip,
            count: 1,
            actor: actor.admin_key_id(),
        }
    }

    /// Writes one event at once, before the operation is answered: administrators' changes are
    /// few, and each is on record when its author learns it was made. The change stands if the
    /// write fails (it was made); the failure is logged and, with durable audit, answered
    /// `Unavailable`, so that no change is reported done without its record.
    async fn record(&self, event: AuditEvent) -> Result<(), AdminError> {
        let batch = encode_batch([&event], &self.scopes);
        match self.store.record_audit(&[batch]).await {
            Ok(()) => Ok(()),
            Err(err) => {
                tracing::error!(error = %err, outcome = %event.outcome, "could not write an administrator's change to the audit trail");
                if self.durable {
                    Err(AdminError::Unavailable(err))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// A stored account's name as a name (stored names were valid when made).
fn account_name(account: &AccountRecord) -> Result<AccountName, AdminError> {
    account
        .name
        .parse()
        .map_err(|_| AdminError::Internal(StoreError::Corrupt("account name".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!("1".parse(), Ok(PageSize(1)));
        assert_eq!("100".parse(), Ok(PageSize(100)));
        for bad in ["0", "101", "-1", "", "ten", "1.5"] {
            assert!(bad.parse::<PageSize>().is_err(), "{bad:?}");
        }
        assert_eq!(PageSize::default(), PageSize(DEFAULT_PAGE_SIZE));
    }

    #[test]
    fn a_cursor_is_a_folded_name_position() {
        assert!("acme-corp.eu".parse::<Cursor>().is_ok());
        for bad in ["", "Acme", "a b", "%2F", &"x".repeat(65)] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_actor_on_record_is_the_admin_key_or_nobody() {
        let caller = Caller {
            dialect: "admin",
            client_ip: None,
        };
        let key = |read_only| AdminPrincipal {
            id: "AbCdEfGhIjK".parse().unwrap(),
            name: "ci".to_owned(),
            read_only,
        };
        assert_eq!(
            Actor::admin_key(caller, key(true)).admin_key_id(),
            Some("AbCdEfGhIjK".parse().unwrap())
        );
        assert_eq!(Actor::operator().admin_key_id(), None);
    }
}
