//! The standard dialect: OAuth 2.0's client credentials grant (RFC 6749 §4.4) at
//! `POST /oauth2/token`, RFC 9068 access tokens signed with a published key pair, token
//! revocation (RFC 7009) and introspection (RFC 7662), and the discovery documents (RFC 8414,
//! OpenID Connect Discovery) that OAuth clients and resource servers configure themselves from.
//! A key's id is the `client_id`, the key the `client_secret`.

/// RFC 6749 §5.2 errors: `{"error", "error_description"}`.
pub mod error;
/// The token, revocation, introspection and discovery endpoints.
pub mod handlers;
/// Request and response bodies.
pub mod types;

use clap::{Args as _, FromArgMatches as _};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Server,
};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Deployment, Dialect};
use crate::core::lifetime::LifetimePolicy;

pub const DIALECT: Dialect = Dialect {
    name: "oauth",
    doc_path: "/v3/api-docs/oauth",
    title: "OAuth 2.0 (client credentials)",
    path_prefix: "/oauth2/",
    base_path: "",
    openapi,
    customize,
    servers,
    configure,
    error_page: error::error_page,
    flags: Flags::augment_args,
    lifetime,
    fixture: None,
    signing: super::Signing::Published,
    typ: crate::core::token::Typ::AccessToken,
};

/// The token endpoint, as the discovery documents name it relative to the issuer.
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const REVOCATION_PATH: &str = "/oauth2/revoke";
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// RFC 8414 §3.
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";

/// 15 minutes, as Volubile's tokens: short enough that a leaked token soon dies, long enough
/// that a client asks four times an hour.
pub const DEFAULT_LIFETIME_SECS: u32 = 900;

/// The standard dialect's flags of `keymint serve`.
#[derive(Debug, Clone, clap::Args)]
#[group(skip)]
pub struct Flags {
    /// OAuth 2.0: the lifetime of its access tokens, in seconds (`expires_in`).
    #[arg(long, env = "KEYMINT_OAUTH_TOKEN_LIFETIME", default_value_t = DEFAULT_LIFETIME_SECS)]
    pub oauth_token_lifetime: u32,
}

fn lifetime(matches: &clap::ArgMatches) -> Result<Option<LifetimePolicy>, String> {
    let flags = Flags::from_arg_matches(matches).map_err(|err| err.to_string())?;
    let secs = flags.oauth_token_lifetime;
    LifetimePolicy::bounded("OAuth 2.0", secs.max(1), secs, secs).map(Some)
}

pub const CLIENT_SECRET_BASIC: &str = "clientSecretBasic";
pub const OAUTH2_SCHEME: &str = "oauth2";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::token)
        .service(handlers::revoke)
        .service(handlers::introspect)
        .service(handlers::authorization_server_metadata)
        .service(handlers::openid_configuration);
}

fn openapi() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("keymint OAuth 2.0")
                .version("v1")
                .description(Some(
                    "The OAuth 2.0 client credentials grant (RFC 6749 §4.4) with RFC 9068 JWT \
                     access tokens, token revocation (RFC 7009), introspection (RFC 7662) and \
                     authorization server metadata (RFC 8414). The client_id is an API key's id, \
                     the client_secret the key. Tokens are signed with a key pair whose public \
                     half is at /.well-known/jwks.json.",
                )),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    CLIENT_SECRET_BASIC,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Basic)
                            .description(Some(
                                "client_secret_basic: the key's id as user name, the key as password.",
                            ))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// The deployment's scopes and resources, where the document names them: the `oauth2`
/// scheme's scopes, the pattern a `scope` list follows, and the resources a token may be for.
fn customize(doc: &mut OpenApi, deployment: &Deployment) {
    let scopes = deployment.scopes;
    let names = Scopes::from_iter(scopes.names().map(|name| (name.to_owned(), name.to_owned())));
    let flow = Flow::ClientCredentials(ClientCredentials::new(TOKEN_PATH, names));
    let scheme = SecurityScheme::OAuth2(OAuth2::with_description(
        [flow],
        "The client credentials grant: Swagger UI's Authorize asks /oauth2/token for a token.",
    ));
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    components
        .security_schemes
        .insert(OAUTH2_SCHEME.to_owned(), scheme);
    let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut("TokenRequest")
    else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(scope))) = request.properties.get_mut("scope") {
        let one = format!(
            "({})",
            scopes
                .names()
                .map(regex_escape)
                .collect::<Vec<_>>()
                .join("|")
        );
        scope.pattern = Some(format!("^{one}( {one})*$"));
    }
    if let Some(RefOr::T(Schema::Array(list))) = request.properties.get_mut("resource") {
        let resources = deployment.resources;
        list.max_items = Some(resources.len().min(1));
        list.example = resources.first().map(|first| serde_json::json!([first]));
        if let ArrayItems::RefOrSchema(items) = &mut list.items
            && let RefOr::T(Schema::Object(item)) = items.as_mut()
            && !resources.is_empty()
        {
            item.enum_values = Some(resources.iter().map(|r| r.as_str().into()).collect());
        }
    }
}

/// A scope name in a regular expression: only `.` and the like need escaping.
fn regex_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let special = "\\.^$|?*+()[]{}/".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

fn servers(origin: &str) -> Vec<Server> {
    vec![Server::new(origin)]
}
