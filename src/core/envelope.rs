//! Envelope encryption of the signing secrets at rest: the HS256 secret and every key pair's
//! private key are stored sealed with AES-256-GCM under a master key that never lives in the
//! database. Each sealed value names the master key that sealed it (stored beside it) and is
//! bound to its row by the associated data, so a ciphertext copied to another row does not open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use secrecy::SecretSlice;

/// A master key's length: AES-256.
pub const MASTER_KEY_LEN: usize = 32;

/// Which row a secret belongs to: the associated data of its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a> {
    /// The HS256 secret (one per database).
    SigningSecret,
    /// A key pair's private key, by its `kid`.
    SigningKey(&'a str),
}

impl Row<'_> {
    fn associated_data(self) -> Vec<u8> {
        match self {
            Row::SigningSecret => b"keymint/signing_secrets/1".to_vec(),
            Row::SigningKey(kid) => [b"keymint/signing_keys/".as_slice(), kid.as_bytes()].concat(),
        }
    }
}

/// One master key and its id (a digest of the key: the id names it without revealing it).
pub struct MasterKey {
    id: String,
    key: LessSafeKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error("no master key: give one base64 key of {MASTER_KEY_LEN} bytes per line")]
    Empty,
    #[error("master key {0} is not base64 of exactly {MASTER_KEY_LEN} bytes")]
    Malformed(usize),
    #[error("master key {0} is given twice")]
    Duplicate(usize),
}

impl MasterKey {
    fn new(bytes: &[u8]) -> Option<Self> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).ok()?);
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[b"keymint master key id\0".as_slice(), bytes].concat(),
        );
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9]);
        Some(Self { id, key })
    }

    /// A new random key, as the text [`MasterKeys::parse`] reads.
    pub fn generate_text() -> SecretSlice<u8> {
        let bytes: [u8; MASTER_KEY_LEN] = rand::random();
        let mut text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.push('\n');
        SecretSlice::from(text.into_bytes())
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The master keys an instance holds: the first seals, every one opens (so that a new key can
/// be rolled out to every instance before `master-key rotate` re-seals with it).
#[derive(Debug)]
pub struct MasterKeys(Vec<MasterKey>);

/// A sealed secret as stored: the nonce and the ciphertext with its tag, and the master key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: Vec<u8>,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the signing secrets are sealed with master key {sealed_with}, which is not among the given ones ({given})"
    )]
    UnknownKey { sealed_with: String, given: String },
    #[error("a sealed signing secret does not open: altered, or moved from another row")]
    Tampered,
}

impl MasterKeys {
    /// Keys as text: base64, one per line (or separated by commas or spaces); blank lines and
    /// `#` comments are skipped. The first seals.
    pub fn parse(text: &[u8]) -> Result<Self, MasterKeyError> {
        let text = String::from_utf8_lossy(text);
        let mut keys: Vec<MasterKey> = Vec::new();
        let words = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split([',', ' ', '\t']))
            .filter(|word| !word.is_empty());
        for (index, word) in words.enumerate() {
            let position = index + 1;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(word.trim())
                .map_err(|_| MasterKeyError::Malformed(position))?;
            if bytes.len() != MASTER_KEY_LEN {
                return Err(MasterKeyError::Malformed(position));
            }
            let key = MasterKey::new(&bytes).ok_or(MasterKeyError::Malformed(position))?;
            if keys.iter().any(|known| known.id == key.id) {
                return Err(MasterKeyError::Duplicate(position));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(MasterKeyError::Empty);
        }
        Ok(Self(keys))
    }

    /// The key that seals.
    pub fn current(&self) -> &MasterKey {
        &self.0[0]
    }

