//! OrigoID `POST /auth/token`: arbitrary bytes as the (optional) JSON body, through the
//! handler's `body::read_bytes` + `decode_body` and through `parse_unique` →
//! `decode::<GenerateTokenRequest>` (camelCase, an empty body reads as `{}`), then the default
//! lifetime policy's `check`, as the handler does.
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors; a lifetime
//! is granted exactly when `expireAfter` is absent or within [1, 3600], and it is the one asked.
#![no_main]

use keymint::api::origoid::types::GenerateTokenRequest;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    body::check(data, body::ORIGOID, |request: &GenerateTokenRequest| {
        let policy = body::default_lifetimes().origoid;
        let granted = policy.check(request.expire_after);
        match request.expire_after {
            None => assert_eq!(granted, Ok(policy.default)),
            Some(secs) if (1..=3600).contains(&secs) => {
                assert_eq!(granted.map(|l| i64::from(l.as_secs())), Ok(secs));
            }
            Some(secs) => assert!(granted.is_err(), "{secs} s granted"),
        }
    });
});
