//! The token exchange, once for every dialect: read the body (always, so that a refusal keeps
//! the connection open), find the credentials, authenticate, admit against the quotas, decode,
//! grant, issue, answer. A dialect's endpoint says what differs, as an [`Endpoint`], and its
//! handler is one call to [`mint`].

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::de::DeserializeOwned;
use validator::Validate;

use super::body::{self, BodyRules};
use super::error::{DialectError, ErrorTable, Failure, Stamp};
use super::{AppState, Dialect, credentials, token_response};
use crate::core::service::{Credentials, Grant, Principal};
use crate::core::token::IssuedToken;

/// Where an endpoint finds the caller's credentials.
pub enum CredentialSource<R> {
    /// In the headers, judged before the body: a bad key is a 401 whatever the body says.
    Headers(fn(&HttpRequest) -> Credentials),
    /// In the body. A bearer token presented anyway is refused before the body is decoded.
    Body(fn(&mut R) -> Credentials),
    /// In the headers (`None` when they carry none) or in the body, but never in both
    /// (RFC 6749 §2.3: one method per request). A bearer token is refused first.
    HeaderOrBody(
        fn(&HttpRequest) -> Option<Credentials>,
        fn(&mut R) -> Credentials,
    ),
}

/// What one dialect's token endpoint does differently.
pub trait Endpoint: 'static {
    /// The documented request body.
    type Request: DeserializeOwned + Validate;
    /// Its error table and body.
    type Errors: ErrorTable;
    /// Whose endpoint it is (audit trail, quotas, lifetimes).
    const DIALECT: &'static Dialect;
    /// How its body is read.
    const BODY: BodyRules;
    /// Where its credentials are.
    const CREDENTIALS: CredentialSource<Self::Request>;

    /// What the token grants, given the request and the key it was made with.
    fn grant(
        request: Self::Request,
        principal: &Principal,
        state: &AppState,
    ) -> Result<Grant, Failure>;

    /// The documented success body, on a response that already carries the quota headers;
    /// `req` for bodies that name the request or the time ([`Stamp::of`]).
    fn answer(
        issued: IssuedToken,
        req: &HttpRequest,
        response: HttpResponseBuilder,
    ) -> HttpResponse;
}

/// A dialect's token endpoint: the whole exchange, each failure in the dialect's shape.
pub async fn mint<E: Endpoint>(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, DialectError<E::Errors>> {
    exchange::<E>(&req, payload, &state)
        .await
        .map_err(|failure| DialectError::from(failure).at(Stamp::of(&req)))
}

async fn exchange<E: Endpoint>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, Failure> {
    let caller = state.caller(req, E::DIALECT);
    let (principal, allowance, request) = match E::CREDENTIALS {
        CredentialSource::Headers(find) => {
            let credentials = find(req);
            let bytes = body::read_bytes(req, payload).await;
            let principal = state.tokens.authenticate(&caller, &credentials).await?;
            let allowance = state.tokens.admit(&caller, &principal).await?;
            let request = body::decode_body(req, bytes, E::BODY)?;
            (principal, allowance, request)
        }
        CredentialSource::Body(take) => {
            let bytes = body::read_bytes(req, payload).await;
            credentials::refuse_any_bearer(req, &state.tokens, &caller)?;
            let mut request = body::decode_body(req, bytes, E::BODY)?;
            let credentials = take(&mut request);
            let principal = state.tokens.authenticate(&caller, &credentials).await?;
            let allowance = state.tokens.admit(&caller, &principal).await?;
            (principal, allowance, request)
        }
        CredentialSource::HeaderOrBody(in_headers, in_body) => {
            let bytes = body::read_bytes(req, payload).await;
            credentials::refuse_any_bearer(req, &state.tokens, &caller)?;
            let mut request = body::decode_body(req, bytes, E::BODY)?;
            let credentials = credentials::one_method(in_headers(req), in_body(&mut request))?;
            let principal = state.tokens.authenticate(&caller, &credentials).await?;
            let allowance = state.tokens.admit(&caller, &principal).await?;
            (principal, allowance, request)
        }
    };
    let grant = E::grant(request, &principal, state)?;
    let format = state.formats.of(E::DIALECT);
    let issued = state
        .tokens
        .issue(&caller, &principal, grant, format)
        .await?;
    Ok(E::answer(issued, req, token_response(allowance)))
}
