//! Every token endpoint's body: the first byte picks a dialect of keymint's registry (modulo
//! their number), the rest is the JSON body, decoded through the handler's `body::read_bytes`
//! and the dialect's own decoding, and from the bytes directly. Seeds are each dialect's
//! fixture's bodies, written into the corpus at start.
//! Asserts: no panic; both paths agree; only field errors or malformed-JSON errors;
//! `parse_unique` agrees with serde_json but for duplicate members; an accepted request meets
//! its dialect's invariants (lifetimes within bounds, scopes in the set, lengths documented).
#![no_main]

use std::sync::OnceLock;

use keymint::api::fixture::Fixture;
use keymint_fuzz::body;
use libfuzzer_sys::fuzz_target;

fn dialects() -> &'static [(&'static str, &'static Fixture)] {
    static DIALECTS: OnceLock<Vec<(&'static str, &'static Fixture)>> = OnceLock::new();
    DIALECTS.get_or_init(body::dialects)
}

fuzz_target!(init: body::write_seeds(), |data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let dialects = dialects();
    let (_, fixture) = dialects[usize::from(pick) % dialects.len()];
    body::check(rest, fixture);
});
