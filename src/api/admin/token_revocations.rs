//! revokeToken: one token of any account revoked, as the standard dialect's RFC 7009 endpoint
//! revokes its own account's.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::error::{AdminApiError, BodyRefusals, ChangeRefusals, Refusals};
use super::handlers::{actor, no_store};
use super::types::Problem;
use crate::api::AppState;
use crate::api::body::{self, BodyRules, Encoding, FieldNaming};

/// How revokeToken reads its body.
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
    encoding: Encoding::Json,
};

/// The token to revoke.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokenRequest {
    /// An access token keymint issued, of any account and dialect: a compact JWS.
    #[validate(length(min = 1, max = 4096), custom(function = "compact_jws_characters"))]
    #[schema(min_length = 1, max_length = 4096, pattern = "^[A-Za-z0-9._-]+$", format = Password, example = "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9...")]
    pub token: String,
}

/// A compact JWS is base64url parts joined by dots: anything else is no token.
fn compact_jws_characters(token: &str) -> Result<(), validator::ValidationError> {
    if token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(validator::ValidationError::new("token")
            .with_message("is a compact JWS: letters, digits, '-', '_' and '.'".into()))
    }
}

#[utoipa::path(
    tag = "Tokens",
    summary = "Revoke a token",
    description = "Revokes one access token of any account: refused by this instance at once and by every instance within a second, until it would have expired, as the standard dialect's RFC 7009 endpoint (`/oauth2/revoke`) revokes its own account's. As there, a token keymint would not accept anyway (malformed, forged, expired) is no error: the answer is 204 either way, and tells nothing of the token. Recorded in the audit trail (`revoked`, with the token's `jti` and account) with the admin key as its actor.",
    operation_id = "revokeToken",
    request_body(content = RevokeTokenRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Revoked, or nothing to revoke."),
        (status = 400, description = "The body is not valid; `errors` names each field at fault.", body = Problem, content_type = "application/problem+json"),
        ChangeRefusals, BodyRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[post("/admin/v1/token-revocations")]
pub async fn revoke_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    // Read first, whatever comes of it: a refusal that leaves a body unread closes the connection.
    let bytes = body::read_bytes(&req, payload).await;
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let request: RevokeTokenRequest = body::decode_body(&req, bytes, BODY)?;
    state.tokens.revoke_any_token(&writer, &request.token).await?;
    Ok(no_store(HttpResponse::NoContent()).finish())
}
