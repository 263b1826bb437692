use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::types::ErrorResponse;
use crate::api;
use crate::api::body::BodyError;
use crate::core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum KeymintError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
}

fn describe(err: &KeymintError) -> (StatusCode, &'static str, String) {
    match err {
        KeymintError::Body(err) => (StatusCode::BAD_REQUEST, "invalid_request", err.to_string()),
        KeymintError::Core(err) => {
            api::log_core_error(err);
            match err {
                CoreError::InvalidCredentials(_) | CoreError::TokenCannotMint => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "Introspection needs a valid API key in X-Api-Key.".into(),
                ),
                CoreError::RateLimited(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "Too many failed authentications from this address.".into(),
                ),
                CoreError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "Service temporarily unavailable.".into(),
                ),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Internal error.".into(),
                ),
            }
        }
    }
}

pub fn render(status: StatusCode, error: &'static str, description: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        error,
        error_description: description,
    })
}

impl ResponseError for KeymintError {
    fn status_code(&self) -> StatusCode {
        describe(self).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, error, description) = describe(self);
        let mut response = render(status, error, description);
        if let KeymintError::Core(CoreError::RateLimited(limited)) = self {
            api::rate_limited_headers(response.headers_mut(), limited);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("ApiKey realm=\"keymint\", header=\"X-Api-Key\""),
            );
        }
        response
    }
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
