use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::SecondsFormat;

use super::error::MemoramError;
use super::types::{AuthTokenRequest, AuthTokenResponse, ErrorResponse};
use crate::api::body::{self, BodyRules, FieldNaming};
use crate::api::{AppState, credentials, token_response};
use crate::core::service::{Credentials, Grant};

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
};

#[utoipa::path(
    tag = "Access Management",
    summary = "Create JWT Token",
    description = "Exchange a developer API key for a short-lived JWT bearer token required for subsequent API calls.",
    request_body(
        content = AuthTokenRequest,
        content_type = "application/json",
        example = json!({"api_key": "mem_71c8d4fd816f195801803cd4c801735dfbafaaba72a88eea", "expires_in": 3600}),
    ),
    responses(
        (status = 200, description = "Successfully created JWT token.", body = AuthTokenResponse, content_type = "application/json"),
        (status = 400, description = "Bad Request - Invalid API key or parameters.", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "Unauthorized - Invalid API key.", body = ErrorResponse, content_type = "application/json"),
        (status = 403, description = "Forbidden - A bearer token cannot create another token.", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "Too Many Requests - Retry after the Retry-After header's seconds.", body = ErrorResponse, content_type = "application/json"),
        (status = 503, description = "Service Unavailable - Retry shortly.", body = ErrorResponse, content_type = "application/json"),
    ),
)]
#[post("/api/v1/auth/token")]
pub async fn create_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MemoramError> {
    let caller = state.caller(&req, &super::DIALECT);
    // Read first, so that a refused bearer token keeps the connection open.
    let bytes = body::read_bytes(&req, payload).await;
    credentials::refuse_any_bearer(&req, &state.tokens, &caller)?;
    let request: AuthTokenRequest = body::decode_body(&req, bytes, BODY)?;
    let principal = state
        .tokens
        .authenticate(&caller, &Credentials::ApiKey(request.api_key))
        .await?;
    let allowance = state.tokens.admit(&caller, &principal).await?;
    // "Server may override": the request is a wish, brought within the configured bounds.
    let lifetime = state
        .lifetimes
        .of(&super::DIALECT)
        .clamp(request.expires_in);
    let issued = state.tokens.issue(
        &caller,
        &principal,
        Grant::key_authority(&principal, lifetime),
    )?;
    Ok(token_response(allowance).json(AuthTokenResponse {
        token: issued.token,
        expires_at: issued.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        token_type: "Bearer",
    }))
}
