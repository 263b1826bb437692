//! The admin API: accounts and their keys, managed over HTTP by the same core operations as
//! the command line (`core::administration`). Resource-shaped paths under `/admin/v1/`
//! (documented on server `.../admin/v1`), 201/204/404/409 where they belong, cursor
//! pagination, and RFC 9457 problem details (`application/problem+json`) for every refusal,
//! router-level ones included. Callers present an admin key as a bearer credential.

/// listAuditEvents.
pub mod audit;
/// Every refusal as problem details.
pub mod error;
/// listAccounts, getAccount, createAccount, updateAccount, deleteAccount, revokeKey.
pub mod handlers;
/// An account's settings: read from bodies, shown under `settings`.
pub mod settings;
/// listSigningKeys, rotateSigningKey.
pub mod signing_keys;
/// revokeToken.
pub mod token_revocations;
/// listKeys, rotateKey.
pub mod keys;
/// Request and response bodies, and the parameters' schemas.
pub mod types;

use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Server};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Deployment, Dialect};

pub const DIALECT: Dialect = Dialect {
    name: "admin",
    doc_path: "/v3/api-docs/admin",
    title: "keymint admin API",
    // Every path under /admin/ is the admin API's to answer, in its shape.
    path_prefix: "/admin/",
    base_path: BASE_PATH,
    openapi,
    customize,
    servers,
    configure,
    error_page: error::error_page,
    flags: super::no_flags,
    // Issues no tokens.
    lifetime: |_| Ok(None),
    fixture: None,
    signing: super::Signing::Configured,
    typ: crate::core::token::Typ::Untyped,
};

/// What every path starts with; the document's server carries it.
pub const BASE_PATH: &str = "/admin/v1";

/// The security scheme: an admin key as a bearer credential.
pub const SECURITY_SCHEME: &str = "adminKey";

fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::list_accounts)
        .service(handlers::create_account)
        .service(handlers::get_account)
        .service(handlers::update_account)
        .service(handlers::delete_account)
        .service(handlers::revoke_key);
    cfg.service(audit::list_audit_events);
    cfg.service(signing_keys::list_signing_keys)
        .service(signing_keys::rotate_signing_key);
    cfg.service(token_revocations::revoke_token);
    cfg.service(keys::list_keys).service(keys::rotate_key);
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
                .title("keymint admin API")
                .version("v1")
                .description(Some(
                    "Manage keymint's accounts and their API keys. Authenticate with an admin key \
                     (`keymint admin-keys create NAME`) as `Authorization: Bearer kma_...`; a \
                     read-only admin key may call GET operations only. Every refusal is an RFC \
                     9457 problem (`application/problem+json`), with `errors` naming the fields at \
                     fault. Every change is recorded in the audit trail with the admin key as its \
                     actor.",
                )),
        )
        .tags(Some(vec![
            tag("Accounts", "Accounts and the public facts of their keys."),
            tag("Keys", "An account's API keys."),
            tag("Audit", "The audit trail."),
            tag("Signing keys", "The key pairs that sign tokens: public facts only."),
            tag("Tokens", "Access tokens keymint issued."),
        ]))
        .components(Some(
            ComponentsBuilder::new()
                // The shared refusals (`error::Refusals` and its kin) name `Problem` but, as
                // IntoResponses types, do not bring its schema into the document: it is here.
                .schema_from::<types::Problem>()
                .schema_from::<types::FieldProblem>()
                .security_scheme(
                    SECURITY_SCHEME,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("kma_...")
                            .description(Some(
                                "An admin key, from `keymint admin-keys create NAME [--read-only]`.",
                            ))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// The scope lists' items are the deployment's scopes: their enum, and the first as the
/// example.
fn customize(doc: &mut OpenApi, deployment: &Deployment) {
    let scopes = deployment.scopes;
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for request in ["CreateAccountRequest", "UpdateAccountRequest"] {
        let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut(request) else {
            continue;
        };
        let list = match request.properties.get_mut("scopes") {
            Some(RefOr::T(Schema::Array(list))) => list,
            // updateAccount's: the list, or null.
            Some(RefOr::T(Schema::OneOf(either))) => match either.items.first_mut() {
                Some(RefOr::T(Schema::Array(list))) => list,
                _ => continue,
            },
            _ => continue,
        };
        let ArrayItems::RefOrSchema(items) = &mut list.items else {
            continue;
        };
        if let RefOr::T(Schema::Object(item)) = items.as_mut() {
            item.examples = scopes.names().take(1).map(Into::into).collect();
            item.enum_values = Some(scopes.names().map(Into::into).collect());
        }
    }
}

fn servers(origin: &str) -> Vec<Server> {
    vec![Server::new(format!("{origin}{BASE_PATH}"))]
}
