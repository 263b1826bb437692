//! Memoram (`004_*`): `POST /api/v1/auth/token` (documented as `/auth/token` on server
//! `.../api/v1`), `api_key` in the body, an optional `expires_in` the server may override,
//! `{token, expires_at, token_type}` back.

/// Core and body errors as `{"detail": ...}`.
pub mod error;
/// The token endpoint.
pub mod handlers;
/// Request and response bodies.
pub mod types;

use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ContactBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Dialect, Lifetimes};

pub const DIALECT: Dialect = Dialect {
    name: "memoram",
    doc_path: "/v3/api-docs/memoram",
    title: "Memoram",
    path_prefix: "/api/v1/",
    base_path: BASE_PATH,
    openapi,
    customize,
    servers,
    configure,
    longest: |lifetimes| lifetimes.memoram.max,
    error_page: error::error_page,
};

const BASE_PATH: &str = "/api/v1";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_token);
}

fn tag(name: &str, description: &str) -> utoipa::openapi::Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Memoram API v1")
                .description(Some(
                    "API for interacting with the Memoram platform, managing access, memories, and tags.",
                ))
                .version("1.0.0")
                .contact(Some(
                    ContactBuilder::new()
                        .name(Some("Memoram Support"))
                        .url(Some("https://memoram.app"))
                        .email(Some("support@memoram.app"))
                        .build(),
                )),
        )
        .security(Some(Vec::new()))
        .tags(Some(vec![
            tag(
                "Access Management",
                "Endpoints for obtaining authentication tokens and managing access requests to user memories.",
            ),
            tag(
                "Memory Management",
                "Endpoints for creating, retrieving, updating, and deleting user memory blobs.",
            ),
            tag("Memory Tag Management", "Endpoints for retrieving memory tags."),
        ]))
        .build()
}

/// The published document names no operation id; neither does keymint's.
fn customize(doc: &mut OpenApi, _: &Lifetimes, _: &crate::core::scope::Catalogue) {
    for item in doc.paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut() {
            post.operation_id = None;
        }
    }
}

fn servers(origin: &str) -> Vec<Server> {
    let mut server = Server::new(format!("{origin}{BASE_PATH}"));
    server.description = Some("Production Server".to_owned());
    vec![server]
}
