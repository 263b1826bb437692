use std::fmt;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

/// A per-request identifier: sent back in `X-Request-Id` (OrigoID also puts it in its envelope),
/// and carried by the request's log span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A v4 UUID from the thread-local CSPRNG: no system call per request.
    pub(crate) fn generate() -> Self {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        Self(HeaderValue::from_str(text).expect("a UUID is a valid header value"))
    }

    /// The id the middleware gave this request.
    pub fn of(req: &HttpRequest) -> Self {
        req.extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        // Always a UUID's ASCII.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status and message of an error response whose body is not JSON (`application/json`,
/// or a JSON type such as `application/problem+json`).
fn plain_error<B>(response: &ServiceResponse<B>) -> Option<(StatusCode, String)> {
    let error = response.response().error()?;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| is_json_type(v.as_bytes()));
    (!is_json).then(|| (response.status(), error.to_string()))
}

fn is_json_type(media: &[u8]) -> bool {
    let essence = media.split(|&b| b == b';').next().unwrap_or_default();
    essence.starts_with(b"application/")
        && (essence == b"application/json" || essence.ends_with(b"+json"))
}

/// Gives every request an id and returns it in `X-Request-Id`; counts the request in the
/// metrics. Each request runs in a span carrying its id, and its outcome is logged, at `debug`
/// (`RUST_LOG=keymint=debug`): a line per request at the default level would cost more than
/// issuing the token. Server errors are logged at `warn` with their id whatever the level.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::generate();
    req.extensions_mut().insert(id.clone());
    let span = tracing::debug_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let response = next.call(req).instrument(span.clone()).await?;
    let mut response = match plain_error(&response) {
        // An error a middleware answered in plain text (a CORS preflight from an origin that
        // is not allowed, say) is answered in the owning dialect's shape too.
        Some((status, message)) => {
            let (request, _) = response.into_parts();
            let page = match request.app_data::<actix_web::web::Data<super::Routes>>() {
                Some(routes) => routes.error_page(status, &message, &request),
                None => HttpResponse::build(status).finish(),
            };
            ServiceResponse::new(request, page).map_into_right_body()
        }
        None => response.map_into_left_body(),
    };
    let status = response.status().as_u16();
    if let (Some(routes), Some(state)) = (
        response
            .request()
            .app_data::<actix_web::web::Data<super::Routes>>(),
        response
            .request()
            .app_data::<actix_web::web::Data<super::AppState>>(),
    ) {
        let dialect = routes.dialect_of(response.request().path());
        state
            .metrics
            .observe_request(dialect, status, started.elapsed());
    }
    if response.status().is_server_error() && crate::telemetry::request_error_line() {
        tracing::warn!(request_id = %id, status, path = %response.request().path(), "server error");
    }
    span.in_scope(|| {
        tracing::debug!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "handled"
        );
    });
    response
        .headers_mut()
        .insert(HeaderName::from_static(HEADER), id.0);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_told_by_their_media_type() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(is_json_type(json.as_bytes()), "{json}");
        }
        for other in ["text/plain", "application/jsonl", "text/x+json", ""] {
            assert!(!is_json_type(other.as_bytes()), "{other}");
        }
    }
}
