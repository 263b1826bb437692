//! OrigoID gateway (`002_*`): `POST /auth/token`, `x-api-key` or HTTP Basic, optional
//! `expireAfter` in [1, max], every answer wrapped in the gateway's envelope (`result`, `code`,
//! `message`, `requestId`, `timestamp` at Mexico City's offset, `billable`, `data`, `errors`).

/// Core and body errors as envelopes with result codes.
pub mod error;
/// How the shared suites ask it for a token.
pub mod fixture;
/// The token endpoint.
pub mod handlers;
/// The envelope and its payloads.
pub mod types;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Required, Schema, Server,
};
use utoipa_actix_web::service_config::ServiceConfig;

use clap::{Args as _, FromArgMatches as _};

use super::{Deployment, Dialect};
use crate::core::lifetime::{Lifetime, LifetimePolicy};

pub const DIALECT: Dialect = Dialect {
    name: "origoid",
    doc_path: "/v3/api-docs/origoid",
    title: "OrigoID",
    path_prefix: "/auth/",
    base_path: "",
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
    min: Lifetime::from_secs(1),
    max: Lifetime::from_secs(3600),
    default: Lifetime::from_secs(3600),
};

/// OrigoID's flags of `keymint serve`.
#[derive(Debug, Clone, clap::Args)]
// Flattened beside other dialects' flags: no argument group named after the struct.
#[group(skip)]
pub struct Flags {
    /// OrigoID: lifetime in seconds when `expireAfter` is omitted.
    #[arg(long, env = "KEYMINT_ORIGOID_DEFAULT_LIFETIME", default_value_t = DEFAULT_POLICY.default.as_secs())]
    pub origoid_default_lifetime: u32,

    /// OrigoID: largest `expireAfter` accepted, in seconds; larger values are OUT_OF_RANGE.
    #[arg(long, env = "KEYMINT_ORIGOID_MAX_LIFETIME", default_value_t = DEFAULT_POLICY.max.as_secs())]
    pub origoid_max_lifetime: u32,
}

fn lifetime(matches: &clap::ArgMatches) -> Result<Option<LifetimePolicy>, String> {
    let flags = Flags::from_arg_matches(matches).map_err(|err| err.to_string())?;
    LifetimePolicy::bounded(
        "OrigoID",
        DEFAULT_POLICY.min.as_secs(),
        flags.origoid_default_lifetime,
        flags.origoid_max_lifetime,
    )
    .map(Some)
}

pub const API_KEY_SCHEME: &str = "ApiKeyAuth";
pub const BASIC_SCHEME: &str = "BasicAuth";
pub const API_KEY_HEADER: &str = "x-api-key";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::generate_token);
}

fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("OrigoID Gateway API")
                .version("1.0")
                .description(Some(
                    "Token endpoint of the OrigoID API gateway, as served by keymint. Every \
                     response is the gateway envelope; `requestId` is also returned in the \
                     `X-Request-Id` header.",
                )),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    API_KEY_SCHEME,
                    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                        API_KEY_HEADER,
                        "Your API Key. Use this or BasicAuth, not both: a request carrying both \
                         is refused.",
                    ))),
                )
                .security_scheme(
                    BASIC_SCHEME,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Basic)
                            .description(Some(
                                "Key id as the user name, API Key as the password. Use this or \
                                 ApiKeyAuth, not both.",
                            ))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// The body is optional, and the documented `expireAfter` bounds and default are the
/// configured ones.
fn customize(doc: &mut OpenApi, deployment: &Deployment) {
    let lifetimes = deployment.lifetimes;
    for item in doc.paths.paths.values_mut() {
        if let Some(body) = item.post.as_mut().and_then(|op| op.request_body.as_mut()) {
            body.required = Some(Required::False);
        }
    }
    let policy = lifetimes.of(&DIALECT);
    let Some(RefOr::T(Schema::Object(request))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("GenerateTokenRequest"))
    else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(expire_after))) = request.properties.get_mut("expireAfter")
    {
        expire_after.minimum = Some(policy.min.as_secs().into());
        expire_after.maximum = Some(policy.max.as_secs().into());
        expire_after.description = Some(format!(
            "Token lifetime in seconds. Optional. When omitted the gateway uses its configured \
             default (currently {}). Values outside [{}, {}] are rejected with OUT_OF_RANGE.",
            policy.default.as_secs(),
            policy.min.as_secs(),
            policy.max.as_secs()
        ));
        expire_after.default = Some(policy.default.as_secs().into());
    }
}

fn servers(origin: &str) -> Vec<Server> {
    vec![Server::new(origin)]
}
