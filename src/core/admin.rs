use std::sync::Arc;

use super::account::AccountName;
use super::apikey::{ApiKeySecret, KeyId, KeyPrefix};
use super::clock::Clock;
use super::keyring::{KeyPairRecord, SigningAlg};
use super::scope::ScopeSet;
use super::slot::KeySlot;
use crate::store::{KeyInfo, KeyStore, NewKey, StoreError};

/// A key as shown once, right after it was made.
#[derive(Debug)]
pub struct FreshKey {
    pub slot: KeySlot,
    pub key: ApiKeySecret,
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

    fn fresh(&self, slot: KeySlot, scopes: Option<ScopeSet>) -> (FreshKey, NewKey) {
        let key = ApiKeySecret::generate(&self.prefix);
        let stored = NewKey {
            id: *key.id(),
            slot,
            hash: key.hash(),
            scopes,
        };
        (FreshKey { slot, key }, stored)
    }

    /// Creates an account with a primary and a secondary key, both limited to `scopes` if
    /// given (else allowed every scope).
    pub async fn create_account(
        &self,
        name: &AccountName,
        scopes: Option<ScopeSet>,
    ) -> Result<Vec<FreshKey>, StoreError> {
        let (fresh, stored): (Vec<_>, Vec<_>) = KeySlot::BOTH
            .into_iter()
            .map(|slot| self.fresh(slot, scopes))
            .unzip();
        self.store
            .create_account(name.as_str(), &stored, self.clock.now())
            .await?;
        Ok(fresh)
    }

    /// Replaces the key in `slot`; the old one stops working at once, the other slot is kept.
    /// The new key may grant what the old one could.
    pub async fn rotate(&self, name: &AccountName, slot: KeySlot) -> Result<FreshKey, StoreError> {
        // The slot keeps what it could grant, even if its last key was revoked meanwhile.
        let scopes = self.store.slot_scopes(name.as_str(), slot).await?;
        let (fresh, stored) = self.fresh(slot, scopes);
        self.store
            .replace_key(name.as_str(), &stored, self.clock.now())
            .await?;
        Ok(fresh)
    }

    pub async fn list(&self, name: &AccountName) -> Result<Vec<KeyInfo>, StoreError> {
        self.store.list_keys(name.as_str()).await
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

    pub async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
        self.store.signing_keys(alg).await
    }
}
