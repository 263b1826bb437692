use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::ErrorResponse;
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;

/// keymint's own errors (introspection): RFC 6749 style `{error, error_description}`.
pub struct Keymint;

pub type KeymintError = DialectError<Keymint>;

impl ErrorTable for Keymint {
    type Code = &'static str;
    const CHALLENGE: Option<&'static str> = Some("ApiKey realm=\"keymint\", header=\"X-Api-Key\"");

    fn refusal(failure: &Failure) -> Refusal<&'static str> {
        match failure {
            Failure::Body(err) => {
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", err.to_string())
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
                    "Introspection needs a valid API key in X-Api-Key.",
                ),
                CoreError::RateLimited(_) => Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "Too many failed authentications from this address.",
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

pub fn render(status: StatusCode, error: &'static str, description: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        error,
        error_description: description,
    })
}

pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    let error = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        // A refused CORS preflight, or anything else the client got wrong.
        status if status.is_client_error() => "invalid_request",
        _ => "server_error",
    };
    render(status, error, format!("{message}."))
}
