use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::types::{ErrorResponse, FieldDetail, ResultCode, ResultType};
use crate::api;
use crate::api::body::BodyError;
use crate::api::request_id::RequestId;
use crate::core::CoreError;
use crate::core::lifetime::OutOfRange;

/// What went wrong, before it is wrapped with the request's id.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// An OrigoID error envelope for one request.
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub struct OrigoError {
    failure: Failure,
    request_id: RequestId,
}

impl Failure {
    pub fn for_request(self, request_id: RequestId) -> OrigoError {
        OrigoError {
            failure: self,
            request_id,
        }
    }
}

fn describe(failure: &Failure) -> (StatusCode, ResultCode, String, Option<Vec<FieldDetail>>) {
    match failure {
        Failure::Body(err) => {
            let details = err
                .field_errors()
                .into_iter()
                .map(|e| FieldDetail {
                    field: e.field,
                    message: e.message,
                })
                .collect();
            (
                StatusCode::BAD_REQUEST,
                ResultCode::InvalidRequest,
                err.to_string(),
                Some(details),
            )
        }
        Failure::OutOfRange(OutOfRange(policy)) => {
            let message = format!(
                "expireAfter must be between {} and {}",
                policy.min.as_secs(),
                policy.max.as_secs()
            );
            let details = vec![FieldDetail {
                field: "expireAfter".to_owned(),
                message: message.clone(),
            }];
            (
                StatusCode::BAD_REQUEST,
                ResultCode::OutOfRange,
                message,
                Some(details),
            )
        }
        Failure::Core(err) => {
            api::log_core_error(err);
            let (status, code, message) = match err {
                CoreError::InvalidCredentials(_) => (
                    StatusCode::UNAUTHORIZED,
                    ResultCode::Unauthorized,
                    "Missing or invalid credentials.",
                ),
                CoreError::TokenCannotMint => (
                    StatusCode::FORBIDDEN,
                    ResultCode::TokenChainingNotAllowed,
                    "Bearer tokens cannot issue new tokens (no token chaining).",
                ),
                CoreError::ScopeNotAllowed(_) => (
                    StatusCode::BAD_REQUEST,
                    ResultCode::InvalidRequest,
                    "The key may not grant the requested scopes.",
                ),
                CoreError::RateLimited(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    ResultCode::RateLimitExceeded,
                    "Rate limit exceeded. Retry after the time in the Retry-After header.",
                ),
                CoreError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ResultCode::ServiceUnavailable,
                    "Service temporarily unavailable. Retry shortly.",
                ),
                CoreError::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ResultCode::InternalError,
                    "Internal error.",
                ),
            };
            (status, code, message.to_owned(), None)
        }
    }
}

impl ResponseError for OrigoError {
    fn status_code(&self) -> StatusCode {
        describe(&self.failure).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message, errors) = describe(&self.failure);
        let mut response = render(status, code, message, errors, &self.request_id);
        let headers = response.headers_mut();
        match &self.failure {
            // Not `Basic`, though Basic credentials are accepted: a Basic challenge makes
            // browsers put up their own login dialog over the page that called.
            Failure::Core(CoreError::InvalidCredentials(_)) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("ApiKey realm=\"keymint\", header=\"x-api-key\""),
                );
            }
            Failure::Core(CoreError::RateLimited(limited)) => {
                api::rate_limited_headers(headers, limited);
            }
            _ => {}
        }
        response
    }
}

/// The envelope's `timestamp`: ISO 8601 at America/Mexico_City's current offset.
pub fn mexico_city_now() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

fn render(
    status: StatusCode,
    code: ResultCode,
    message: String,
    errors: Option<Vec<FieldDetail>>,
    request_id: &RequestId,
) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        result: ResultType::Error,
        code,
        message,
        request_id: request_id.to_string(),
        timestamp: mexico_city_now(),
        billable: false,
        data: None,
        errors,
    })
}

/// Router-level answers (unknown path, wrong method) as envelopes.
pub fn error_page(status: StatusCode, message: &str, req: &HttpRequest) -> HttpResponse {
    let code = match status {
        StatusCode::NOT_FOUND => ResultCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ResultCode::MethodNotAllowed,
        // A refused CORS preflight, or anything else the client got wrong.
        status if status.is_client_error() => ResultCode::InvalidRequest,
        _ => ResultCode::InternalError,
    };
    render(
        status,
        code,
        format!("{message}."),
        None,
        &RequestId::of(req),
    )
}
