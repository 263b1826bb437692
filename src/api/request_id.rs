use std::fmt;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpRequest};
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

/// A per-request identifier: logged with everything the request does and sent back in
/// `X-Request-Id` (OrigoID also puts it in its envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id the middleware gave this request.
    pub fn of(req: &HttpRequest) -> Self {
        req.extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gives every request an id, runs it inside a span carrying that id, logs its outcome and
/// returns the id in `X-Request-Id`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::generate();
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
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
            .observe_request(dialect, response.status().as_u16(), started.elapsed());
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "handled"
        );
    });
    Ok(response)
}
