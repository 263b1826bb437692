use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::ErrorResponse;
use crate::api::body::BodyError;
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;

/// Memoram's errors: `{detail}`, one sentence.
pub struct Memoram;

pub type MemoramError = DialectError<Memoram>;

impl ErrorTable for Memoram {
    type Code = ();
    const CHALLENGE: Option<&'static str> = Some("Bearer realm=\"keymint\"");

    fn refusal(failure: &Failure) -> Refusal<()> {
        let (status, detail) = match failure {
            Failure::Body(BodyError::Invalid(errors)) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (
                    StatusCode::BAD_REQUEST,
                    format!("Invalid parameters: {detail}."),
                )
            }
            Failure::Body(other) => (StatusCode::BAD_REQUEST, format!("{other}.")),
            // Memoram clamps lifetimes; it never refuses one.
            Failure::OutOfRange(err) => (StatusCode::BAD_REQUEST, format!("{err}.")),
            Failure::Grant(refusal) => (StatusCode::BAD_REQUEST, refusal.message.clone()),
            Failure::Core(err) => match err {
                CoreError::InvalidCredentials(_) => {
                    (StatusCode::UNAUTHORIZED, "Invalid API key.".into())
                }
                CoreError::TokenCannotMint => (
                    StatusCode::FORBIDDEN,
                    "A bearer token cannot be used to create another token.".into(),
                ),
                CoreError::ScopeNotAllowed(_) => (
                    StatusCode::BAD_REQUEST,
                    "The key may not grant the requested scopes.".into(),
                ),
                CoreError::RateLimited(_) => {
                    (StatusCode::TOO_MANY_REQUESTS, "Too many requests.".into())
                }
                CoreError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable.".into(),
                ),
                CoreError::Internal(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.".into())
                }
            },
        };
        Refusal::new(status, (), detail)
    }

    fn render(refusal: Refusal<()>, _: &Stamp) -> HttpResponse {
        render(refusal.status, refusal.message)
    }
}

fn render(status: StatusCode, detail: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse { detail })
}

pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    render(status, format!("{message}."))
}
