//! The signing keys' operations: their public facts, and the next key of an algorithm,
//! published before it signs.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{AdminError, Administration, Writer};
use crate::core::audit::Outcome;
use crate::core::keyring::{KeyPairRecord, KeyringError, SigningAlg};
use crate::core::store::StoreError;

/// The shortest activation delay: verifiers may cache the JWKS for 60 s, and instances reload
/// keys every 5 s.
pub const MIN_ACTIVATION_DELAY_SECS: u32 = 65;
/// The activation delay when none is given.
pub const DEFAULT_ACTIVATION_DELAY_SECS: u32 = 300;
/// The longest activation delay: a key waiting longer is a mistake more likely than a plan.
pub const MAX_ACTIVATION_DELAY_SECS: u32 = 30 * 86_400;

/// How long a new signing key is published before it signs, so that no verifier refreshing
/// the JWKS meets a `kid` it has never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationDelay(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be at least {MIN_ACTIVATION_DELAY_SECS} s (and at most 30 days): verifiers may cache the JWKS for 60 s and instances reload keys every 5 s, so a key signing sooner could meet a verifier that has never seen it"
)]
pub struct InvalidActivationDelay;

impl ActivationDelay {
    pub fn new(seconds: i64) -> Result<Self, InvalidActivationDelay> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (MIN_ACTIVATION_DELAY_SECS..=MAX_ACTIVATION_DELAY_SECS).contains(s))
            .map(Self)
            .ok_or(InvalidActivationDelay)
    }
}

impl Default for ActivationDelay {
    fn default() -> Self {
        Self(DEFAULT_ACTIVATION_DELAY_SECS)
    }
}

/// A signing key's public facts: never its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: DateTime<Utc>,
    /// When it signs from; before then it is published only.
    pub activates_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&KeyPairRecord> for SigningKeyInfo {
    fn from(key: &KeyPairRecord) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg,
            created_at: key.created_at,
            activates_at: key.activates_at,
            revoked_at: key.revoked_at,
        }
    }
}

impl Administration {
    /// The stored key pairs of `alg`, or of every key-pair algorithm, each oldest first.
    pub async fn signing_keys(
        &self,
        alg: Option<SigningAlg>,
    ) -> Result<Vec<SigningKeyInfo>, AdminError> {
        let mut keys = Vec::new();
        for &each in SigningAlg::ASYMMETRIC {
            if alg.is_none_or(|alg| alg == each) {
                let mut records = self.store.signing_keys(each).await?;
                records.sort_by_key(|r| (r.activates_at, r.created_at));
                keys.extend(records.iter().map(SigningKeyInfo::from));
            }
        }
        Ok(keys)
    }

    /// Makes the next key pair of `alg`: published at once (every instance reloads its keys
    /// through the change feed), signing after `delay`. On record with its `kid`.
    pub async fn rotate_signing_key(
        &self,
        by: &Writer,
        alg: SigningAlg,
        delay: ActivationDelay,
    ) -> Result<SigningKeyInfo, AdminError> {
        let now = self.clock.now();
        let activates_at = now + chrono::Duration::seconds(delay.0.into());
        let key = KeyPairRecord::generate(alg, now, activates_at).map_err(|err| match err {
            KeyringError::NotAsymmetric => AdminError::NotAsymmetric,
            other => AdminError::Internal(StoreError::Corrupt(other.to_string())),
        })?;
        self.store.add_signing_key(&key).await?;
        let mut rotated = self.event(&by.0, Outcome::SigningKeyRotated);
        // The trail has no member for a signing key: its algorithm and kid go in `reason`.
        rotated.reason = Some(Cow::Owned(format!("{alg} {}", key.kid)));
        self.record(rotated).await?;
        Ok(SigningKeyInfo::from(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activation_delay_outlasts_the_jwks_cache_and_the_reload() {
        assert!(ActivationDelay::new(65).is_ok());
        assert!(ActivationDelay::new(i64::from(MAX_ACTIVATION_DELAY_SECS)).is_ok());
        for bad in [
            -1,
            0,
            64,
            i64::from(MAX_ACTIVATION_DELAY_SECS) + 1,
            i64::MAX,
        ] {
            assert_eq!(
                ActivationDelay::new(bad),
                Err(InvalidActivationDelay),
                "{bad}"
            );
        }
        assert_eq!(ActivationDelay::default(), ActivationDelay(300));
    }
}
