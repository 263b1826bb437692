//! How the shared suites ask Volubile for a token.

use std::sync::{Arc, LazyLock};

use actix_web::HttpRequest;
use actix_web::web::BytesMut;
use serde_json::{Value, json};

use super::handlers::BODY;
use super::types::AuthTokenRequest;
use crate::api::body::{self, BodyError};
use crate::api::fixture::{Fixture, expect};
use crate::core::scope::Catalogue;

pub const FIXTURE: Fixture = Fixture {
    path: "/v1/auth/token",
    key_header: Some(super::API_KEY_HEADER),
    basic: false,
    body: |_, _| json!({"scope": ["calls:read"]}),
    token: "/token",
    error_shape,
    decode,
    seeds: &[
        ("readme", r#"{"scope":["calls:read"]}"#),
        (
            "all-scopes",
            r#"{"scope":["calls:read","calls:write","campaigns:read","campaigns:write","agents:read","agents:write","integrations:read","integrations:write"]}"#,
        ),
        (
            "unknown-scope",
            r#"{"scope": ["calls:read", "calls:delete"]}"#,
        ),
        (
            "duplicate-member",
            r#"{"scope":["calls:read"],"scope":["integrations:write"]}"#,
        ),
        ("struct-as-array", r#"[["calls:read"]]"#),
        ("wrong-type", r#"{"scope":5}"#),
    ],
};

/// `ErrorResponse`: the status again, a message, the field list, a UTC timestamp in milliseconds.
fn error_shape(status: u16, body: &Value) -> Result<(), String> {
    expect(body["status"] == status, "the status", body)?;
    expect(body["message"].is_string(), "a message", body)?;
    expect(body["errors"].is_array(), "an errors list", body)?;
    expect(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "a yyyy-MM-ddTHH:mm:ss.SSSZ timestamp",
        body,
    )
}

/// An accepted request's scopes are all named in its list and land in the set the handler
/// builds; a list that does not read is one field error, on `scope`.
fn decode(req: &HttpRequest, bytes: Result<BytesMut, BodyError>) -> Result<(), BodyError> {
    static CATALOGUE: LazyLock<Arc<Catalogue>> =
        LazyLock::new(|| super::routes().scopes().clone());
    let request: AuthTokenRequest = body::decode_body(req, bytes, BODY)?;
    let scopes = request.scopes(&CATALOGUE).inspect_err(|err| {
        assert!(
            matches!(err, BodyError::Invalid(errors) if errors.len() == 1 && errors[0].field.starts_with("scope")),
            "{err:?}"
        );
    })?;
    let names = request.scope.as_array().expect("a scope list is an array");
    assert_eq!(scopes.is_empty(), names.is_empty());
    for name in names {
        let name = name.as_str().expect("accepted names are strings");
        assert!(scopes.contains(CATALOGUE.parse(name).expect("a known name")));
    }
    Ok(())
}
