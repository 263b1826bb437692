//! Admin keys: who may call the admin API. They look like API keys
//! (`kma_3vQb7TnXkP2aW9sLmR4cYd0eFgHjKq8uZ1x5oNpB2aC6D`, see [`super::apikey`]) with a prefix of
//! their own, so that neither kind is ever mistaken for the other; only their SHA-256 is stored,
//! and a presented one is compared with it in constant time. They are looked up in the store on
//! every admin request, never cached: one revoked anywhere stops working everywhere at once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::account::is_name;
use super::apikey::{ApiKeySecret, KeyFormatError, KeyHash, KeyId, KeyPrefix, PresentedKey};
use super::error::{Attempt, CoreError};
use super::store::KeyStore;

/// What every admin key starts with, before the underscore.
pub const ADMIN_KEY_PREFIX: &str = "kma";

/// A whole admin key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct AdminKeySecret(ApiKeySecret);

impl AdminKeySecret {
    pub fn generate() -> Self {
        let prefix: KeyPrefix = ADMIN_KEY_PREFIX.parse().expect("a valid key prefix");
        Self(ApiKeySecret::generate(&prefix))
    }

    pub fn id(&self) -> &KeyId {
        self.0.id()
    }

    pub fn hash(&self) -> KeyHash {
        self.0.hash()
    }

    /// The full key, for the one place that shows it: the command that created it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AdminKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminKeySecret")
            .field("id", self.id())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// An admin key as presented: its id and hash, if it is in the admin keys' format.
fn presented(candidate: &str) -> Result<PresentedKey, KeyFormatError> {
    match candidate.split_once('_') {
        Some((ADMIN_KEY_PREFIX, _)) => PresentedKey::parse(candidate),
        _ => Err(KeyFormatError::Malformed),
    }
}

/// The key id a presented admin key names, if it is well-formed: for the audit trail of a
/// refusal.
pub fn claimed_id(candidate: &str) -> Option<KeyId> {
    presented(candidate).ok().map(|key| key.id)
}

/// What an admin key is called, to tell keys apart in listings: the account names' alphabet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an admin key name is 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
)]
pub struct InvalidAdminKeyName;

impl FromStr for AdminKeyName {
    type Err = InvalidAdminKeyName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAdminKeyName)
        }
    }
}

impl AdminKeyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an operator may see about an admin key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyInfo {
    pub id: KeyId,
    pub name: String,
    /// A read-only key may only read.
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An admin key to be stored: never the key itself.
#[derive(Debug, Clone)]
pub struct NewAdminKey {
    pub id: KeyId,
    pub name: AdminKeyName,
    pub hash: KeyHash,
    pub read_only: bool,
}

/// What verification needs to know about a presented admin key.
#[derive(Debug, Clone)]
pub struct StoredAdminKey {
    pub info: AdminKeyInfo,
    pub hash: KeyHash,
}

/// A caller whose admin key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub id: KeyId,
    pub name: String,
    pub read_only: bool,
}

/// Checks a presented admin key against the store. Every failure is the same
/// `InvalidCredentials`; its [`Attempt`] says whether it could be a guess (anything that is
/// not a live admin key: an account's API key, a token, a made-up or mistyped key) or a key
/// that was genuine once (revoked).
pub async fn verify(store: &dyn KeyStore, candidate: &str) -> Result<AdminPrincipal, CoreError> {
    let key = presented(candidate).map_err(|err| {
        tracing::debug!(error = %err, "not an admin key");
        CoreError::InvalidCredentials(Attempt::Guess)
    })?;
    let Some(stored) = store.find_admin_key(&key.id).await? else {
        let _ = KeyHash::decoy().matches(&key.hash);
        tracing::debug!(key_id = %key.id, "unknown admin key id");
        return Err(CoreError::InvalidCredentials(Attempt::Guess));
    };
    if !stored.hash.matches(&key.hash) {
        tracing::debug!(key_id = %key.id, "wrong secret for the admin key id");
        return Err(CoreError::InvalidCredentials(Attempt::Guess));
    }
    if stored.info.revoked_at.is_some() {
        tracing::debug!(key_id = %key.id, "revoked admin key refused");
        return Err(CoreError::InvalidCredentials(Attempt::Lapsed));
    }
    Ok(AdminPrincipal {
        id: stored.info.id,
        name: stored.info.name,
        read_only: stored.info.read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_keys_have_their_own_prefix_and_the_api_keys_shape() {
        let key = AdminKeySecret::generate();
        let (prefix, body) = key.expose().split_once('_').unwrap();
        assert_eq!(prefix, "kma");
        assert_eq!(body.len(), 39);
        let presented = presented(key.expose()).unwrap();
        assert_eq!(&presented.id, key.id());
        assert!(presented.hash.matches(&key.hash()));
    }

    #[test]
    fn an_account_key_is_never_read_as_an_admin_key() {
        let account_key = ApiKeySecret::generate(&KeyPrefix::default());
        assert!(presented(account_key.expose()).is_err());
        assert_eq!(claimed_id(account_key.expose()), None);
        for bad in ["", "kma_", "kma", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(presented(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_mistyped_admin_key_fails_its_checksum() {
        let key = AdminKeySecret::generate();
        let mut typo: Vec<char> = key.expose().chars().collect();
        typo[20] = if typo[20] == 'a' { 'b' } else { 'a' };
        let typo: String = typo.into_iter().collect();
        assert_eq!(presented(&typo), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = AdminKeySecret::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[4 + 11..]), "{shown}");
        assert!(shown.contains(key.id().as_str()));
    }

    #[test]
    fn names_use_the_account_names_alphabet() {
        assert!("ci-deploy".parse::<AdminKeyName>().is_ok());
        for bad in ["", "with space", "-x", &"x".repeat(65)] {
            assert!(bad.parse::<AdminKeyName>().is_err(), "{bad:?}");
        }
    }
}