    /// The ids of every key held, the sealing one first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|key| key.id.as_str())
    }

    /// Seals `secret` for `row` with the current key and a fresh random nonce.
    pub fn seal(&self, row: Row<'_>, secret: &[u8]) -> Sealed {
        let key = self.current();
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut in_out = secret.to_vec();
        // Sealing only fails for inputs beyond GCM's 64 GiB limit; a key is a few kilobytes.
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(row.associated_data()),
                &mut in_out,
            )
            .expect("a signing secret is far below AES-GCM's length limit");
        let mut bytes = nonce_bytes.to_vec();
        bytes.append(&mut in_out);
        Sealed {
            bytes,
            key_id: key.id.clone(),
        }
    }

    /// Opens what [`seal`](Self::seal) sealed for the same `row`.
    pub fn open(&self, row: Row<'_>, sealed: &Sealed) -> Result<SecretSlice<u8>, OpenError> {
        let key = self
            .0
            .iter()
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey {
                sealed_with: sealed.key_id.clone(),
                given: self.ids().collect::<Vec<_>>().join(", "),
            })?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(OpenError::Tampered);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Tampered)?;
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(row.associated_data()), &mut in_out)
            .map_err(|_| OpenError::Tampered)?;
        let secret = SecretSlice::from(plain.to_vec());
        // The working copy held the plaintext too.
        in_out.iter_mut().for_each(|byte| *byte = 0);
        Ok(secret)
    }
}

/// A secret as a backend reads it: in the clear (a database from before sealing, or a deployment
/// without a master key), or sealed.
#[derive(Debug)]
pub enum Stored {
    Plain(SecretSlice<u8>),
    Sealed(Sealed),
}

/// Why a stored secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    #[error(
        "the signing secrets are sealed with master key {0}; start keymint with that key (KEYMINT_MASTER_KEY or KEYMINT_MASTER_KEY_FILE)"
    )]
    NoMasterKey(String),
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// What a backend does with secrets: seal them when it holds master keys, keep them as they are
/// when it does not.
pub fn unseal(
    keys: Option<&MasterKeys>,
    row: Row<'_>,
    stored: Stored,
) -> Result<SecretSlice<u8>, UnsealError> {
    match (stored, keys) {
        (Stored::Plain(secret), _) => Ok(secret),
        (Stored::Sealed(sealed), None) => Err(UnsealError::NoMasterKey(sealed.key_id)),
        (Stored::Sealed(sealed), Some(keys)) => Ok(keys.open(row, &sealed)?),
    }
}

/// The bytes and the master key id (if sealed) a backend writes for `secret`.
pub fn to_store(
    keys: Option<&MasterKeys>,
    row: Row<'_>,
    secret: &[u8],
) -> (Vec<u8>, Option<String>) {
    match keys {
        Some(keys) => {
            let sealed = keys.seal(row, secret);
            (sealed.bytes, Some(sealed.key_id))
        }
        None => (secret.to_vec(), None),
    }
}

/// Reads a stored value given its column pair.
pub fn from_store(bytes: Vec<u8>, key_id: Option<String>) -> Stored {
    match key_id {
        Some(key_id) => Stored::Sealed(Sealed { bytes, key_id }),
        None => Stored::Plain(SecretSlice::from(bytes)),
    }
}

