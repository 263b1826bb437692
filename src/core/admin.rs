use std::sync::Arc;

use super::account::AccountName;
use super::apikey::{ApiKeySecret, KeyId, KeyPrefix};
use super::clock::Clock;
use super::keyring::{KeyPairRecord, SigningAlg};
use super::rotation::KeyName;
use super::scope::ScopeSet;
use super::settings::AccountSettings;
use super::slot::KeySlot;
use super::store::{KeyInfo, KeyStore, NewKey, StoreError};

/// A key as shown once, right after it was made.
#[derive(Debug)]
pub struct FreshKey {
    pub slot: KeySlot,
    pub key: ApiKeySecret,
}

/// What `signing-keys revoke` did.
#[derive(Debug)]
pub struct RevokedSigningKey {
    pub alg: SigningAlg,
    pub revoked_at: chrono::DateTime<chrono::Utc>,
    /// The key that signs from now on, if the revoked one was signing.
    pub replacement: Option<KeyPairRecord>,
}

/// Account and key management, as the CLI offers it.
#[derive(Debug, Clone)]
pub struct KeyAdmin {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    prefix: KeyPrefix,
}

impl KeyAdmin {
    pub fn new(store: Arc<dyn KeyStore>, clock: Arc<dyn Clock>, prefix: KeyPrefix) -> Self {
        Self {
            store,
            clock,
            prefix,
        }
    }

    /// A new key for `slot` and what is stored of it.
    pub(crate) fn fresh(
        &self,
        slot: KeySlot,
        scopes: Option<ScopeSet>,
        name: Option<KeyName>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> (FreshKey, NewKey) {
        let key = ApiKeySecret::generate(&self.prefix);
        let stored = NewKey {
            id: *key.id(),
            slot,
            hash: key.hash(),
            scopes,
            name,
            expires_at,
        };
        (FreshKey { slot, key }, stored)
    }

    /// Creates an account with a primary and a secondary key, the account limited to `scopes`
    /// if given (else allowed every scope).
    pub async fn create_account(
        &self,
        name: &AccountName,
        scopes: Option<ScopeSet>,
    ) -> Result<Vec<FreshKey>, StoreError> {
        let settings = AccountSettings {
            scopes,
            ..Default::default()
        };
        self.create_account_at(name, &settings, self.clock.now())
            .await
    }

    /// Creates an account with `settings` and a key in each slot, created at `now`. The keys
    /// have no scopes of their own: the account's bound them.
    pub(crate) async fn create_account_at(
        &self,
        name: &AccountName,
        settings: &AccountSettings,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<FreshKey>, StoreError> {
        let (fresh, stored): (Vec<_>, Vec<_>) = KeySlot::BOTH
            .into_iter()
            .map(|slot| self.fresh(slot, None, None, None))
            .unzip();
        self.store
            .create_account(name.as_str(), settings, &stored, now)
            .await?;
        Ok(fresh)
    }

    /// Replaces the key in `slot`; the old one stops working at once, the other slot is kept.
    /// The new key may grant what the old one could.
    pub async fn rotate(&self, name: &AccountName, slot: KeySlot) -> Result<FreshKey, StoreError> {
        // The slot keeps what it could grant, even if its last key was revoked meanwhile.
        let scopes = self.store.slot_scopes(name.as_str(), slot).await?;
        let current = self.store.current_key(name.as_str(), slot).await?;
        let (fresh, stored) = self.fresh(slot, scopes, None, None);
        let now = self.clock.now();
        self.store
            .rotate_key(name.as_str(), current.as_ref(), &stored, None, now)
            .await?;
        Ok(fresh)
    }

    /// The account's working keys (retiring ones included), primary first.
    pub async fn list(&self, name: &AccountName) -> Result<Vec<KeyInfo>, StoreError> {
        let now = self.clock.now();
        let mut keys = self.store.list_keys(name.as_str(), now).await?;
        keys.retain(|key| key.works_at(now));
        if let Some(account) = self.store.find_account(name.as_str()).await? {
            for key in &mut keys {
                key.scopes = account.settings.bound(key.scopes);
            }
        }
        Ok(keys)
    }

    pub async fn revoke(&self, id: &KeyId) -> Result<(), StoreError> {
        self.store.revoke_key(id, self.clock.now()).await
    }

    /// Makes the next signing key of `alg`: published now, signing after `delay`, so verifiers
    /// that refresh the JWKS meanwhile never meet an unknown `kid`.
    pub async fn rotate_signing_key(
        &self,
        alg: SigningAlg,
        delay: chrono::Duration,
    ) -> anyhow::Result<KeyPairRecord> {
        let now = self.clock.now();
        let key = KeyPairRecord::generate(alg, now, now + delay)?;
        self.store.add_signing_key(&key).await?;
        Ok(key)
    }

    /// Revokes a signing key: it stops signing and verifying, and leaves the JWKS, on every
    /// instance once it reloads (at once, through the change feed). If it was the key signing
    /// now, a new key takes its place at once: there is no time to publish it first, and
    /// verifiers refetch the JWKS for a `kid` they do not know. Returns the replacement.
    pub async fn revoke_signing_key(&self, kid: &str) -> anyhow::Result<RevokedSigningKey> {
        let now = self.clock.now();
        for &alg in SigningAlg::ASYMMETRIC {
            let records = self.store.signing_keys(alg).await?;
            let Some(target) = records.iter().find(|r| r.kid == kid) else {
                continue;
            };
            if target.revoked_at.is_some() {
                anyhow::bail!("signing key {kid} is already revoked");
            }
            let signing_now = records
                .iter()
                .filter(|r| r.activates_at <= now)
                .max_by_key(|r| (r.activates_at, r.created_at))
                .is_some_and(|r| r.kid == kid);
            let replacement = if signing_now {
                Some(KeyPairRecord::generate(alg, now, now)?)
            } else {
                None
            };
            self.store
                .revoke_signing_key(kid, now, replacement.as_ref())
                .await?;
            return Ok(RevokedSigningKey {
                alg,
                revoked_at: now,
                replacement,
            });
        }
        anyhow::bail!("no signing key {kid}")
    }

    pub async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
        self.store.signing_keys(alg).await
    }
}
