//! Velt `POST /v1/auth/token/get`: arbitrary bytes as the JSON body, through the handler's
//! `body::read_bytes` + `decode_body` and through `parse_unique` →
//! `decode::<GenerateTokenRequest>` (camelCase, body required).
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors; an accepted
//! request's strings are within their documented lengths (the validator's bounds).
#![no_main]

use keymint::api::velt::types::GenerateTokenRequest;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fn within(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

fuzz_target!(|data: &[u8]| {
    body::check(data, body::VELT, |request: &GenerateTokenRequest| {
        let data = &request.data;
        assert!(within(&data.api_key, 1, 64));
        assert!(within(&data.auth_token, 1, 64));
        assert!(within(&data.user_id, 1, 256));
        if let Some(user) = &data.user_properties {
            assert!(within(&user.organization_id, 1, 256));
            if let Some(email) = &user.email {
                assert!(within(email, 1, 320) && email.contains('@'), "{email:?}");
            }
        }
    });
});
