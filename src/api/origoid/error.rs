use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::types::{ErrorResponse, FieldDetail, ResultCode, ResultType};
use crate::api::error::{DialectError, ErrorTable, Refusal, Stamp};
use crate::core::CoreError;
use crate::core::lifetime::OutOfRange;

pub use crate::api::error::Failure;

/// OrigoID's errors: the envelope, with the request's id, a code and a field list.
pub struct Origoid;

/// An OrigoID error envelope for one request (see [`DialectError::for_request`]).
pub type OrigoError = DialectError<Origoid>;

impl ErrorTable for Origoid {
    type Code = ResultCode;
    // Not `Basic`, though Basic credentials are accepted: a Basic challenge makes browsers put
    // up their own login dialog over the page that called.
    const CHALLENGE: Option<&'static str> = Some("ApiKey realm=\"keymint\", header=\"x-api-key\"");

    fn refusal(failure: &Failure) -> Refusal<ResultCode> {
        match failure {
            Failure::Body(err) => Refusal::new(
                StatusCode::BAD_REQUEST,
                ResultCode::InvalidRequest,
                err.to_string(),
            )
            .with_fields(err.field_errors()),
            // No OrigoID grant refuses in words of its own.
            Failure::Grant(refusal) => Refusal::new(
                StatusCode::BAD_REQUEST,
                ResultCode::InvalidRequest,
                refusal.message.clone(),
            ),
            Failure::OutOfRange(OutOfRange(policy)) => {
                let message = format!(
                    "expireAfter must be between {} and {}",
                    policy.min.as_secs(),
                    policy.max.as_secs()
                );
                let field = crate::api::body::FieldError {
                    field: "expireAfter".to_owned(),
                    rejected_value: None,
                    message: message.clone(),
                };
                Refusal::new(StatusCode::BAD_REQUEST, ResultCode::OutOfRange, message)
                    .with_fields(vec![field])
            }
            Failure::Core(err) => {
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
                Refusal::new(status, code, message)
            }
        }
    }

    fn render(refusal: Refusal<ResultCode>, stamp: &Stamp) -> HttpResponse {
        let errors = refusal.fields.map(|fields| {
            fields
                .into_iter()
                .map(|e| FieldDetail {
                    field: e.field,
                    message: e.message,
                })
                .collect()
        });
        render(
            refusal.status,
            refusal.code,
            refusal.message,
            errors,
            stamp,
        )
    }
}

/// The envelope's `timestamp`: ISO 8601 at America/Mexico_City's offset at that time.
pub fn mexico_city(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Mexico_City)
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

fn render(
    status: StatusCode,
    code: ResultCode,
    message: String,
    errors: Option<Vec<FieldDetail>>,
    stamp: &Stamp,
) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        result: ResultType::Error,
        code,
        message,
        request_id: stamp.request_id.to_string(),
        timestamp: mexico_city(stamp.at),
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
        &Stamp::of(req),
    )
}
