//! How to talk to a dialect's token endpoint, declared by each dialect beside its handlers. The
//! shared suites read it rather than knowing any dialect: the integration harness (adversarial,
//! soak, faults, audit, cross-dialect), the body fuzz target and its seeds, the conformance hooks
//! and the browser test (through `keymint dialects --json`). A new dialect that declares one is
//! covered by all of them with no edit of theirs.

use actix_web::HttpRequest;
use actix_web::web::BytesMut;
use serde_json::Value;

use super::body::BodyError;

/// Where a dialect's body template holds the caller's key id and key.
pub const KEY_ID_PLACEHOLDER: &str = "{key_id}";
/// See [`KEY_ID_PLACEHOLDER`].
pub const KEY_PLACEHOLDER: &str = "{key}";

/// One dialect's token endpoint, as a client sees it.
#[derive(Debug)]
pub struct Fixture {
    /// The token endpoint a client calls (base path included), always `POST` with JSON.
    pub path: &'static str,
    /// The header that carries the API key; `None` when the key travels in the body.
    pub key_header: Option<&'static str>,
    /// HTTP Basic (`key id:key`) is accepted too.
    pub basic: bool,
    /// A valid request body for a key, given its id and its secret.
    pub body: fn(&str, &str) -> Value,
    /// Where a successful answer holds the token (a JSON pointer).
    pub token: &'static str,
    /// `Ok` when `body` is the dialect's documented error for `status`; what is off otherwise.
    pub error_shape: fn(u16, &Value) -> Result<(), String>,
    /// Decodes a body that was read (or failed to be) as the handler does, and asserts the
    /// dialect's invariants on what it accepts: the body fuzz target's oracle.
    pub decode: fn(&HttpRequest, Result<BytesMut, BodyError>) -> Result<(), BodyError>,
    /// Named bodies, valid and not, the body fuzz target starts from.
    pub seeds: &'static [(&'static str, &'static str)],
}

impl Fixture {
    /// [`Fixture::body`] with placeholders for the key id and key, for tools outside Rust.
    pub fn body_template(&self) -> Value {
        (self.body)(KEY_ID_PLACEHOLDER, KEY_PLACEHOLDER)
    }

    /// JSON pointers to where the body carries the key id and the key: what a test swaps to
    /// send other credentials.
    pub fn credential_pointers(&self) -> (Vec<String>, Vec<String>) {
        let template = self.body_template();
        (
            pointers_to(&template, KEY_ID_PLACEHOLDER),
            pointers_to(&template, KEY_PLACEHOLDER),
        )
    }
}

/// Every JSON pointer in `value` whose string is `wanted`.
fn pointers_to(value: &Value, wanted: &str) -> Vec<String> {
    fn walk(value: &Value, wanted: &str, at: String, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s == wanted => out.push(at),
            Value::Object(map) => {
                for (key, inner) in map {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    walk(inner, wanted, format!("{at}/{escaped}"), out);
                }
            }
            Value::Array(list) => {
                for (i, inner) in list.iter().enumerate() {
                    walk(inner, wanted, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, wanted, String::new(), &mut out);
    out
}

/// Checks a condition for an [`Fixture::error_shape`], naming what is off.
pub fn expect(holds: bool, what: &str, body: &Value) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(format!("{what}: {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_wherever_the_body_holds_them() {
        let template =
            serde_json::json!({"data": {"apiKey": KEY_ID_PLACEHOLDER, "a/b": [KEY_PLACEHOLDER]}});
        assert_eq!(pointers_to(&template, KEY_ID_PLACEHOLDER), ["/data/apiKey"]);
        assert_eq!(pointers_to(&template, KEY_PLACEHOLDER), ["/data/a~1b/0"]);
    }
}
