//! Volubile `POST /v1/auth/token`: arbitrary bytes as the JSON body, through the handler's
//! `body::read_bytes` + `decode_body` and through `parse_unique` → `decode::<AuthTokenRequest>`
//! (camelCase, body required), then the scope list read against Volubile's catalogue.
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors; an accepted
//! request's scopes are all named in the list and land in the `ScopeSet` the handler builds.
#![no_main]

use keymint::api::body::BodyError;
use keymint::api::volubile::types::AuthTokenRequest;
use keymint::core::scope::Catalogue;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let catalogue = Catalogue::default();
    body::check(
        data,
        body::VOLUBILE,
        |request: &AuthTokenRequest| match request.scopes(&catalogue) {
            Ok(scopes) => {
                let names = request.scope.as_array().expect("a scope list is an array");
                assert_eq!(scopes.is_empty(), names.is_empty());
                for name in names {
                    let name = name.as_str().expect("accepted names are strings");
                    assert!(scopes.contains(catalogue.parse(name).expect("a known name")));
                }
            }
            Err(BodyError::Invalid(errors)) => {
                assert_eq!(errors.len(), 1);
                assert!(errors[0].field.starts_with("scope"), "{errors:?}");
            }
            Err(other) => panic!("a scope list cannot fail with {other:?}"),
        },
    );
});
