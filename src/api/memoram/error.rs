use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::types::ErrorResponse;
use crate::api;
use crate::api::body::BodyError;
use crate::core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum MemoramError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
}

fn describe(err: &MemoramError) -> (StatusCode, String) {
    match err {
        MemoramError::Body(BodyError::Invalid(errors)) => {
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
        MemoramError::Body(other) => (StatusCode::BAD_REQUEST, format!("{other}.")),
        MemoramError::Core(err) => {
            api::log_core_error(err);
            match err {
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
            }
        }
    }
}

fn render(status: StatusCode, detail: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse { detail })
}

impl ResponseError for MemoramError {
    fn status_code(&self) -> StatusCode {
        describe(self).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, detail) = describe(self);
        let mut response = render(status, detail);
        let headers = response.headers_mut();
        match self {
            MemoramError::Core(CoreError::InvalidCredentials(_)) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    "Bearer realm=\"keymint\"".parse().expect("static"),
                );
            }
            MemoramError::Core(CoreError::RateLimited(limited)) => {
                api::rate_limited_headers(headers, limited);
            }
            _ => {}
        }
        response
    }
}

pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    render(status, format!("{message}."))
}
