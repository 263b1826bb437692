//! API key parsing: arbitrary strings through `PresentedKey::parse` and `ApiKeySecret::parse`,
//! as sent and with their last six characters replaced by the correct checksum (so the fuzzer
//! gets past the CRC32). Asserts: no panic; both parsers agree (both Ok with the same id and
//! hash, or the same error); a key is accepted exactly when it is `prefix_body` with a 1-16
//! character `[a-z][a-z0-9]*` prefix, 39 base62 characters of body and a matching checksum,
//! and its id is the body's first 11 characters.
#![no_main]

use keymint::core::apikey::{ApiKeySecret, MAX_KEY_LEN, PresentedKey};
use libfuzzer_sys::fuzz_target;

const BODY_LEN: usize = 11 + 22 + 6;

/// Whether both parsers accept `candidate`; panics if they disagree.
fn agree(candidate: &str) -> bool {
    match (
        PresentedKey::parse(candidate),
        ApiKeySecret::parse(candidate),
    ) {
        (Ok(presented), Ok(secret)) => {
            assert_eq!(&presented.id, secret.id());
            assert!(presented.hash.matches(&secret.hash()));
            assert_eq!(secret.expose(), candidate);
            assert!(candidate.len() <= MAX_KEY_LEN);
            let (_, body) = candidate
                .rsplit_once('_')
                .expect("an accepted key has a prefix");
            assert_eq!(presented.id.as_str(), &body[..11]);
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a, b,
                "the parsers refuse {candidate:?} for different reasons"
            );
            false
        }
        (presented, secret) => panic!(
            "the parsers disagree on {candidate:?}: {:?} vs {:?}",
            presented.map(|k| k.id),
            secret.map(|k| *k.id())
        ),
    }
}

/// The documented shape, checksum aside.
fn well_shaped(candidate: &str) -> bool {
    let Some((prefix, body)) = candidate.rsplit_once('_') else {
        return false;
    };
    let mut chars = prefix.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && prefix.len() <= 16
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && body.len() == BODY_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn checksum_ok(candidate: &str) -> bool {
    let (head, checksum) = candidate.split_at(candidate.len() - 6);
    base62::decode(checksum).is_ok_and(|n| n == u128::from(crc32fast::hash(head.as_bytes())))
}

/// `candidate` with its last six characters replaced by the checksum of the rest.
fn with_checksum(candidate: &str) -> Option<String> {
    let cut = candidate.len().checked_sub(6)?;
    let head = candidate.get(..cut)?;
    let checksum = base62::encode(crc32fast::hash(head.as_bytes()));
    Some(format!("{head}{checksum:0>6}"))
}

fuzz_target!(|data: &[u8]| {
    let candidate = String::from_utf8_lossy(data);
    let accepted = agree(&candidate);
    if accepted {
        assert!(well_shaped(&candidate) && checksum_ok(&candidate));
    }
    if let Some(fixed) = with_checksum(&candidate) {
        assert_eq!(agree(&fixed), well_shaped(&fixed), "{fixed:?}");
    }
});
