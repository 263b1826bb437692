//! Volubile (`000_*`, `001_*`): `POST /v1/auth/token`, the key in `X-Api-Key`, scoped 900 s
//! tokens, errors as `ErrorResponse` with a `ValidationError` list. The primary dialect: unknown
//! paths outside the other dialects' prefixes are answered in its shape.

/// Maps core and body errors to `ErrorResponse`.
pub mod error;
/// How the shared suites ask it for a token.
pub mod fixture;
/// The token endpoint.
pub mod handlers;
/// Request and response bodies, as the reference document names them.
pub mod types;

use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Info, OpenApi, OpenApiBuilder, RefOr, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Deployment, Dialect};
use crate::core::lifetime::LifetimePolicy;

pub const DIALECT: Dialect = Dialect {
    name: "volubile",
    doc_path: "/v3/api-docs/volubile",
    title: "Volubile",
    path_prefix: "/",
    base_path: "",
    openapi,
    customize,
    servers,
    configure,
    error_page: error::error_page,
    flags: super::no_flags,
    lifetime: |_| Ok(Some(LifetimePolicy::fixed(LIFETIME))),
    fixture: Some(&fixture::FIXTURE),
    signing: super::Signing::Configured,
    typ: crate::core::token::Typ::Untyped,
};

/// `expiresIn: 900`, as the reference document's example says.
pub const LIFETIME: crate::core::lifetime::Lifetime =
    crate::core::lifetime::Lifetime::from_secs(900);

/// The route → scope table Volubile publishes, the default for forward-auth (`--routes`).
pub const ROUTES: &str = include_str!("../../../openapi/volubile-routes.toml");

/// [`ROUTES`], parsed.
pub fn routes() -> crate::core::routes::RouteTable {
    crate::core::routes::RouteTable::parse(ROUTES).expect("the shipped route table parses")
}

/// The name the reference document gives the security scheme.
pub const SECURITY_SCHEME: &str = "Api key";
pub const API_KEY_HEADER: &str = "X-Api-Key";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::issue_token);
}

/// Everything of the document that is not collected from the handlers.
fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(Info::new("Volubile API", "v1"))
        .security(Some(Vec::new()))
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    SECURITY_SCHEME,
                    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                        API_KEY_HEADER,
                        "Your API key.",
                    ))),
                )
                .build(),
        ))
        .build()
}

/// The scope list's items are the deployment's scopes: its enum, and its first as the example.
fn customize(doc: &mut OpenApi, deployment: &Deployment) {
    let scopes = deployment.scopes;
    let Some(RefOr::T(Schema::Object(request))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("AuthTokenRequest"))
    else {
        return;
    };
    let Some(RefOr::T(Schema::Array(list))) = request.properties.get_mut("scope") else {
        return;
    };
    let ArrayItems::RefOrSchema(items) = &mut list.items else {
        return;
    };
    if let RefOr::T(Schema::Object(item)) = items.as_mut() {
        item.examples = scopes.names().take(1).map(Into::into).collect();
        item.enum_values = Some(scopes.names().map(Into::into).collect());
    }
}

/// springdoc derives the server from the request; so does keymint, which also makes Swagger
/// UI's "Try it out" call the instance that served the document.
fn servers(origin: &str) -> Vec<Server> {
    let mut server = Server::new(origin);
    server.description = Some("Generated server url".to_owned());
    vec![server]
}
