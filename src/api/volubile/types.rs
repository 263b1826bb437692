use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use validator::Validate;

use crate::api::body::{self, BodyError, FieldError};
use crate::core::scope::{Catalogue, ScopeSet};

/// Payload used to issue a short lived Bearer token from an API key
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AuthTokenRequest {
    /// The requested scope names, as sent: which names exist is the deployment's catalogue's
    /// business, so they are read by [`AuthTokenRequest::scopes`].
    #[schema(schema_with = scope_list)]
    pub scope: Value,
}

impl AuthTokenRequest {
    /// The requested scopes, read against the deployment's catalogue: an unknown name is a
    /// field error naming the accepted ones (`scope[1]`: expected one of …).
    pub fn scopes(&self, catalogue: &Catalogue) -> Result<ScopeSet, BodyError> {
        body::decode_field("scope", &self.scope, catalogue.list_seed())
    }
}

/// The scope list's schema; its items' enum and example are the deployment's catalogue, set
/// by [`super::customize`].
fn scope_list() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .description(Some("List of scopes granted to the issued Bearer token"))
        .items(ObjectBuilder::new().schema_type(Type::String))
}

/// Short lived Bearer token issued from a valid API key
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthTokenResponse {
    /// Signed JWT Bearer token
    #[schema(required = false, example = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjN2Y4...")]
    pub token: String,
    /// Token lifetime in seconds
    #[schema(required = false, example = 900)]
    pub expires_in: i64,
    /// Token type
    #[schema(required = false, example = "Bearer")]
    pub token_type: &'static str,
}

impl AuthTokenResponse {
    /// The JSON body, as `serde_json` would write it, without escaping the token byte by byte
    /// (a JWT is base64url and dots): this is on every token response.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.token.len() + 64);
        let mut body = crate::core::json::Writer::object(&mut out);
        body.key("token").plain(&self.token);
        body.key("expiresIn").integer(self.expires_in);
        body.key("tokenType").plain(self.token_type);
        body.close_object();
        out
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    #[schema(schema_with = timestamp, required = false)]
    pub timestamp: String,
    /// Http status code
    #[schema(required = false)]
    pub status: i32,
    /// Information about the error
    #[schema(required = false)]
    pub message: String,
    /// List of specific validation errors
    #[schema(required = false)]
    pub errors: Vec<ValidationError>,
}

fn timestamp() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "Date and time when the error occurs.\n\nFormat: UTC time - yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\n",
        ))
}

/// List of specific validation errors
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    /// Field in error
    #[schema(required = false)]
    pub field: String,
    #[schema(schema_with = rejected_value)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_value: Option<Map<String, Value>>,
    /// Description of the failed validation
    #[schema(required = false)]
    pub message: String,
}

/// `type: object`, as published. Clients generated from Volubile's document accept only an
/// object here, so only an object is echoed; any other rejected value is named in `message`.
fn rejected_value() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("Value in error"))
}

impl From<FieldError> for ValidationError {
    fn from(err: FieldError) -> Self {
        let rejected_value = match err.rejected_value {
            Some(Value::Object(object)) => Some(object),
            _ => None,
        };
        Self {
            field: err.field,
            rejected_value,
            message: err.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_body_is_what_serde_writes() {
        let response = AuthTokenResponse {
            token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2ln-_".into(),
            expires_in: 900,
            token_type: "Bearer",
        };
        assert_eq!(response.to_json(), serde_json::to_vec(&response).unwrap());
    }
}
