use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::types::{ErrorResponse, ValidationError};
use crate::api;
use crate::api::body::{BodyError, FieldError};
use crate::core::CoreError;

/// Everything the Volubile endpoint can answer besides a token, as `ErrorResponse`.
#[derive(Debug, thiserror::Error)]
pub enum VolubileError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
}

impl ResponseError for VolubileError {
    fn status_code(&self) -> StatusCode {
        match self {
            VolubileError::Body(_) => StatusCode::BAD_REQUEST,
            VolubileError::Core(err) => match err {
                CoreError::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
                CoreError::TokenCannotMint => StatusCode::FORBIDDEN,
                CoreError::ScopeNotAllowed(_) => StatusCode::BAD_REQUEST,
                CoreError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (message, errors) = match self {
            VolubileError::Body(err) => (err.to_string(), err.field_errors()),
            VolubileError::Core(CoreError::ScopeNotAllowed(refused)) => (
                "Unsupported scope".to_owned(),
                refused
                    .iter()
                    .map(|scope| FieldError {
                        field: "scope".to_owned(),
                        rejected_value: Some(scope.as_str().into()),
                        message: format!("{} is not granted to this API key", scope.as_str()),
                    })
                    .collect(),
            ),
            VolubileError::Core(err) => {
                api::log_core_error(err);
                (core_message(err).to_owned(), Vec::new())
            }
        };
        let mut response = render(status, &message, errors);
        let headers = response.headers_mut();
        match self {
            VolubileError::Core(CoreError::InvalidCredentials(_)) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("ApiKey realm=\"keymint\", header=\"X-Api-Key\""),
                );
            }
            VolubileError::Core(CoreError::RateLimited(limited)) => {
                api::rate_limited_headers(headers, limited);
            }
            _ => {}
        }
        response
    }
}

fn core_message(err: &CoreError) -> &'static str {
    match err {
        CoreError::InvalidCredentials(_) => "Missing or invalid API key",
        CoreError::TokenCannotMint => "Bearer tokens cannot be used to mint another token",
        CoreError::ScopeNotAllowed(_) => "Unsupported scope",
        CoreError::RateLimited(_) => "Too Many Requests",
        CoreError::Unavailable(_) => "Service temporarily unavailable, retry shortly",
        CoreError::Internal(_) => "Internal Server Error",
    }
}

/// The documented body for any status.
fn render(status: StatusCode, message: &str, errors: Vec<FieldError>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        timestamp: api::utc_millis_now(),
        status: i32::from(status.as_u16()),
        message: message.to_owned(),
        errors: errors.into_iter().map(ValidationError::from).collect(),
    })
}

/// Router-level answers (unknown path, wrong method) in the same shape.
pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    render(status, message, Vec::new())
}
