use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::error::{KeymintError, render};
use super::types::{
    ErrorResponse, ForwardAuthGranted, Health, HealthStatus, IntrospectionRequest,
    IntrospectionResponse, Jwks,
};
use crate::api::body;
use crate::api::credentials::{self, single_header};
use crate::api::{AppState, Gateway};
use crate::core::service::{Credentials, Denial};

pub const SUBJECT_HEADER: &str = "x-auth-subject";
pub const SCOPES_HEADER: &str = "x-auth-scopes";
pub const KEY_ID_HEADER: &str = "x-auth-key-id";

/// The original request's method and target, from the configured gateway's headers only.
/// The other convention's headers are the client's to forge, so they are never read; a missing,
/// repeated or unreadable header yields nothing, which forward-auth denies.
fn original_request(req: &HttpRequest, gateway: Gateway) -> (&str, &str) {
    let (method, uri) = match gateway {
        Gateway::Nginx => (ORIGINAL_METHOD, ORIGINAL_URI),
        Gateway::Traefik => (FORWARDED_METHOD, FORWARDED_URI),
    };
    let read = |name| {
        single_header(req, name)
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    (read(method), read(uri))
}

const ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

#[utoipa::path(
    tag = "Forward auth",
    summary = "Decide whether a gateway may pass a request upstream",
    description = "For nginx `auth_request` and Traefik ForwardAuth. The original method and URI come from `X-Original-Method`/`X-Original-URI` (nginx) or `X-Forwarded-Method`/`X-Forwarded-Uri` (Traefik); the caller's credentials from `Authorization: Bearer` or `X-Api-Key`. The path is normalised as upstream routers see it, then looked up in the route → scope table; routes not in the table are denied. A bearer token passes if it carries the route's scope and the key that minted it is still active; an API key passes every listed route its key may grant. Answers only 200, 401 or 403.",
    operation_id = "forwardAuth",
    params(
        ("X-Original-Method" = Option<String>, Header, description = "nginx: the original request method.", example = "GET"),
        ("X-Original-URI" = Option<String>, Header, description = "nginx: the original request URI, query included.", example = "/v1/agents/42"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Traefik: the original request method."),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Traefik: the original request URI."),
    ),
    responses(
        (status = 200, description = "Allowed. `X-Auth-Subject`, `X-Auth-Scopes` and `X-Auth-Key-Id` identify the caller for the upstream.", body = ForwardAuthGranted, content_type = "application/json",
            headers(
                ("X-Auth-Subject" = String, description = "The account."),
                ("X-Auth-Scopes" = String, description = "Space-separated scopes the caller holds."),
                ("X-Auth-Key-Id" = String, description = "The API key behind the caller."),
            )),
        (status = 401, description = "No valid credentials (`WWW-Authenticate: Bearer`).", body = ErrorResponse, content_type = "application/json"),
        (status = 403, description = "The route is not listed, or needs a scope the caller lacks (`error=\"insufficient_scope\"`).", body = ErrorResponse, content_type = "application/json"),
    ),
    security((), ("Bearer" = []), ("ApiKey" = [])),
)]
#[get("/forward-auth")]
pub async fn forward_auth(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (method, target) = original_request(&req, state.gateway);
    let credentials = credentials::from_api_key_header(&req, &credentials::X_API_KEY);
    match state
        .tokens
        .authorize(
            &state.caller(&req, &super::DIALECT),
            &credentials,
            method,
            target,
            &state.routes,
        )
        .await
    {
        Ok(access) => {
            let scope = state.tokens.scopes().display(access.scopes).to_string();
            let mut response = HttpResponse::Ok();
            for (name, value) in [
                (SUBJECT_HEADER, &*access.subject),
                (SCOPES_HEADER, scope.as_str()),
                (KEY_ID_HEADER, access.key_id.as_str()),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.insert_header((name, value));
                }
            }
            let body = ForwardAuthGranted::to_json(&access.subject, &scope, access.key_id.as_str());
            response.content_type(mime::APPLICATION_JSON).body(body)
        }
        Err(denial) => {
            let (status, error, challenge) = match &denial {
                Denial::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "Bearer realm=\"keymint\"".to_owned(),
                ),
                Denial::InsufficientScope(scope) => (
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!(
                        "Bearer realm=\"keymint\", error=\"insufficient_scope\", scope=\"{scope}\""
                    ),
                ),
                Denial::NotAllowed => (
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "Bearer realm=\"keymint\", error=\"insufficient_scope\"".to_owned(),
                ),
            };
            tracing::debug!(%method, %target, reason = %denial, "forward-auth denied");
            let mut response = render(
                status,
                error,
                format!("{}.", capitalised(&denial.to_string())),
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[utoipa::path(
    tag = "Introspection",
    summary = "Introspect a token (RFC 7662)",
    description = "For services that cannot verify tokens locally. Authenticate with an API key; the answer is `{\"active\": false}` for any token that is invalid, expired, of another account, or minted by a key since rotated or revoked.",
    operation_id = "introspectToken",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state.", body = IntrospectionResponse, content_type = "application/json"),
        (status = 400, description = "`invalid_request`: not a form, or no `token`.", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "`invalid_client`: missing or invalid API key.", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "`too_many_requests`: too many failed authentications from this address; see Retry-After.", body = ErrorResponse, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`.", body = ErrorResponse, content_type = "application/json"),
    ),
    security(("ApiKey" = [])),
)]
#[post("/v1/auth/introspect")]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, KeymintError> {
    let caller = match credentials::from_api_key_header(&req, &credentials::X_API_KEY) {
        key @ Credentials::ApiKey(_) => {
            let caller = state.caller(&req, &super::DIALECT);
            state.tokens.authenticate(&caller, &key).await?
        }
        _ => {
            return Err(
                crate::core::CoreError::InvalidCredentials(crate::core::Attempt::Absent).into(),
            );
        }
    };
    let request: IntrospectionRequest = body::read_form(&req, payload).await?;
    let answer = match state.tokens.verify_token(&request.token).await {
        // The scopes the token grants here: a name outside the catalogue grants nothing.
        Ok((claims, access)) if access.subject == caller.account => IntrospectionResponse {
            active: true,
            scope: Some(state.tokens.scopes().display(access.scopes).to_string()),
            client_id: Some(claims.key_id),
            token_type: Some("Bearer"),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
        },
        Err(
            err @ (crate::core::CoreError::Unavailable(_) | crate::core::CoreError::Internal(_)),
        ) => {
            return Err(err.into());
        }
        _ => IntrospectionResponse::default(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(answer))
}

/// How long verifiers may cache the JWKS: well below the signing-key activation delay, so a new
/// key is fetched before any token names it.
pub const JWKS_MAX_AGE_SECS: u32 = 60;

#[utoipa::path(
    tag = "Keys",
    summary = "Public keys for verifying tokens (JWKS)",
    description = "With `--signing-alg ES256`, `EdDSA` or `RS256`, the public halves of the signing keys: a rotated-in key appears here before it signs, and a rotated-out key stays until every token it signed has expired. Tokens carry the key's `kid` in their header. Empty with HS256, whose secret is never published. Cacheable for 60 s.",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The JWK Set.", body = Jwks, content_type = "application/json"),
    ),
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let now = state.tokens.clock().now();
    HttpResponse::Ok()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::Public,
            actix_web::http::header::CacheDirective::MaxAge(JWKS_MAX_AGE_SECS),
        ]))
        .json(state.tokens.signer().jwks(now))
}

#[utoipa::path(
    tag = "Operations",
    summary = "Liveness: the process is up",
    operation_id = "healthz",
    responses((status = 200, description = "Up.", body = Health, content_type = "application/json")),
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: HealthStatus::Ok,
    })
}

#[utoipa::path(
    tag = "Operations",
    summary = "Readiness: the store answers and its changes are followed",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to serve.", body = Health, content_type = "application/json"),
        (status = 503, description = "The store does not answer, or its change feed is down (token endpoints answer 503 meanwhile).", body = Health, content_type = "application/json"),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Ready means what the token endpoints mean by it: they refuse to mint while changes to
    // keys cannot be followed, so readiness says so too.
    let ready = match tokio::time::timeout(state.store_timeout, state.store.ping()).await {
        Ok(Ok(())) if state.store.is_current() => true,
        Ok(Ok(())) => {
            tracing::warn!("not ready: the key change feed is down");
            false
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: the store does not answer");
            false
        }
        Err(_) => {
            tracing::warn!(timeout = ?state.store_timeout, "not ready: the store does not answer in time");
            false
        }
    };
    if ready {
        HttpResponse::Ok().json(Health {
            status: HealthStatus::Ready,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: HealthStatus::Unavailable,
        })
    }
}

/// The OpenMetrics text format's media type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[utoipa::path(
    tag = "Operations",
    summary = "Prometheus metrics",
    description = "Requests and latency by dialect and HTTP status, tokens issued, rate-limit rejections, key-cache hits and misses (all prefixed `keymint_`).",
    operation_id = "metrics",
    responses(
        (status = 200, description = "OpenMetrics text.", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 404, description = "Metrics are served on their own address (`--metrics-bind`), not here.", body = ErrorResponse, content_type = "application/json"),
    ),
)]
#[get("/metrics")]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if state.metrics_elsewhere {
        return (super::DIALECT.error_page)(StatusCode::NOT_FOUND, "Not Found", &req);
    }
    metrics_page(&state.metrics)
}

/// The metrics in the OpenMetrics text format, here or on `--metrics-bind`.
pub fn metrics_page(registry: &crate::metrics::Metrics) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(OPENMETRICS)
        .body(registry.render())
}
