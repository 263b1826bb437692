//! Velt (`003_*`): `POST /v1/auth/token/get`, key id and key in the body (`apiKey`,
//! `authToken`) with the user's claims, 48 h tokens, answers in the callable-function
//! convention: `{"result": ...}` or `{"error": {"message", "status"}}`.

/// Core and body errors as `{"error": {"message", "status"}}`.
pub mod error;
/// How the shared suites ask it for a token.
pub mod fixture;
/// The token endpoint.
pub mod handlers;
/// Request and response bodies.
pub mod types;

use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use super::Dialect;
use crate::core::lifetime::{Lifetime, LifetimePolicy};

pub const DIALECT: Dialect = Dialect {
    name: "velt",
    doc_path: "/v3/api-docs/velt",
    title: "Velt",
    path_prefix: "/v1/auth/token/get",
    base_path: "",
    openapi,
    customize: super::as_collected,
    servers,
    configure,
    error_page: error::error_page,
    flags: super::no_flags,
    lifetime: |_| Ok(Some(LifetimePolicy::fixed(LIFETIME))),
    fixture: Some(&fixture::FIXTURE),
    signing: super::Signing::Configured,
    typ: crate::core::token::Typ::Untyped,
};

/// "JWT token expires in 48 hours."
pub const LIFETIME: Lifetime = Lifetime::from_secs(48 * 60 * 60);

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::generate_token);
}

fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Velt Auth API")
                .version("v1")
                .description(Some(
                    "Generate the JWT your client uses to authenticate with Velt, as served by \
                     keymint. Credentials travel in the body: `apiKey` is the key id and \
                     `authToken` the key.",
                )),
        )
        .build()
}

fn servers(origin: &str) -> Vec<Server> {
    vec![Server::new(origin)]
}
