use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, post, web};

use super::error::{Failure, OrigoError, Origoid, mexico_city};
use super::types::{
    ErrorResponse, GenerateTokenRequest, ResultCode, ResultType, TokenData, TokenResponse,
};
use crate::api::body::{Encoding, BodyRules, FieldNaming};
use crate::api::error::Stamp;
use crate::api::mint::{CredentialSource, Endpoint, mint};
use crate::api::{AppState, Dialect, credentials};
use crate::core::service::{Grant, Principal};
use crate::core::token::IssuedToken;

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::CamelCase,
    optional: true,
    encoding: Encoding::Json,
};

#[utoipa::path(
    tag = "Authentication",
    summary = "Generate Bearer Token",
    description = "Credits: Free — authentication endpoint.\n\nIssues a short-lived Bearer JWT from valid API Key or Basic credentials. The token can then be sent as `Authorization: Bearer <access_token>` on subsequent requests instead of resending your long-lived API Key.\n\nBearer tokens cannot issue new tokens (no token chaining). Tokens are stateless and self-expiring; to revoke them, rotate the underlying API Key.",
    operation_id = "generateBearerToken",
    request_body(
        content = GenerateTokenRequest,
        content_type = "application/json",
        description = "Entirely optional. Send {} (or nothing) to get a token with the default lifetime.",
    ),
    responses(
        (status = 200, description = "Token generated successfully.", body = TokenResponse, content_type = "application/json"),
        (status = 400, description = "INVALID_REQUEST (malformed body) or OUT_OF_RANGE (expireAfter outside its bounds).", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "OUT_OF_RANGE", "message": "expireAfter must be between 1 and 3600", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null, "errors": [{"field": "expireAfter", "message": "expireAfter must be between 1 and 3600"}]})),
        (status = 401, description = "UNAUTHORIZED: missing or invalid API Key or Basic credentials.", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "UNAUTHORIZED", "message": "Missing or invalid credentials.", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null})),
        (status = 403, description = "TOKEN_CHAINING_NOT_ALLOWED: a Bearer token cannot issue a new token.", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "TOKEN_CHAINING_NOT_ALLOWED", "message": "Bearer tokens cannot issue new tokens (no token chaining).", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null})),
        (status = 429, description = "RATE_LIMIT_EXCEEDED: see Retry-After.", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded. Retry after the time in the Retry-After header.", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null})),
        (status = 500, description = "INTERNAL_ERROR.", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "INTERNAL_ERROR", "message": "Internal error.", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null})),
        (status = 503, description = "SERVICE_UNAVAILABLE: retry shortly.", body = ErrorResponse, content_type = "application/json", example = json!({"result": "ERROR", "code": "SERVICE_UNAVAILABLE", "message": "Service temporarily unavailable. Retry shortly.", "requestId": "3f0c9a52-0d7e-4c0e-9a43-2b1f8f0f6d11", "timestamp": "2026-11-24T22:15:00.123-06:00", "billable": false, "data": null})),
    ),
    security(("ApiKeyAuth" = []), ("BasicAuth" = [])),
)]
#[post("/auth/token")]
pub async fn generate_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OrigoError> {
    mint::<Exchange>(req, payload, state).await
}

/// OrigoID's token exchange: `x-api-key` or HTTP Basic, an optional `expireAfter` within the
/// configured bounds, every answer in the envelope.
struct Exchange;

impl Endpoint for Exchange {
    type Request = GenerateTokenRequest;
    type Errors = Origoid;
    const DIALECT: &'static Dialect = &super::DIALECT;
    const BODY: BodyRules = BODY;
    const CREDENTIALS: CredentialSource<GenerateTokenRequest> = CredentialSource::Headers(|req| {
        credentials::from_api_key_or_basic(req, &credentials::X_API_KEY)
    });

    fn grant(
        request: GenerateTokenRequest,
        principal: &Principal,
        state: &AppState,
    ) -> Result<Grant, Failure> {
        let lifetime = state
            .lifetimes
            .of(&super::DIALECT)
            .check(request.expire_after)?;
        Ok(Grant::key_authority(principal, lifetime))
    }

    fn answer(issued: IssuedToken, req: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponse {
        let stamp = Stamp::of(req);
        response.json(TokenResponse {
            result: ResultType::Ok,
            code: ResultCode::Success,
            message: "Token generated successfully.",
            request_id: stamp.request_id.to_string(),
            timestamp: mexico_city(stamp.at),
            billable: false,
            data: TokenData {
                access_token: issued.token,
                token_type: "Bearer",
                expires_in: i64::from(issued.lifetime.as_secs()),
            },
        })
    }
}
