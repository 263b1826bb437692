use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::{ErrorDetail, ErrorResponse, ErrorStatus};
use crate::api::body::{BodyError, FieldError};
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;

/// Velt's errors: callable-function `{error: {message, status}}`, no challenge.
pub struct Velt;

pub type VeltError = DialectError<Velt>;

impl ErrorStatus {
    fn http(self) -> StatusCode {
        match self {
            ErrorStatus::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorStatus::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorStatus::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorStatus::NotFound => StatusCode::NOT_FOUND,
            ErrorStatus::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            ErrorStatus::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// How a field is named in messages, Velt style ("Auth token not found.").
fn label(field: &str) -> &str {
    match field.rsplit('.').next().unwrap_or(field) {
        "data" => "Data",
        "apiKey" => "API key",
        "authToken" => "Auth token",
        "userId" => "User ID",
        "userProperties" => "User properties",
        "organizationId" => "Organization ID",
        "isAdmin" => "isAdmin",
        "email" => "Email",
        _ => "Request",
    }
}

/// One sentence for the first problem: callable errors carry a message, not a list.
fn message(errors: &[FieldError]) -> String {
    let Some(first) = errors.first() else {
        return "Invalid request.".to_owned();
    };
    if first.message == "is required" {
        format!("{} not found.", label(&first.field))
    } else if first.message.ends_with('.') {
        first.message.clone()
    } else {
        format!("{} is invalid: {}.", label(&first.field), first.message)
    }
}

impl ErrorTable for Velt {
    type Code = ErrorStatus;
    const CHALLENGE: Option<&'static str> = None;

    fn refusal(failure: &Failure) -> Refusal<ErrorStatus> {
        let (status, message) = match failure {
            Failure::Body(BodyError::Invalid(errors)) => {
                (ErrorStatus::InvalidArgument, message(errors))
            }
            Failure::Body(other) => (ErrorStatus::InvalidArgument, format!("{other}.")),
            // Velt's lifetime is fixed; nothing asks for another.
            Failure::OutOfRange(err) => (ErrorStatus::InvalidArgument, format!("{err}.")),
            Failure::Grant(refusal) => (ErrorStatus::InvalidArgument, refusal.message.clone()),
            Failure::Core(err) => match err {
                CoreError::InvalidCredentials(_) => (
                    ErrorStatus::Unauthenticated,
                    "Invalid API key or auth token.".to_owned(),
                ),
                CoreError::TokenCannotMint => (
                    ErrorStatus::PermissionDenied,
                    "A token cannot be used to generate another token.".to_owned(),
                ),
                CoreError::ScopeNotAllowed(_) => (
                    ErrorStatus::PermissionDenied,
                    "The key may not grant the requested scopes.".to_owned(),
                ),
                CoreError::RateLimited(_) => (
                    ErrorStatus::ResourceExhausted,
                    "Too many requests.".to_owned(),
                ),
                CoreError::Unavailable(_) => (
                    ErrorStatus::Unavailable,
                    "Service temporarily unavailable.".to_owned(),
                ),
                CoreError::Internal(_) => (ErrorStatus::Internal, "Internal error.".to_owned()),
            },
        };
        Refusal::new(status.http(), status, message)
    }

    fn render(refusal: Refusal<ErrorStatus>, _: &Stamp) -> HttpResponse {
        render(refusal.code, refusal.status, refusal.message)
    }
}

fn render(status: ErrorStatus, http: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(http).json(ErrorResponse {
        error: ErrorDetail { message, status },
    })
}

/// Router-level answers: `NOT_FOUND` for unknown paths; a wrong method is an invalid argument
/// (as callable functions answer it), sent with HTTP 405 and `Allow`.
pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    let name = match status {
        StatusCode::NOT_FOUND => ErrorStatus::NotFound,
        status if status.is_server_error() => ErrorStatus::Internal,
        _ => ErrorStatus::InvalidArgument,
    };
    render(name, status, format!("{message}."))
}
