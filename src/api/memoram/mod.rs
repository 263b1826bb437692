//! Memoram (`004_*`): `POST /api/v1/auth/token` (documented as `/auth/token` on server
//! `.../api/v1`), `api_key` in the body, an optional `expires_in` the server may override,
//! `{token, expires_at, token_type}` back.

/// Core and body errors as `{"detail": ...}`.
pub mod error;
/// How the shared suites ask it for a token.
pub mod fixture;
/// The token endpoint.
pub mod handlers;
/// Request and response bodies.
pub mod types;

use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ContactBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use clap::{Args as _, FromArgMatches as _};

use super::{Deployment, Dialect};
use crate::core::lifetime::{Lifetime, LifetimePolicy};

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
    error_page: error::error_page,
    flags: Flags::augment_args,
    lifetime,
    fixture: Some(&fixture::FIXTURE),
    signing: super::Signing::Configured,
    typ: crate::core::token::Typ::Untyped,
};

/// The lifetime bounds when no flag changes them.
pub const DEFAULT_POLICY: LifetimePolicy = LifetimePolicy {
    min: Lifetime::from_secs(60),
    max: Lifetime::from_secs(86_400),
    default: Lifetime::from_secs(3600),
};

/// Memoram's flags of `keymint serve`.
#[derive(Debug, Clone, clap::Args)]
// Flattened beside other dialects' flags: no argument group named after the struct.
#[group(skip)]
pub struct Flags {
    /// Memoram: lifetime in seconds when `expires_in` is omitted.
    #[arg(long, env = "KEYMINT_MEMORAM_DEFAULT_LIFETIME", default_value_t = DEFAULT_POLICY.default.as_secs())]
    pub memoram_default_lifetime: u32,

    /// Memoram: shortest lifetime granted; shorter requests are raised to it.
    #[arg(long, env = "KEYMINT_MEMORAM_MIN_LIFETIME", default_value_t = DEFAULT_POLICY.min.as_secs())]
    pub memoram_min_lifetime: u32,

    /// Memoram: longest lifetime granted; longer requests are lowered to it.
    #[arg(long, env = "KEYMINT_MEMORAM_MAX_LIFETIME", default_value_t = DEFAULT_POLICY.max.as_secs())]
    pub memoram_max_lifetime: u32,
}

fn lifetime(matches: &clap::ArgMatches) -> Result<Option<LifetimePolicy>, String> {
    let flags = Flags::from_arg_matches(matches).map_err(|err| err.to_string())?;
    LifetimePolicy::bounded(
        "Memoram",
        flags.memoram_min_lifetime,
        flags.memoram_default_lifetime,
        flags.memoram_max_lifetime,
    )
    .map(Some)
}

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
fn customize(doc: &mut OpenApi, _: &Deployment) {
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
