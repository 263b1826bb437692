//! Memoram `POST /api/v1/auth/token`: arbitrary bytes as the JSON body, through the handler's
//! `body::read_bytes` + `decode_body` and through `parse_unique` → `decode::<AuthTokenRequest>`
//! (snake_case, body required), then the default lifetime policy's `clamp`, as the handler does.
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors; the granted
//! lifetime is always within [60, 86400] and is the one asked when that is within bounds.
#![no_main]

use keymint::api::memoram::types::AuthTokenRequest;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    body::check(data, body::MEMORAM, |request: &AuthTokenRequest| {
        let policy = body::default_lifetimes().memoram;
        let granted = i64::from(policy.clamp(request.expires_in).as_secs());
        assert!((60..=86400).contains(&granted), "{granted} s granted");
        match request.expires_in {
            None => assert_eq!(granted, i64::from(policy.default.as_secs())),
            Some(secs) if (60..=86400).contains(&secs) => assert_eq!(granted, secs),
            Some(_) => {}
        }
    });
});
