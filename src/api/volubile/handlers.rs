use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, post, web};
use serde_json::Map;

use super::error::{Volubile, VolubileError};
use super::types::{AuthTokenRequest, AuthTokenResponse, ErrorResponse};
use crate::api::body::{Encoding, BodyRules, FieldNaming};
use crate::api::error::Failure;
use crate::api::mint::{CredentialSource, Endpoint, mint};
use crate::api::{AppState, Dialect, credentials};
use crate::core::service::{Grant, Principal};
use crate::core::token::IssuedToken;

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::CamelCase,
    optional: false,
    encoding: Encoding::Json,
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
    mint::<Exchange>(req, payload, state).await
}

/// Volubile's token exchange: the key in `X-Api-Key`, the scopes asked for, 900 s.
struct Exchange;

impl Endpoint for Exchange {
    type Request = AuthTokenRequest;
    type Errors = Volubile;
    const DIALECT: &'static Dialect = &super::DIALECT;
    const BODY: BodyRules = BODY;
    const CREDENTIALS: CredentialSource<AuthTokenRequest> =
        CredentialSource::Headers(|req| credentials::from_api_key_header(req, &credentials::X_API_KEY));

    fn grant(request: AuthTokenRequest, _: &Principal, state: &AppState) -> Result<Grant, Failure> {
        Ok(Grant {
            scopes: request.scopes(state.tokens.scopes())?,
            lifetime: super::LIFETIME,
            extra: Map::new(),
            audience: None,
        })
    }

    fn answer(issued: IssuedToken, _: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponse {
        let body = AuthTokenResponse {
            token: issued.token,
            expires_in: i64::from(issued.lifetime.as_secs()),
            token_type: "Bearer",
        };
        response
            .content_type(mime::APPLICATION_JSON)
            .body(body.to_json())
    }
}
