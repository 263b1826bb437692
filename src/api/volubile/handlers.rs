use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::Map;

use super::error::VolubileError;
use super::types::{AuthTokenRequest, AuthTokenResponse, ErrorResponse};
use crate::api::body::{self, BodyRules, FieldNaming};
use crate::api::{AppState, credentials, token_response};
use crate::core::service::Grant;

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::CamelCase,
    optional: false,
};

#[utoipa::path(
    tag = "Authentication",
    summary = "Generate a short lived Bearer token",
    description = "Issues a short lived JWT Bearer token from a valid API key.\n",
    operation_id = "issueToken",
    request_body(content = AuthTokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "OK", body = AuthTokenResponse, content_type = "application/json"),
        (status = 400, description = "Invalid payload or unsupported scope", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "Missing or invalid API key", body = ErrorResponse, content_type = "application/json"),
        (status = 403, description = "Bearer tokens cannot be used to mint another token", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "Too Many Requests", body = ErrorResponse, content_type = "*/*"),
    ),
    security(("Api key" = [])),
)]
#[post("/v1/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, VolubileError> {
    let caller = state.caller(&req, &super::DIALECT);
    let credentials = credentials::from_api_key_header(&req, &credentials::X_API_KEY);
    // Read first, judged after the key: a refusal keeps the connection open.
    let bytes = body::read_bytes(&req, payload).await;
    let principal = state.tokens.authenticate(&caller, &credentials).await?;
    let allowance = state.tokens.admit(&caller, &principal).await?;
    let request: AuthTokenRequest = body::decode_body(&req, bytes, BODY)?;
    let scopes = request.scopes(state.tokens.scopes())?;
    let issued = state.tokens.issue(
        &caller,
        &principal,
        Grant {
            scopes,
            lifetime: super::LIFETIME,
            extra: Map::new(),
        },
    )?;
    let body = AuthTokenResponse {
        token: issued.token,
        expires_in: i64::from(issued.lifetime.as_secs()),
        token_type: "Bearer",
    };
    Ok(token_response(allowance)
        .content_type(mime::APPLICATION_JSON)
        .body(body.to_json()))
}
