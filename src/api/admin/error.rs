use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use utoipa::IntoResponses;

use super::types::{FieldProblem, Problem};
use crate::api::body::BodyError;
use crate::api::error::{DialectError, ErrorTable, Failure, Refusal, Stamp};
use crate::core::CoreError;
use crate::core::administration::AdminError;

/// The admin API's errors: RFC 9457 problem details, every one of them.
pub struct Admin;

pub type AdminApiError = DialectError<Admin>;

/// `application/problem+json` (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The refusals any admin call may meet, documented once: each operation lists them in its
/// `responses(...)` beside its own. Never built: the variants only describe the answers.
#[derive(IntoResponses)]
pub enum Refusals {
    #[response(status = 401, description = "No admin key, or not a valid one.", content_type = PROBLEM_JSON,
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"keymint-admin\"`.")))]
    Unauthenticated(Problem),
    #[response(status = 429, description = "Too many failed authentications from this address.", content_type = PROBLEM_JSON,
        headers(("Retry-After" = u64, description = "Seconds until the address may try again.")))]
    TooManyFailures(Problem),
    #[response(status = 503, description = "The key store is unavailable.", content_type = PROBLEM_JSON)]
    Unavailable(Problem),
}

/// The further refusal of every change: a read-only admin key may call GET operations only.
#[derive(IntoResponses)]
pub enum ChangeRefusals {
    #[response(status = 403, description = "The admin key is read-only.", content_type = PROBLEM_JSON)]
    ReadOnly(Problem),
}

/// The further refusals of every operation that reads a JSON body (`crate::api::body`).
#[derive(IntoResponses)]
pub enum BodyRefusals {
    #[response(status = 413, description = "The body is larger than 16 KiB.", content_type = PROBLEM_JSON)]
    TooLarge(Problem),
    #[response(status = 415, description = "The body is not `application/json`, or is compressed.", content_type = PROBLEM_JSON)]
    UnsupportedMediaType(Problem),
}

/// The refusal of every operation on an account that the path names.
#[derive(IntoResponses)]
pub enum AccountRefusals {
    #[response(status = 404, description = "There is no account of that name.", content_type = PROBLEM_JSON)]
    UnknownAccount(Problem),
}

/// A refusal by status: the status says what went wrong (the problem type is `about:blank`),
/// the message says it in words.
fn refused(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure::Grant(Refusal::new(status, "", message))
}

impl From<AdminError> for Failure {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::ReadOnly => refused(
                StatusCode::FORBIDDEN,
                "This admin key is read-only: it may call GET operations only.",
            ),
            AdminError::UnknownAccount(_) => {
                refused(StatusCode::NOT_FOUND, "There is no account of that name.")
            }
            AdminError::UnknownKey(_) => {
                refused(StatusCode::NOT_FOUND, "There is no active key with that id.")
            }
            AdminError::UnknownAdminKey(_) => refused(
                StatusCode::NOT_FOUND,
                "There is no active admin key with that id.",
            ),
            AdminError::NotAsymmetric => refused(
                StatusCode::NOT_FOUND,
                "There are no key pairs of that algorithm: ES256, EdDSA or RS256.",
            ),
            AdminError::UnknownSlot => refused(
                StatusCode::NOT_FOUND,
                "There is no such slot: an account's slots are primary and secondary.",
            ),
            AdminError::RotationConflict => refused(
                StatusCode::CONFLICT,
                "Another rotation of this slot was made meanwhile; read the keys again and retry.",
            ),
            AdminError::NotCurrentKey => refused(
                StatusCode::PRECONDITION_FAILED,
                "The slot's current key is not the one If-Match names.",
            ),
            AdminError::ExpiryPassed => {
                Failure::Grant(Refusal::new(StatusCode::BAD_REQUEST, "", "The request is not valid: see errors.").with_fields(vec![
                    crate::api::body::FieldError {
                        field: "expires_at".to_owned(),
                        rejected_value: None,
                        message: "must be later than now".to_owned(),
                    },
                ]))
            }
            AdminError::DuplicateAccount(_) => refused(
                StatusCode::CONFLICT,
                "An account of that name exists already (names are one regardless of case).",
            ),
            AdminError::Unavailable(err) => Failure::Core(CoreError::Unavailable(err)),
            AdminError::Internal(err) => Failure::Core(CoreError::Internal(err.into())),
        }
    }
}

impl ErrorTable for Admin {
    type Code = ();
    const CHALLENGE: Option<&'static str> = Some("Bearer realm=\"keymint-admin\"");

    fn refusal(failure: &Failure) -> Refusal<()> {
        match failure {
            Failure::Body(err) => {
                let status = match err {
                    BodyError::UnsupportedMediaType | BodyError::UnsupportedEncoding => {
                        StatusCode::UNSUPPORTED_MEDIA_TYPE
                    }
                    BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let message = match err {
                    BodyError::Invalid(_) => "The request is not valid: see errors.".to_owned(),
                    other => format!("{other}."),
                };
                let refusal = Refusal::new(status, (), message);
                match err.field_errors() {
                    fields if fields.is_empty() => refusal,
                    fields => refusal.with_fields(fields),
                }
            }
            Failure::OutOfRange(err) => Refusal::new(StatusCode::BAD_REQUEST, (), err.to_string()),
            Failure::Grant(refusal) => {
                let answer = Refusal::new(refusal.status, (), refusal.message.clone());
                match &refusal.fields {
                    Some(fields) => answer.with_fields(fields.clone()),
                    None => answer,
                }
            }
            Failure::Core(err) => {
                let (status, message) = match err {
                    CoreError::InvalidCredentials(_) | CoreError::TokenCannotMint => (
                        StatusCode::UNAUTHORIZED,
                        "The admin API takes an admin key as a bearer credential: \
                         `Authorization: Bearer kma_...`.",
                    ),
                    CoreError::RateLimited(_) => (
                        StatusCode::TOO_MANY_REQUESTS,
                        "Too many failed authentications from this address; see Retry-After.",
                    ),
                    CoreError::Unavailable(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The key store is unavailable; retry shortly.",
                    ),
                    CoreError::ScopeNotAllowed(_) | CoreError::Internal(_) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong on our side.",
                    ),
                };
                Refusal::new(status, (), message)
            }
        }
    }

    fn render(refusal: Refusal<()>, _: &Stamp) -> HttpResponse {
        render(refusal.status, refusal.message, refusal.fields)
    }
}

/// The problem details of a refusal, never cached.
fn render(
    status: StatusCode,
    detail: String,
    fields: Option<Vec<crate::api::body::FieldError>>,
) -> HttpResponse {
    let problem = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: fields.map(|fields| fields.into_iter().map(FieldProblem::from).collect()),
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type(PROBLEM_JSON)
        .body(body)
}

/// Router-level answers under `/admin/` (no such path, a method the path does not allow).
pub fn error_page(status: StatusCode, message: &str, _: &HttpRequest) -> HttpResponse {
    let detail = match status {
        StatusCode::NOT_FOUND => "There is no such resource in the admin API.".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "This resource does not take this method; Allow lists those it takes.".to_owned()
        }
        _ => format!("{message}."),
    };
    render(status, detail, None)
}
