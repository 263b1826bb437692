use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::types::{ErrorDetail, ErrorResponse, ErrorStatus};
use crate::api;
use crate::api::body::{BodyError, FieldError};
use crate::core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum VeltError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
}

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

fn describe(err: &VeltError) -> (ErrorStatus, String) {
    match err {
        VeltError::Body(BodyError::Invalid(errors)) => {
            (ErrorStatus::InvalidArgument, message(errors))
        }
        VeltError::Body(other) => (ErrorStatus::InvalidArgument, format!("{other}.")),
        VeltError::Core(err) => {
            api::log_core_error(err);
            match err {
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
            }
        }
    }
}

fn render(status: ErrorStatus, http: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(http).json(ErrorResponse {
        error: ErrorDetail { message, status },
    })
}

impl ResponseError for VeltError {
    fn status_code(&self) -> StatusCode {
        describe(self).0.http()
    }

    fn error_response(&self) -> HttpResponse {
        let (status, message) = describe(self);
        let mut response = render(status, status.http(), message);
        if let VeltError::Core(CoreError::RateLimited(limited)) = self {
            let headers = response.headers_mut();
            api::rate_limited_headers(headers, limited);
        }
        response
    }
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
