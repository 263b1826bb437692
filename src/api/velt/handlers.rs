use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, post, web};
use serde_json::{Map, Value};

use super::LIFETIME;
use super::error::{Velt, VeltError};
use super::types::{
    ErrorResponse, GenerateTokenRequest, GenerateTokenResponse, SuccessStatus, TokenData,
    TokenResult,
};
use crate::api::body::{Encoding, BodyRules, FieldNaming};
use crate::api::error::Failure;
use crate::api::mint::{CredentialSource, Endpoint, mint};
use crate::api::{AppState, Dialect};
use crate::core::scope::ScopeSet;
use crate::core::service::{Credentials, Grant, Principal};
use crate::core::token::IssuedToken;

/// How this endpoint reads its body (also what its fuzz target decodes with).
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::CamelCase,
    optional: false,
    encoding: Encoding::Json,
};

#[utoipa::path(
    tag = "Authentication",
    summary = "Generate Token",
    description = "Generate a JWT token used by your client to authenticate with Velt. The token encodes user information and optional properties such as organization and admin status.\n\nThe JWT token expires in 48 hours. `apiKey` and `authToken` are provided in the request body (not headers). Generate the token on your server, not your client, to keep your secrets secure.",
    operation_id = "generateToken",
    request_body(
        content = GenerateTokenRequest,
        content_type = "application/json",
        examples(
            ("withOrganizationAndAdmin" = (
                summary = "Generate token with organization and admin",
                value = json!({"data": {"apiKey": "YOUR_API_KEY", "authToken": "YOUR_AUTH_TOKEN", "userId": "yourUserId", "userProperties": {"isAdmin": true, "organizationId": "YOUR_ORGANIZATION_ID", "email": "user@example.com"}}})
            )),
            ("minimal" = (
                summary = "Minimal token request",
                value = json!({"data": {"apiKey": "YOUR_API_KEY", "authToken": "YOUR_AUTH_TOKEN", "userId": "yourUserId", "userProperties": {"organizationId": "YOUR_ORGANIZATION_ID"}}})
            )),
        ),
    ),
    responses(
        (status = 200, description = "Token generated successfully.", body = GenerateTokenResponse, content_type = "application/json",
            example = json!({"result": {"status": "success", "message": "Token generated successfully.", "data": {"token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."}}})),
        (status = 400, description = "INVALID_ARGUMENT: a field is missing or invalid (e.g. \"Auth token not found.\").", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "Auth token not found.", "status": "INVALID_ARGUMENT"}})),
        (status = 401, description = "UNAUTHENTICATED: the API key and auth token do not match a valid key.", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "Invalid API key or auth token.", "status": "UNAUTHENTICATED"}})),
        (status = 403, description = "PERMISSION_DENIED: a bearer token cannot generate another token.", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "A token cannot be used to generate another token.", "status": "PERMISSION_DENIED"}})),
        (status = 429, description = "RESOURCE_EXHAUSTED: too many requests; see Retry-After.", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "Too many requests.", "status": "RESOURCE_EXHAUSTED"}})),
        (status = 500, description = "INTERNAL.", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "Internal error.", "status": "INTERNAL"}})),
        (status = 503, description = "UNAVAILABLE: retry shortly.", body = ErrorResponse, content_type = "application/json",
            example = json!({"error": {"message": "Service temporarily unavailable.", "status": "UNAVAILABLE"}})),
    ),
)]
#[post("/v1/auth/token/get")]
pub async fn generate_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, VeltError> {
    mint::<Exchange>(req, payload, state).await
}

/// Velt's token exchange: key id and key in the body beside the user's claims, 48 h tokens.
struct Exchange;

impl Endpoint for Exchange {
    type Request = GenerateTokenRequest;
    type Errors = Velt;
    const DIALECT: &'static Dialect = &super::DIALECT;
    const BODY: BodyRules = BODY;
    const CREDENTIALS: CredentialSource<GenerateTokenRequest> =
        CredentialSource::Body(|request| Credentials::IdAndKey {
            id: std::mem::take(&mut request.data.api_key),
            key: std::mem::take(&mut request.data.auth_token),
        });

    fn grant(request: GenerateTokenRequest, _: &Principal, _: &AppState) -> Result<Grant, Failure> {
        let data = request.data;
        let mut claims = Map::new();
        claims.insert("userId".into(), Value::String(data.user_id));
        if let Some(user) = data.user_properties {
            claims.insert("organizationId".into(), Value::String(user.organization_id));
            if let Some(is_admin) = user.is_admin {
                claims.insert("isAdmin".into(), Value::Bool(is_admin));
            }
            if let Some(email) = user.email {
                claims.insert("email".into(), Value::String(email));
            }
        }
        Ok(Grant {
            scopes: ScopeSet::default(),
            lifetime: LIFETIME,
            extra: claims,
            audience: None,
        })
    }

    fn answer(issued: IssuedToken, _: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponse {
        response.json(GenerateTokenResponse {
            result: TokenResult {
                status: SuccessStatus::Success,
                message: "Token generated successfully.",
                data: TokenData {
                    token: issued.token,
                },
            },
        })
    }
}