/// Whether a secret stored under `key_id` is already sealed with the current key.
pub fn is_current(keys: &MasterKeys, key_id: Option<&str>) -> bool {
    key_id == Some(keys.current().id())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn keys(text: &str) -> MasterKeys {
        MasterKeys::parse(text.as_bytes()).unwrap()
    }

    fn text_of_new_key() -> String {
        String::from_utf8(MasterKey::generate_text().expose_secret().to_vec()).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_for_its_row() {
        let keys = keys(&text_of_new_key());
        let sealed = keys.seal(Row::SigningKey("kid-1"), b"private key");
        assert_eq!(sealed.key_id, keys.current().id());
        assert!(!sealed.bytes.windows(11).any(|w| w == b"private key"));
        let opened = keys.open(Row::SigningKey("kid-1"), &sealed).unwrap();
        assert_eq!(opened.expose_secret(), b"private key");
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let keys = keys(&text_of_new_key());
        let sealed = keys.seal(Row::SigningKey("kid-1"), b"private key");
        assert_eq!(
            keys.open(Row::SigningKey("kid-2"), &sealed).unwrap_err(),
            OpenError::Tampered
        );
        assert_eq!(
            keys.open(Row::SigningSecret, &sealed).unwrap_err(),
            OpenError::Tampered
        );
    }

    #[test]
    fn an_altered_ciphertext_does_not_open() {
        let keys = keys(&text_of_new_key());
        let mut sealed = keys.seal(Row::SigningSecret, b"secret");
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert_eq!(
            keys.open(Row::SigningSecret, &sealed).unwrap_err(),
            OpenError::Tampered
        );
        sealed.bytes.truncate(3);
        assert_eq!(
            keys.open(Row::SigningSecret, &sealed).unwrap_err(),
            OpenError::Tampered
        );
    }

    #[test]
    fn another_key_names_the_one_that_sealed() {
        let old = keys(&text_of_new_key());
        let other = keys(&text_of_new_key());
        let sealed = old.seal(Row::SigningSecret, b"secret");
        let err = other.open(Row::SigningSecret, &sealed).unwrap_err();
        assert!(
            matches!(err, OpenError::UnknownKey { ref sealed_with, .. } if sealed_with == old.current().id())
        );
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let (old, new) = (text_of_new_key(), text_of_new_key());
        let sealed_by_old = keys(&old).seal(Row::SigningSecret, b"secret");
        let both = keys(&format!("{new}{old}"));
        assert_eq!(both.current().id(), keys(&new).current().id());
        assert_eq!(
            both.open(Row::SigningSecret, &sealed_by_old)
                .unwrap()
                .expose_secret(),
            b"secret"
        );
        assert_eq!(
            both.seal(Row::SigningSecret, b"x").key_id,
            keys(&new).current().id()
        );
    }

    #[test]
    fn key_text_must_be_base64_of_32_bytes() {
        assert_eq!(MasterKeys::parse(b"").unwrap_err(), MasterKeyError::Empty);
        assert_eq!(
            MasterKeys::parse(b"# only a comment\n\n").unwrap_err(),
            MasterKeyError::Empty
        );
        assert_eq!(
            MasterKeys::parse(b"not base64!").unwrap_err(),
            MasterKeyError::Malformed(1)
        );
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert_eq!(
            MasterKeys::parse(short.as_bytes()).unwrap_err(),
            MasterKeyError::Malformed(1)
        );
        let one = text_of_new_key();
        assert_eq!(
            MasterKeys::parse(format!("{one}{one}").as_bytes()).unwrap_err(),
            MasterKeyError::Duplicate(2)
        );
        let spaced = format!("# keymint\n  {},{}", one.trim(), text_of_new_key().trim());
        assert_eq!(
            MasterKeys::parse(spaced.as_bytes()).unwrap().ids().count(),
            2
        );
    }

    #[test]
    fn debug_output_names_a_key_by_its_id_only() {
        let text = text_of_new_key();
        let keys = keys(&text);
        let shown = format!("{keys:?}");
        assert!(shown.contains(keys.current().id()));
        assert!(!shown.contains(text.trim()));
    }

    #[test]
    fn a_sealed_secret_without_master_keys_is_a_clear_error() {
        let keys = keys(&text_of_new_key());
        let (bytes, key_id) = to_store(Some(&keys), Row::SigningSecret, b"secret");
        let err = unseal(None, Row::SigningSecret, from_store(bytes, key_id)).unwrap_err();
        assert_eq!(
            err,
            UnsealError::NoMasterKey(keys.current().id().to_owned())
        );
        let (plain, none) = to_store(None, Row::SigningSecret, b"secret");
        assert_eq!(none, None);
        let opened = unseal(Some(&keys), Row::SigningSecret, from_store(plain, none)).unwrap();
        assert_eq!(opened.expose_secret(), b"secret");
    }
}
