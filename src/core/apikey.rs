//! API keys look like `km_3vQb7TnXkP2aW9sLmR4cYd0eFgHjKq8uZ1x5oNpB2aC6D`:
//! `{prefix}_{id}{random}{checksum}`, all base62 after the underscore (GitHub's token format).
//!
//! - `id` (11 chars, 64 bits) is the public key id, so a lookup needs no secret comparison;
//! - `random` (22 chars, 128 bits) is the secret part;
//! - `checksum` (6 chars) is CRC32 of everything before it, so a mistyped key is refused
//!   before any lookup.
//!
//! Only the SHA-256 of the whole string is stored. The secret is high-entropy, so a fast hash
//! is enough; a slow password hash would cost every token request without adding strength.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

const ID_LEN: usize = 11;
const RANDOM_LEN: usize = 22;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = ID_LEN + RANDOM_LEN + CHECKSUM_LEN;
const MAX_PREFIX_LEN: usize = 16;
/// Longest string worth parsing; anything longer is refused without further work.
pub const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + 1 + BODY_LEN;

/// The short, human-readable part before the underscore (`km`, `mem`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl Default for KeyPrefix {
    fn default() -> Self {
        Self("km".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key prefix is 1 to 16 lowercase letters or digits, starting with a letter")]
pub struct InvalidPrefix;

impl FromStr for KeyPrefix {
    type Err = InvalidPrefix;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_prefix(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidPrefix)
        }
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_prefix(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= MAX_PREFIX_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The public identifier of one key. Safe to log and to show. Kept inline (11 ASCII
/// alphanumerics), so copying it on the request path allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; ID_LEN]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a key id")]
pub struct InvalidKeyId;

impl KeyId {
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics ever get in (`from_str`), so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyId").field(&self.as_str()).finish()
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes().try_into() {
            Ok(bytes) if s.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(Self(bytes)),
            _ => Err(InvalidKeyId),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole API key as the client sends it. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ApiKeySecret {
    id: KeyId,
    secret: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key is not in keymint's format")]
    Malformed,
    #[error("the key's checksum does not match")]
    BadChecksum,
}

impl ApiKeySecret {
    /// Makes a fresh key with the given prefix.
    pub fn generate(prefix: &KeyPrefix) -> Self {
        let mut rng = rand::rng();
        let id = pad(&base62::encode(rng.random::<u64>()), ID_LEN);
        let random = pad(&base62::encode(rng.random::<u128>()), RANDOM_LEN);
        let head = format!("{prefix}_{id}{random}");
        let checksum = pad(
            &base62::encode(crc32fast::hash(head.as_bytes())),
            CHECKSUM_LEN,
        );
        Self {
            id: id.parse().expect("base62 digits make a key id"),
            secret: SecretString::from(head + &checksum),
        }
    }

    /// Checks shape and checksum; no lookup, no secret comparison.
    pub fn parse(candidate: &str) -> Result<Self, KeyFormatError> {
        Ok(Self {
            id: checked_id(candidate)?,
            secret: SecretString::from(candidate.to_owned()),
        })
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.secret.expose_secret())
    }

    /// The full key, for the one place that shows it: the CLI that created it.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

/// The id of a well-formed key (prefix, base62 body, matching checksum).
fn checked_id(candidate: &str) -> Result<KeyId, KeyFormatError> {
    if candidate.len() > MAX_KEY_LEN || !candidate.is_ascii() {
        return Err(KeyFormatError::Malformed);
    }
    let (prefix, body) = candidate
        .rsplit_once('_')
        .ok_or(KeyFormatError::Malformed)?;
    if !is_prefix(prefix)
        || body.len() != BODY_LEN
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(KeyFormatError::Malformed);
    }
    let (head, checksum) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
    let expected = base62::decode(checksum).map_err(|_| KeyFormatError::Malformed)?;
    if expected != u128::from(crc32fast::hash(head.as_bytes())) {
        return Err(KeyFormatError::BadChecksum);
    }
    body[..ID_LEN]
        .parse()
        .map_err(|_| KeyFormatError::Malformed)
}

/// A key as a client presented it, reduced at once to what checking it needs: its id and its
/// hash. The secret is not copied anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub id: KeyId,
    pub hash: KeyHash,
}

impl PresentedKey {
    /// Only the key id a well-formed key names (checksum checked, nothing hashed): for the
    /// audit trail of a refusal.
    pub fn id_of(candidate: &str) -> Result<KeyId, KeyFormatError> {
        checked_id(candidate)
    }

    pub fn parse(candidate: &str) -> Result<Self, KeyFormatError> {
        Ok(Self {
            id: checked_id(candidate)?,
            hash: KeyHash::of(candidate),
        })
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// SHA-256 of a key: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    fn of(key: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let mut hash = [0; 32];
        hash.copy_from_slice(digest.as_ref());
        Self(hash)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison, so response timing says nothing about how close a guess was.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// What a presented key is compared against when its id is unknown, so that unknown and
    /// wrong keys cost the same.
    pub fn decoy() -> &'static KeyHash {
        static DECOY: KeyHash = KeyHash([0; 32]);
        &DECOY
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash([redacted])")
    }
}

fn pad(digits: &str, len: usize) -> String {
    format!("{digits:0>len$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKeySecret {
        ApiKeySecret::generate(&KeyPrefix::default())
    }

    #[test]
    fn a_generated_key_parses_back_to_the_same_id_and_hash() {
        let key = key();
        let parsed = ApiKeySecret::parse(key.expose()).unwrap();
        assert_eq!(parsed.id(), key.id());
        assert!(parsed.hash().matches(&key.hash()));
        let presented = PresentedKey::parse(key.expose()).unwrap();
        assert_eq!(&presented.id, key.id());
        assert!(presented.hash.matches(&key.hash()));
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = key();
        let (prefix, body) = key.expose().split_once('_').unwrap();
        assert_eq!(prefix, "km");
        assert_eq!(body.len(), 39);
        assert!(body.starts_with(key.id().as_str()));
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(key().expose(), key().expose());
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let key = key();
        let mut chars: Vec<char> = key.expose().chars().collect();
        let i = 20;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(
            ApiKeySecret::parse(&typo).unwrap_err(),
            KeyFormatError::BadChecksum
        );
    }

    #[test]
    fn malformed_strings_are_refused_before_any_lookup() {
        let valid = key();
        let cases = [
            String::new(),
            "km_".to_owned(),
            "no-underscore".to_owned(),
            format!("KM_{}", &valid.expose()[3..]),
            format!("{} ", valid.expose()),
            format!(" {}", valid.expose()),
            valid.expose()[..valid.expose().len() - 1].to_owned(),
            format!("{}x", valid.expose()),
            valid.expose().replacen('_', "-", 1),
            "km_ａbc".to_owned(),
            "a".repeat(10_000),
        ];
        for case in cases {
            assert!(ApiKeySecret::parse(&case).is_err(), "{case:?}");
            assert!(PresentedKey::parse(&case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn a_key_with_another_valid_prefix_is_accepted() {
        let key = ApiKeySecret::generate(&"mem".parse().unwrap());
        assert!(key.expose().starts_with("mem_"));
        assert!(ApiKeySecret::parse(key.expose()).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = key();
        let shown = format!("{key:?} {:?}", key.hash());
        assert!(!shown.contains(&key.expose()[3 + 11..]), "{shown}");
        assert!(shown.contains(key.id().as_str()));
    }

    #[test]
    fn prefixes_are_short_lowercase_words() {
        assert!("mem".parse::<KeyPrefix>().is_ok());
        assert!("k2".parse::<KeyPrefix>().is_ok());
        for bad in ["", "2k", "Mem", "me_m", "abcdefghijklmnopq"] {
            assert!(bad.parse::<KeyPrefix>().is_err(), "{bad:?}");
        }
    }
}
