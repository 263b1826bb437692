use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::ErrorResponse;
use crate::api::body::BodyError;
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;

/// RFC 6749 §5.2, and RFC 8707's `invalid_target`.
pub struct OAuth;

pub type OAuthError = DialectError<OAuth>;

/// A refusal of the grant itself, in RFC 6749's words.
pub fn refused(code: &'static str, message: impl Into<String>) -> Failure {
    Failure::Grant(Refusal::new(StatusCode::BAD_REQUEST, code, message))
}

impl ErrorTable for OAuth {
    type Code = &'static str;
    // Added by the handlers, only where the client used HTTP Basic ([`challenged`]): OAuth
    // clients treat a challenge as the whole answer and would never read the error code.
    const CHALLENGE: Option<&'static str> = None;

    fn refusal(failure: &Failure) -> Refusal<&'static str> {
        match failure {
            Failure::Body(err) => {
                let message = match err {
                    BodyError::Invalid(fields) => fields
                        .iter()
                        .map(|field| format!("{} {}", field.field, field.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", message)
            }
            Failure::OutOfRange(err) => {
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", err.to_string())
            }
            Failure::Grant(refusal) => {
                Refusal::new(refusal.status, refusal.code, refusal.message.clone())
            }
            Failure::Core(err) => match err {
                CoreError::InvalidCredentials(_) | CoreError::TokenCannotMint => Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "Client authentication failed.",
                ),
                CoreError::ScopeNotAllowed(refused) => Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("Not granted to this client: {}.", refused.join(" ")),
                ),
                CoreError::RateLimited(_) => Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "Too many requests; see Retry-After.",
                ),
                CoreError::Unavailable(_) => Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "Service temporarily unavailable.",
                ),
                _ => Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Internal error.",
                ),
            },
        }
    }

    fn render(refusal: Refusal<&'static str>, _: &Stamp) -> HttpResponse {
        render(refusal.status, refusal.code, refusal.message)
    }
}

/// RFC 6749 §5.2: a client that authenticated with the `Authorization` header and failed is
/// answered 401 with a Basic challenge; the others get the same 401 without one.
pub fn challenged(req: &HttpRequest, answer: Result<HttpResponse, OAuthError>) -> HttpResponse {
    let mut response = match answer {
        Ok(response) => return response,
        Err(err) => actix_web::ResponseError::error_response(&err),
    };
    if response.status() == StatusCode::UNAUTHORIZED
        && req.headers().contains_key(actix_web::http::header::AUTHORIZATION)
    {
        // RFC 6750 §3 for a bearer token, RFC 6749 §5.2 for HTTP Basic.
        let challenge = if crate::api::credentials::bearer(req).is_some() {
            "Bearer realm=\"keymint\", error=\"invalid_token\""
        } else {
            "Basic realm=\"keymint\", error=\"invalid_client\""
        };
        response.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static(challenge),
        );
    }
    response
}

/// `{"error", "error_description"}`, never cached (RFC 6749 §5.2 answers carry no-store too).
pub fn render(status: StatusCode, error: &'static str, description: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::PRAGMA, "no-cache"))
        .json(ErrorResponse {
            error,
            error_description: description,
        })
}

pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    let error = match status {
        status if status.is_client_error() => "invalid_request",
        _ => "server_error",
    };
    render(status, error, format!("{message}."))
}
