//! How the shared suites ask Velt for a token.

use actix_web::HttpRequest;
use actix_web::web::BytesMut;
use serde_json::{Value, json};

use super::handlers::BODY;
use super::types::GenerateTokenRequest;
use crate::api::body::{self, BodyError};
use crate::api::fixture::{Fixture, expect};

pub const FIXTURE: Fixture = Fixture {
    path: "/v1/auth/token/get",
    key_header: None,
    basic: false,
    body: |id, key| {
        json!({"data": {
            "apiKey": id, "authToken": key, "userId": "user-1",
            "userProperties": {"organizationId": "org-1"}
        }})
    },
    token: "/result/data/token",
    error_shape,
    decode,
    seeds: &[
        (
            "readme",
            r#"{"data":{"apiKey":"AbCdEfGhIjK","authToken":"km_x","userId":"u1","userProperties":{"organizationId":"org1"}}}"#,
        ),
        (
            "admin-email",
            r#"{"data":{"apiKey":"YOUR_API_KEY","authToken":"YOUR_AUTH_TOKEN","userId":"yourUserId","userProperties":{"isAdmin":true,"organizationId":"YOUR_ORGANIZATION_ID","email":"user@example.com"}}}"#,
        ),
        (
            "bad-email",
            r#"{"data":{"apiKey":"a","authToken":"b","userId":"c","userProperties":{"organizationId":"o","email":"not an email"}}}"#,
        ),
        ("missing-user", r#"{"data":{"apiKey":"a","authToken":""}}"#),
        (
            "null-properties",
            r#"{"data":{"apiKey":"a","authToken":"b","userId":"c","userProperties":null}}"#,
        ),
    ],
};

/// The callable-function convention: `{"error": {"message", "status"}}`, the status named after
/// the HTTP one.
fn error_shape(status: u16, body: &Value) -> Result<(), String> {
    let expected = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    expect(body["error"]["status"] == expected, expected, body)?;
    expect(body["error"]["message"].is_string(), "a message", body)
}

fn within(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

/// An accepted request's strings are within their documented lengths.
fn decode(req: &HttpRequest, bytes: Result<BytesMut, BodyError>) -> Result<(), BodyError> {
    let request: GenerateTokenRequest = body::decode_body(req, bytes, BODY)?;
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
    Ok(())
}
