//! How the shared suites ask Memoram for a token.

use actix_web::HttpRequest;
use actix_web::web::BytesMut;
use serde_json::{Value, json};

use super::handlers::BODY;
use super::types::AuthTokenRequest;
use crate::api::body::{self, BodyError};
use crate::api::fixture::{Fixture, expect};

pub const FIXTURE: Fixture = Fixture {
    path: "/api/v1/auth/token",
    key_header: None,
    basic: false,
    body: |_, key| json!({"api_key": key}),
    token: "/token",
    error_shape,
    decode,
    seeds: &[
        (
            "example",
            r#"{"api_key": "mem_71c8d4fd816f195801803cd4c801735dfbafaaba72a88eea", "expires_in": 3600}"#,
        ),
        ("no-lifetime", r#"{"api_key":"km_x"}"#),
        (
            "huge",
            r#"{"api_key":"k","expires_in":-24032211529423491072.0}"#,
        ),
        ("fraction", r#"{"api_key":"k","expires_in":1.5}"#),
        (
            "nested",
            r#"{"api_key":"k","extra":[[[{"a":[1,2,{"b":null}]}]]]}"#,
        ),
    ],
};

fn error_shape(_: u16, body: &Value) -> Result<(), String> {
    expect(body["detail"].is_string(), "Memoram's {detail}", body)
}

/// The lifetime granted is always within the default bounds, and is the one asked when that is
/// within them.
fn decode(req: &HttpRequest, bytes: Result<BytesMut, BodyError>) -> Result<(), BodyError> {
    let request: AuthTokenRequest = body::decode_body(req, bytes, BODY)?;
    let policy = super::DEFAULT_POLICY;
    let (min, max) = (
        i64::from(policy.min.as_secs()),
        i64::from(policy.max.as_secs()),
    );
    let granted = i64::from(policy.clamp(request.expires_in).as_secs());
    assert!((min..=max).contains(&granted), "{granted} s granted");
    match request.expires_in {
        None => assert_eq!(granted, i64::from(policy.default.as_secs())),
        Some(secs) if (min..=max).contains(&secs) => assert_eq!(granted, secs),
        Some(_) => {}
    }
    Ok(())
}
