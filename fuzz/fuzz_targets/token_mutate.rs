//! Bearer token verification on mutations of a genuine token (HS256, ES256, EdDSA or RS256): bit
//! flips, byte and base64url-digit substitutions, insertions, deletions, truncation, copies
//! and segments spliced from another algorithm's token, verified up to ±9 h from issuance.
//! Asserts: no panic; the unmodified token verifies exactly when the time is within its window
//! (±5 s of skew) and yields its claims; a modified token that verifies has the same header
//! and payload, the same claims, and is genuine (`tokens::assert_genuine`), so only unused
//! trailing bits of the signature (or, for ES256, another valid signature) may differ.
#![no_main]

use keymint::core::token::TokenError;
use keymint_fuzz::tokens::{self, acceptable, assert_genuine, pick};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Edits stop growing a token beyond this: anything over 8 KiB is refused unread anyway.
const MAX_LEN: usize = 10 * 1024;

#[derive(Debug, Arbitrary)]
enum Edit {
    Flip {
        at: u16,
        bit: u8,
    },
    /// Stays a well-formed token: the fuzzer's way past `split`.
    Digit {
        at: u16,
        digit: u8,
    },
    Byte {
        at: u16,
        byte: u8,
    },
    Insert {
        at: u16,
        byte: u8,
    },
    Remove {
        at: u16,
        len: u8,
    },
    Truncate {
        at: u16,
    },
    Copy {
        from: u16,
        len: u8,
        to: u16,
    },
    /// One of this token's segments replaced by the same segment of another fixture's token.
    Splice {
        segment: u8,
        from: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    alg: u8,
    /// Seconds between issuance and verification (the token lives 900 s).
    skew: i16,
    edits: Vec<Edit>,
}

fn apply(token: &mut Vec<u8>, edit: &Edit) {
    let len = token.len();
    let pos = |at: u16| usize::from(at) % len.max(1);
    match *edit {
        Edit::Flip { at, bit } if len > 0 => token[pos(at)] ^= 1 << (bit % 8),
        Edit::Digit { at, digit } if len > 0 => token[pos(at)] = BASE64URL[usize::from(digit) % 64],
        Edit::Byte { at, byte } if len > 0 => token[pos(at)] = byte,
        Edit::Insert { at, byte } if len < MAX_LEN => {
            token.insert(usize::from(at) % (len + 1), byte)
        }
        Edit::Remove { at, len: n } if len > 0 => {
            let start = pos(at);
            token.drain(start..(start + usize::from(n) + 1).min(len));
        }
        Edit::Truncate { at } => token.truncate(usize::from(at) % (len + 1)),
        Edit::Copy { from, len: n, to } if len > 0 && len + usize::from(n) <= MAX_LEN => {
            let start = pos(from);
            let span = token[start..(start + usize::from(n) + 1).min(len)].to_vec();
            let to = usize::from(to) % (len + 1);
            token.splice(to..to, span);
        }
        Edit::Splice { segment, from } => {
            let donor = &pick(from).token;
            let index = usize::from(segment) % 3;
            let mut segments: Vec<Vec<u8>> =
                token.split(|&b| b == b'.').map(<[u8]>::to_vec).collect();
            if let (Some(slot), Some(part)) = (segments.get_mut(index), donor.split('.').nth(index))
            {
                *slot = part.as_bytes().to_vec();
                *token = segments.join(&b'.');
            }
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let fixture = pick(input.alg);
    let mut bytes = fixture.token.clone().into_bytes();
    for edit in &input.edits {
        apply(&mut bytes, edit);
    }
    let token = String::from_utf8_lossy(&bytes);
    let now = tokens::at(i64::from(input.skew));
    let verified = fixture.signer.verify(&token, now);

    if token == fixture.token {
        if acceptable(fixture, &fixture.claims, now) {
            assert_eq!(
                verified,
                Ok(fixture.claims.clone()),
                "the genuine token was refused"
            );
        } else {
            let err = verified.expect_err("the genuine token was accepted out of its window");
            assert!(
                matches!(err, TokenError::Expired | TokenError::NotYetValid),
                "{err:?}"
            );
        }
    } else if let Ok(claims) = verified {
        assert_eq!(
            claims, fixture.claims,
            "a modified token verified with other claims"
        );
        assert_eq!(
            token.rsplit_once('.').map(|(input, _)| input),
            fixture.token.rsplit_once('.').map(|(input, _)| input),
            "a modified header or payload verified"
        );
        assert_genuine(fixture, &token, &claims, now);
    }
});
