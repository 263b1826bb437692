//! Bearer token verification on arbitrary strings: `jws::Parts::split`, then
//! `TokenSigner::verify` with HS256, ES256, EdDSA and RS256 signers.
//! Asserts: no panic; `split` accepts exactly three non-empty base64url segments of at most
//! 8 KiB in all, and `header` is the first; whatever `split` refuses, `verify` calls malformed;
//! any token `verify` accepts is genuine (`tokens::assert_genuine`: this key's header and
//! signature over a canonical payload whose claims pass the checks).
#![no_main]

use keymint::core::jws::{MAX_TOKEN_LEN, Parts};
use keymint::core::token::TokenError;
use keymint_fuzz::tokens::{self, assert_genuine, fixtures};
use libfuzzer_sys::fuzz_target;

fn compact(token: &str) -> bool {
    let segments: Vec<&str> = token.split('.').collect();
    token.len() <= MAX_TOKEN_LEN
        && segments.len() == 3
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let split = Parts::split(&token);
    assert_eq!(
        split.is_ok(),
        compact(&token),
        "split judged {token:?} wrongly"
    );
    if let Ok(parts) = &split {
        assert_eq!(Some(parts.header), token.split('.').next());
    }
    let now = tokens::now();
    for fixture in fixtures() {
        match fixture.signer.verify(&token, now) {
            Ok(claims) => assert_genuine(fixture, &token, &claims, now),
            Err(err) if split.is_err() => assert_eq!(err, TokenError::Malformed),
            Err(_) => {}
        }
    }
});
