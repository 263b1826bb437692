use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::uri::{Authority, Scheme, Uri};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use serde_json::Value;
use utoipa_swagger_ui::{Config, SwaggerUi, Url};

use super::client::TrustedProxies;
use super::{AppState, Dialect, Routes};

/// Where the primary (Volubile) document is served: springdoc's default path.
pub const PRIMARY_DOC_PATH: &str = "/v3/api-docs";

/// Where clients reach keymint (`--public-url`): an `http` or `https` origin, with an optional
/// path prefix, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a public URL is http(s)://host[:port][/prefix], without query or fragment")]
pub struct BadPublicUrl;

impl std::str::FromStr for PublicUrl {
    type Err = BadPublicUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.trim().parse().map_err(|_| BadPublicUrl)?;
        let scheme = uri.scheme().ok_or(BadPublicUrl)?;
        let authority = uri.authority().ok_or(BadPublicUrl)?;
        let plain = *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS;
        if !plain || uri.query().is_some() || s.contains('#') || s.contains('@') {
            return Err(BadPublicUrl);
        }
        let path = uri.path().trim_end_matches('/');
        Ok(Self(format!("{scheme}://{authority}{path}")))
    }
}

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Each served document, rendered once at startup; only `servers` varies per request, and not
/// even that with a configured public URL.
#[derive(Debug)]
pub struct Documents {
    docs: Vec<(&'static Dialect, Value)>,
    public_url: Option<PublicUrl>,
}

/// Document answers name every request header their `servers` may be derived from, so a cache
/// in front never hands one client's origin to another; and are revalidated before reuse.
const VARY: HeaderValue =
    HeaderValue::from_static("Host, X-Forwarded-Host, X-Forwarded-Proto, Forwarded");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

impl Documents {
    pub fn new(
        documents: &[(&'static Dialect, utoipa::openapi::OpenApi)],
        public_url: Option<PublicUrl>,
    ) -> Self {
        let docs = documents
            .iter()
            .map(|(dialect, doc)| {
                let doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
                (*dialect, doc)
            })
            .collect();
        Self { docs, public_url }
    }

    /// The origin the documents' `servers` name: the configured public URL; else, from a
    /// trusted proxy, the host and scheme it forwards (or the `Host` it sent); else none: the
    /// server URL is relative to the document (`/`, Memoram's `/api/v1`), which Swagger UI and
    /// clients resolve against the address they fetched it from. Nothing a client writes in
    /// `Host` or forwarded headers becomes a URL.
    fn origin(&self, req: &HttpRequest, proxies: &TrustedProxies) -> String {
        if let Some(url) = &self.public_url {
            return url.as_str().to_owned();
        }
        if !proxies.peer_is_trusted(req) {
            return String::new();
        }
        let proto = forwarded_value(req, "x-forwarded-proto", "proto")
            .filter(|proto| proto.eq_ignore_ascii_case("https"))
            .map_or("http", |_| "https");
        let host = forwarded_value(req, "x-forwarded-host", "host")
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .and_then(|host| host.parse::<Authority>().ok())
            .filter(|authority| !authority.as_str().contains('@'));
        match host {
            Some(host) => format!("{proto}://{host}"),
            // No usable host: a server URL relative to the document's own address.
            None => String::new(),
        }
    }

    fn render(&self, name: &str, origin: &str) -> Option<Value> {
        let (dialect, doc) = self.docs.iter().find(|(dialect, _)| dialect.name == name)?;
        let mut doc = doc.clone();
        let mut servers = (dialect.servers)(origin);
        for server in &mut servers {
            if server.url.is_empty() {
                server.url = "/".to_owned();
            }
        }
        doc["servers"] = serde_json::to_value(servers).ok()?;
        Some(doc)
    }
}

/// The first value a trusted proxy forwarded: its `X-Forwarded-*` header, else the `Forwarded`
/// (RFC 7239) parameter of the same meaning.
fn forwarded_value(req: &HttpRequest, legacy: &'static str, parameter: &str) -> Option<String> {
    fn first(value: &HeaderValue) -> Option<&str> {
        value.to_str().ok()?.split(',').next().map(str::trim)
    }
    if let Some(value) = req.headers().get(HeaderName::from_static(legacy)) {
        return first(value).map(str::to_owned);
    }
    let forwarded = first(req.headers().get(header::FORWARDED)?)?;
    forwarded.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case(parameter)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Serves a document whose `servers` name where clients reach this keymint (as springdoc
/// does), so Swagger UI's "Try it out" calls it.
async fn serve(
    req: HttpRequest,
    documents: web::Data<Documents>,
    state: web::Data<AppState>,
    routes: web::Data<Routes>,
    name: web::Path<String>,
) -> HttpResponse {
    let origin = documents.origin(&req, &state.proxies);
    match documents.render(&name, &origin) {
        Some(doc) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((header::CACHE_CONTROL, NO_CACHE));
            if documents.public_url.is_none() {
                response.insert_header((header::VARY, VARY));
            }
            response.json(doc)
        }
        None => routes.fallback(&req),
    }
}

async fn serve_primary(
    req: HttpRequest,
    documents: web::Data<Documents>,
    state: web::Data<AppState>,
    routes: web::Data<Routes>,
) -> HttpResponse {
    // The primary dialect (first in the registry) is also served where springdoc serves it.
    let name = web::Path::from(super::DIALECTS[0].name.to_owned());
    serve(req, documents, state, routes, name).await
}

/// `/v3/api-docs[/<dialect>]` and Swagger UI at `/swagger-ui/`, listing every served document.
pub fn configure(cfg: &mut web::ServiceConfig, dialects: &[&'static Dialect]) {
    let urls: Vec<Url<'static>> = dialects
        .iter()
        .map(|dialect| Url::new(dialect.title, dialect.doc_path))
        .collect();
    cfg.service(
        web::resource(PRIMARY_DOC_PATH)
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(serve_primary),
    )
    .service(
        web::resource(format!("{PRIMARY_DOC_PATH}/{{name}}"))
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(serve),
    )
    .service(
        SwaggerUi::new("/swagger-ui/{_:.*}").config(
            Config::new(urls)
                .try_it_out_enabled(true)
                // Swagger UI would otherwise send every document's address to
                // validator.swagger.io (for any host but localhost): it must work offline.
                .validator_url("none"),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_an_origin_and_an_optional_prefix() {
        let url = |s: &str| s.parse::<PublicUrl>().map(|u| u.as_str().to_owned());
        assert_eq!(
            url("https://api.example.com/").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(url("http://h:8080/auth/").unwrap(), "http://h:8080/auth");
        for bad in [
            "api.example.com",
            "ftp://h",
            "https://h/?q=1",
            "https://h/#x",
            "https://u@h",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_dialect_document_lives_under_the_primary_path() {
        for dialect in crate::api::DIALECTS {
            assert_eq!(
                dialect.doc_path,
                format!("{PRIMARY_DOC_PATH}/{}", dialect.name)
            );
        }
    }
}
