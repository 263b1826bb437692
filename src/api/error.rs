//! One error path for every dialect. A dialect supplies its table (each failure → status,
//! code, fixed message) and its body; the cause is logged, and `WWW-Authenticate` and the
//! rate-limit headers are added, here and only here.

use std::marker::PhantomData;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};

use super::body::{BodyError, FieldError};
use super::request_id::RequestId;
use crate::core::CoreError;
use crate::core::lifetime::OutOfRange;

/// Why a request failed, in any dialect.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A requested lifetime outside the dialect's bounds (where it refuses rather than clamps).
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// What a client is told: a row of its dialect's table.
#[derive(Debug)]
pub struct Refusal<C> {
    pub status: StatusCode,
    pub code: C,
    pub message: String,
    /// The fields at fault, where the request itself was (for dialects whose bodies list them).
    pub fields: Option<Vec<FieldError>>,
}

impl<C> Refusal<C> {
    pub fn new(status: StatusCode, code: C, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.fields = Some(fields);
        self
    }
}

/// A dialect's errors: its table and its body.
pub trait ErrorTable: 'static {
    /// The dialect's own error code (`UNAUTHORIZED`, `invalid_client`, ...), if it has one.
    type Code;
    /// The `WWW-Authenticate` challenge sent with its 401s, if it sends one.
    const CHALLENGE: Option<&'static str>;
    /// What the client is told for `failure`.
    fn refusal(failure: &Failure) -> Refusal<Self::Code>;
    /// The documented body; `request_id` for dialects that echo it.
    fn render(refusal: Refusal<Self::Code>, request_id: Option<&RequestId>) -> HttpResponse;
}

/// A failed request of the dialect whose table is `T`, ready to be answered.
pub struct DialectError<T> {
    failure: Failure,
    request_id: Option<RequestId>,
    table: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for DialectError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialectError")
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Display for DialectError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.failure.fmt(f)
    }
}

impl<T> DialectError<T> {
    /// For dialects whose body names the request (OrigoID's `requestId`).
    pub fn for_request(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    pub fn failure(&self) -> &Failure {
        &self.failure
    }
}

impl<T, E: Into<Failure>> From<E> for DialectError<T> {
    fn from(err: E) -> Self {
        Self {
            failure: err.into(),
            request_id: None,
            table: PhantomData,
        }
    }
}

impl<T: ErrorTable> ResponseError for DialectError<T> {
    fn status_code(&self) -> StatusCode {
        T::refusal(&self.failure).status
    }

    fn error_response(&self) -> HttpResponse {
        if let Failure::Core(err) = &self.failure {
            super::log_core_error(err);
        }
        let refusal = T::refusal(&self.failure);
        let status = refusal.status;
        let mut response = T::render(refusal, self.request_id.as_ref());
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED
            && let Some(challenge) = T::CHALLENGE
        {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Failure::Core(CoreError::RateLimited(limited)) = &self.failure {
            super::rate_limited_headers(headers, limited);
        }
        response
    }
}
