//! keymint's own endpoints, for the services it protects: forward-auth for gateways (nginx
//! `auth_request`, Traefik ForwardAuth), RFC 7662 token introspection, and the JWKS. Errors are RFC 6749 /
//! RFC 6750 style: `{"error", "error_description"}`.

/// `{"error", "error_description"}` answers.
pub mod error;
/// Forward-auth, introspection and the JWKS.
pub mod handlers;
/// Response bodies.
pub mod types;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use super::Dialect;

pub const DIALECT: Dialect = Dialect {
    name: "keymint",
    doc_path: "/v3/api-docs/keymint",
    title: "keymint (forward-auth, introspection)",
    path_prefix: "/forward-auth",
    base_path: "",
    openapi,
    customize: super::as_collected,
    servers,
    configure,
    error_page: error::error_page,
    flags: super::no_flags,
    // Issues no tokens of its own.
    lifetime: |_| Ok(None),
    fixture: None,
    signing: super::Signing::Configured,
    typ: crate::core::token::Typ::Untyped,
};

pub const API_KEY_SCHEME: &str = "ApiKey";
pub const BEARER_SCHEME: &str = "Bearer";
pub const API_KEY_HEADER: &str = "X-Api-Key";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::forward_auth)
        .service(handlers::introspect);
    operations(cfg);
}

/// The operational endpoints (health, readiness, metrics, JWKS): documented here, and served
/// whichever dialects are enabled, since load balancers and verifiers depend on them.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(handlers::jwks)
        .service(handlers::healthz)
        .service(handlers::readyz)
        .service(handlers::metrics);
}

fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("keymint")
                .version("v1")
                .description(Some(
                    "Endpoints for the services keymint protects: forward-auth for gateways and \
                     RFC 7662 token introspection.",
                )),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    API_KEY_SCHEME,
                    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                        API_KEY_HEADER,
                        "An API key of the account.",
                    ))),
                )
                .security_scheme(
                    BEARER_SCHEME,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .description(Some("A token keymint issued."))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

fn servers(origin: &str) -> Vec<Server> {
    vec![Server::new(origin)]
}
