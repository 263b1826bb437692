//! One error path for every dialect. A dialect supplies its table (each failure → status,
//! code, fixed message) and its body; the cause is logged, and `WWW-Authenticate` and the
//! rate-limit headers are added, here and only here.

use std::marker::PhantomData;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};

use super::body::{BodyError, FieldError};
use super::request_id::RequestId;
use crate::core::CoreError;
use crate::core::clock::{Clock as _, SystemClock};
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
    /// A refusal only one dialect's grant makes (OAuth 2.0's `unsupported_grant_type`, ...),
    /// already in its words.
    #[error("{}", .0.message)]
    Grant(Refusal<&'static str>),
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

/// What an answer may say about its request: the id it was given, and when it was answered by
/// the server's (injected) clock.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub request_id: RequestId,
    pub at: DateTime<Utc>,
}

impl Stamp {
    pub fn of(req: &HttpRequest) -> Self {
        let at = req
            .app_data::<web::Data<super::AppState>>()
            .map_or_else(|| SystemClock.now(), |state| state.tokens.clock().now());
        Self {
            request_id: RequestId::of(req),
            at,
        }
    }

    /// For an error raised outside any request's exchange: token endpoints stamp theirs
    /// ([`super::mint`]), so only dialects whose bodies name neither id nor time meet this.
    fn unrequested() -> Self {
        Self {
            request_id: RequestId::generate(),
            at: SystemClock.now(),
        }
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
    /// The documented body; `stamp` for dialects that name the request or the time.
    fn render(refusal: Refusal<Self::Code>, stamp: &Stamp) -> HttpResponse;
}

/// A failed request of the dialect whose table is `T`, ready to be answered.
pub struct DialectError<T> {
    failure: Failure,
    stamp: Option<Stamp>,
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
    /// The request it answers, for bodies that name it or the time.
    pub fn at(mut self, stamp: Stamp) -> Self {
        self.stamp = Some(stamp);
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
            stamp: None,
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
        let stamp = self.stamp.clone().unwrap_or_else(Stamp::unrequested);
        let mut response = T::render(refusal, &stamp);
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
