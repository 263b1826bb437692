//! Bearer token claims: arbitrary bytes as the payload, signed with the signer's own key and
//! header (the first byte picks HS256, ES256, EdDSA or RS256), so `TokenSigner::verify` gets past the
//! signature to the claims: types, required members, issuer, audience, `exp`, `nbf`.
//! Asserts: no panic; a token is accepted exactly when its payload is JSON claims with every
//! required member well typed, issuer and audience `keymint`, `exp`/`nbf` within 5 s of now, a
//! lifetime (`exp - iat`) of at most 48 h, `iat` not in the future nor, for key pairs, before
//! the key signed (and it fits in 8 KiB); accepted claims are the payload's and the token is
//! genuine.
#![no_main]

use keymint::core::jws::MAX_TOKEN_LEN;
use keymint::core::token::{Claims, TokenError};
use keymint_fuzz::tokens::{self, acceptable, assert_genuine, pick};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&alg, payload)) = data.split_first() else {
        return;
    };
    let fixture = pick(alg);
    let token = fixture.jws.sign(payload).expect("signing");
    let now = tokens::now();
    let expected = serde_json::from_slice::<Claims>(payload)
        .ok()
        .filter(|claims| acceptable(fixture, claims, now));
    match (fixture.signer.verify(&token, now), expected) {
        (Ok(claims), Some(expected)) => {
            assert_eq!(claims, expected);
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert_genuine(fixture, &token, &claims, now);
        }
        (Ok(claims), None) => panic!("accepted claims that fail the checks: {claims:?}"),
        (Err(err), Some(_)) if token.len() > MAX_TOKEN_LEN => {
            assert_eq!(err, TokenError::Malformed)
        }
        (Err(err), Some(claims)) => panic!("refused good claims ({err}): {claims:?}"),
        (Err(_), None) => {}
    }
});
