//! Volubile `POST /v1/auth/token`: arbitrary bytes as the JSON body, through the handler's
//! `body::read_bytes` + `decode_body` and through `parse_unique` → `decode::<AuthTokenRequest>`
//! (camelCase, body required).
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors; an accepted
//! request's scopes all land in the `ScopeSet` the handler builds.
#![no_main]

use keymint::api::volubile::types::AuthTokenRequest;
use keymint::core::scope::ScopeSet;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    body::check(data, body::VOLUBILE, |request: &AuthTokenRequest| {
        let scopes = ScopeSet::new(request.scope.iter().copied());
        assert!(request.scope.iter().all(|s| scopes.contains(*s)));
        assert_eq!(scopes.is_empty(), request.scope.is_empty());
    });
});
