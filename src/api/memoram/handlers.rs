use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, post, web};
use chrono::SecondsFormat;

use super::error::{Memoram, MemoramError};
use super::types::{AuthTokenRequest, AuthTokenResponse, ErrorResponse};
use crate::api::body::{Encoding, BodyRules, FieldNaming};
use crate::api::error::Failure;
use crate::api::mint::{CredentialSource, Endpoint, mint};
use crate::api::{AppState, Dialect};
use crate::core::service::{Credentials, Grant, Principal};
use crate::core::token::IssuedToken;

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
    encoding: Encoding::Json,
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
    mint::<Exchange>(req, payload, state).await
}

/// Memoram's token exchange: `api_key` in the body, an `expires_in` the server may override.
struct Exchange;

impl Endpoint for Exchange {
    type Request = AuthTokenRequest;
    type Errors = Memoram;
    const DIALECT: &'static Dialect = &super::DIALECT;
    const BODY: BodyRules = BODY;
    const CREDENTIALS: CredentialSource<AuthTokenRequest> =
        CredentialSource::Body(|request| Credentials::ApiKey(std::mem::take(&mut request.api_key)));

    fn grant(
        request: AuthTokenRequest,
        principal: &Principal,
        state: &AppState,
    ) -> Result<Grant, Failure> {
        // "Server may override": the request is a wish, brought within the configured bounds.
        let lifetime = state
            .lifetimes
            .of(&super::DIALECT)
            .clamp(request.expires_in);
        Ok(Grant::key_authority(principal, lifetime))
    }

    fn answer(issued: IssuedToken, _: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponse {
        response.json(AuthTokenResponse {
            token: issued.token,
            expires_at: issued.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            token_type: "Bearer",
        })
    }
}
