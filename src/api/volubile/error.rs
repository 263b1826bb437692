use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::{ErrorResponse, ValidationError};
use crate::api::body::FieldError;
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;

/// Volubile's errors: `ErrorResponse`, with a field list for invalid payloads and scopes.
pub struct Volubile;

/// Everything the Volubile endpoint can answer besides a token.
pub type VolubileError = DialectError<Volubile>;

impl ErrorTable for Volubile {
    type Code = ();
    const CHALLENGE: Option<&'static str> = Some("ApiKey realm=\"keymint\", header=\"X-Api-Key\"");

    fn refusal(failure: &Failure) -> Refusal<()> {
        match failure {
            Failure::Body(err) => Refusal::new(StatusCode::BAD_REQUEST, (), err.to_string())
                .with_fields(err.field_errors()),
            Failure::OutOfRange(err) => Refusal::new(StatusCode::BAD_REQUEST, (), err.to_string()),
            Failure::Grant(refusal) => {
                Refusal::new(StatusCode::BAD_REQUEST, (), refusal.message.clone())
            }
            Failure::Core(CoreError::ScopeNotAllowed(refused)) => {
                Refusal::new(StatusCode::BAD_REQUEST, (), "Unsupported scope").with_fields(
                    refused
                        .iter()
                        .map(|scope| FieldError {
                            field: "scope".to_owned(),
                            rejected_value: Some(scope.as_str().into()),
                            message: format!("{scope} is not granted to this API key"),
                        })
                        .collect(),
                )
            }
            Failure::Core(err) => {
                let (status, message) = match err {
                    CoreError::InvalidCredentials(_) => {
                        (StatusCode::UNAUTHORIZED, "Missing or invalid API key")
                    }
                    CoreError::TokenCannotMint => (
                        StatusCode::FORBIDDEN,
                        "Bearer tokens cannot be used to mint another token",
                    ),
                    CoreError::ScopeNotAllowed(_) => (StatusCode::BAD_REQUEST, "Unsupported scope"),
                    CoreError::RateLimited(_) => {
                        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                    }
                    CoreError::Unavailable(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service temporarily unavailable, retry shortly",
                    ),
                    CoreError::Internal(_) => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    }
                };
                Refusal::new(status, (), message)
            }
        }
    }

    fn render(refusal: Refusal<()>, stamp: &Stamp) -> HttpResponse {
        render(
            stamp,
            refusal.status,
            &refusal.message,
            refusal.fields.unwrap_or_default(),
        )
    }
}

/// The documented body for any status.
fn render(stamp: &Stamp, status: StatusCode, message: &str, errors: Vec<FieldError>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        // `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, as documented: RFC 3339 with milliseconds and `Z`.
        timestamp: stamp.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: i32::from(status.as_u16()),
        message: message.to_owned(),
        errors: errors.into_iter().map(ValidationError::from).collect(),
    })
}

/// Router-level answers (unknown path, wrong method) in the same shape.
pub fn error_page(status: StatusCode, message: &str, req: &HttpRequest) -> HttpResponse {
    render(&Stamp::of(req), status, message, Vec::new())
}
