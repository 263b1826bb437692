use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use validator::Validate;

// No `Debug`: it carries a key.
#[derive(Deserialize, Validate, ToSchema)]
pub struct AuthTokenRequest {
    /// Your developer secret API key (mem_...).
    pub api_key: String,
    #[serde(default, deserialize_with = "crate::api::body::optional_integer")]
    #[schema(schema_with = expires_in, required = false)]
    pub expires_in: Option<i64>,
}

fn expires_in() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(
            "Optional requested token lifetime in seconds (server may override).",
        ))
        .examples([3600])
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthTokenResponse {
    /// The JWT bearer token.
    #[schema(required = false)]
    pub token: String,
    /// The ISO 8601 timestamp when the token expires.
    #[schema(value_type = String, format = DateTime, required = false)]
    pub expires_at: String,
    #[schema(required = false, example = "Bearer")]
    pub token_type: &'static str,
}

/// Why the request was refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong, in one sentence.
    #[schema(example = "Invalid API key.")]
    pub detail: String,
}
