//! How the shared suites ask OrigoID for a token.

use actix_web::HttpRequest;
use actix_web::web::BytesMut;
use serde_json::{Value, json};

use super::handlers::BODY;
use super::types::GenerateTokenRequest;
use crate::api::body::{self, BodyError};
use crate::api::fixture::{Fixture, expect};

pub const FIXTURE: Fixture = Fixture {
    path: "/auth/token",
    key_header: Some(super::API_KEY_HEADER),
    basic: true,
    body: |_, _| json!({}),
    token: "/data/access_token",
    error_shape,
    decode,
    seeds: &[
        ("empty", ""),
        ("readme", "{}"),
        ("expire-after", r#"{"expireAfter":600}"#),
        ("integral-float", r#"{"expireAfter":6e1}"#),
        ("out-of-range", r#"{"expireAfter":3601}"#),
        ("null", r#"{"expireAfter":null}"#),
    ],
};

/// The gateway's envelope, `ERROR` with no data, stamped at Mexico City's offset.
fn error_shape(_: u16, body: &Value) -> Result<(), String> {
    expect(body["result"] == "ERROR", "result ERROR", body)?;
    expect(body["code"].is_string(), "a code", body)?;
    expect(body["message"].is_string(), "a message", body)?;
    expect(body["requestId"].is_string(), "a requestId", body)?;
    expect(body["billable"] == false, "not billable", body)?;
    expect(body["data"].is_null(), "no data", body)?;
    expect(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("-06:00")),
        "a timestamp at -06:00",
        body,
    )
}

/// A lifetime is granted exactly when `expireAfter` is absent or within the default bounds, and
/// it is the one asked.
fn decode(req: &HttpRequest, bytes: Result<BytesMut, BodyError>) -> Result<(), BodyError> {
    let request: GenerateTokenRequest = body::decode_body(req, bytes, BODY)?;
    let policy = super::DEFAULT_POLICY;
    let granted = policy.check(request.expire_after);
    let (min, max) = (
        i64::from(policy.min.as_secs()),
        i64::from(policy.max.as_secs()),
    );
    match request.expire_after {
        None => assert_eq!(granted, Ok(policy.default)),
        Some(secs) if (min..=max).contains(&secs) => {
            assert_eq!(granted.map(|l| i64::from(l.as_secs())), Ok(secs));
        }
        Some(secs) => assert!(granted.is_err(), "{secs} s granted"),
    }
    Ok(())
}
