use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, get, post, web};
use serde_json::{Map, Value};

use super::error::{OAuth, OAuthError, challenged, refused};
use super::types::{
    ErrorResponse, ServerMetadata, TokenActionRequest, TokenRequest, TokenResponse,
};
use crate::api::body::{self, BodyError, BodyRules, Encoding, FieldNaming};
use crate::api::error::{Failure, Refusal};
use crate::api::keymint::types::IntrospectionResponse;
use crate::api::mint::{self, CredentialSource, Endpoint};
use crate::api::{AppState, credentials};
use crate::core::CoreError;
use crate::core::service::{Credentials, Grant, Principal, Revocation};
use crate::core::token::IssuedToken;

pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
    encoding: Encoding::Form {
        known: &["grant_type", "scope", "resource", "client_id", "client_secret"],
        repeatable: &["resource"],
    },
};

/// Revocation and introspection requests.
const ACTION_BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
    encoding: Encoding::Form {
        known: &["token", "token_type_hint", "client_id", "client_secret"],
        repeatable: &[],
    },
};

/// `client_secret_post`: the id and key from the body, taken out of it. A `client_id` alone
/// stays (RFC 6749 §3.2.1 lets a client name itself so beside HTTP Basic; [`same_client`]
/// checks it); a secret alone proves nothing.
fn posted(client_id: &mut Option<String>, client_secret: &mut Option<String>) -> Credentials {
    match client_secret.take() {
        Some(key) => match client_id.take() {
            Some(id) => Credentials::IdAndKey { id, key },
            None => Credentials::Missing,
        },
        None => Credentials::Missing,
    }
}

/// A `client_id` sent beside HTTP Basic must name the client Basic authenticated.
fn same_client(client_id: Option<&str>, principal: &Principal) -> Result<(), Failure> {
    match client_id {
        Some(id) if id != principal.key_id.as_str() => Err(refused(
            "invalid_request",
            "client_id names another client than the credentials.",
        )),
        _ => Ok(()),
    }
}

pub struct TokenEndpoint;

impl Endpoint for TokenEndpoint {
    type Request = TokenRequest;
    type Errors = OAuth;
    const DIALECT: &'static crate::api::Dialect = &super::DIALECT;
    const BODY: BodyRules = BODY;
    const CREDENTIALS: CredentialSource<TokenRequest> = CredentialSource::HeaderOrBody(
        credentials::client_secret_basic,
        |request| posted(&mut request.client_id, &mut request.client_secret),
    );

    /// RFC 6749's order once the client is known: the grant type, then the scopes, then the
    /// resource.
    fn grant(
        request: TokenRequest,
        principal: &Principal,
        state: &AppState,
    ) -> Result<Grant, Failure> {
        same_client(request.client_id.as_deref(), principal)?;
        match request.grant_type.as_deref() {
            Some("client_credentials") => {}
            None => return Err(refused("invalid_request", "grant_type is required.")),
            Some(_) => {
                return Err(refused(
                    "unsupported_grant_type",
                    "Only client_credentials is supported.",
                ));
            }
        }
        if principal.scopes.is_empty() {
            return Err(refused(
                "unauthorized_client",
                "This client may be granted no scope.",
            ));
        }
        let catalogue = state.tokens.scopes();
        let scopes = match request.scope.as_deref() {
            None => principal.scopes,
            Some(list) => {
                let asked = catalogue.parse_set(list).map_err(|_| {
                    refused("invalid_scope", format!("Scopes are {}.", catalogue.expected()))
                })?;
                if asked.is_empty() {
                    return Err(refused("invalid_scope", "The scope list is empty."));
                }
                // Scopes beyond the key's are refused by the core as invalid_scope.
                asked
            }
        };
        let audience = match request.resource.as_slice() {
            [] => None,
            [one] if state.tokens.signer().authority().resources.contains(one) => {
                Some(one.clone())
            }
            [_] => {
                return Err(refused(
                    "invalid_target",
                    "The resource is not one tokens are issued for.",
                ));
            }
            _ => return Err(refused("invalid_target", "One resource per token.")),
        };
        let mut extra = Map::new();
        extra.insert(
            "client_id".to_owned(),
            Value::String(principal.key_id.as_str().to_owned()),
        );
        Ok(Grant {
            scopes,
            lifetime: state.lifetimes.of(&super::DIALECT).default,
            extra,
            audience,
        })
    }

    fn answer(issued: IssuedToken, req: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponse {
        let scope = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.tokens.scopes().display(issued.scopes).to_string())
            .unwrap_or_default();
        response.json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.lifetime.as_secs(),
            scope,
        })
    }
}

#[utoipa::path(
    tag = "OAuth 2.0",
    summary = "Get an access token (client credentials grant)",
    description = "RFC 6749 §4.4. Authenticate with HTTP Basic (`client_secret_basic`: the key's id and the key, each form-urlencoded) or with `client_id` and `client_secret` in the body (`client_secret_post`), never both. The token is an RFC 9068 JWT (`typ: at+jwt`) with `iss`, `sub` (the account), `aud`, `client_id`, `scope`, `iat`, `exp` and `jti`, signed with a key published at `/.well-known/jwks.json`.",
    operation_id = "token",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The access token. `Cache-Control: no-store`.", body = TokenResponse, content_type = "application/json"),
        (status = 400, description = "`invalid_request` (not a form, a parameter sent twice, credentials in both places, no `grant_type`), `unsupported_grant_type`, `unauthorized_client`, `invalid_scope` or `invalid_target`.", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "`invalid_client`; with `WWW-Authenticate: Basic` when the client used HTTP Basic.", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "`temporarily_unavailable`: the account's quota or the address's failed authentications are spent; see Retry-After.", body = ErrorResponse, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`.", body = ErrorResponse, content_type = "application/json"),
    ),
    security((), ("clientSecretBasic" = [])),
)]
#[post("/oauth2/token")]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = mint::mint::<TokenEndpoint>(req.clone(), payload, state).await;
    challenged(&req, answer)
}

/// Who is calling a revocation or introspection endpoint, authenticated as at the token
/// endpoint, and what they sent.
async fn client_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(Principal, TokenActionRequest), OAuthError> {
    let caller = state.caller(req, &super::DIALECT);
    let bytes = body::read_bytes(req, payload).await;
    credentials::refuse_any_bearer(req, &state.tokens, &caller)?;
    let mut request: TokenActionRequest = body::decode_body(req, bytes, ACTION_BODY)?;
    let in_body = posted(&mut request.client_id, &mut request.client_secret);
    let credentials = credentials::one_method(credentials::client_secret_basic(req), in_body)?;
    let principal = state.tokens.authenticate(&caller, &credentials).await?;
    same_client(request.client_id.as_deref(), &principal)?;
    Ok((principal, request))
}

fn no_store(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    response
}

#[utoipa::path(
    tag = "OAuth 2.0",
    summary = "Introspect a token (RFC 7662)",
    description = "Authenticate as at the token endpoint, or with an access token of the same account as a bearer token (RFC 7662 §2.1; Swagger UI's Authorize gets one). The answer is `{\"active\": false}` for any token that is invalid, expired, revoked, of another account, or minted by a key since rotated or revoked.",
    operation_id = "introspect",
    request_body(content = TokenActionRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state.", body = IntrospectionResponse, content_type = "application/json"),
        (status = 400, description = "`invalid_request`.", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic` when the client used HTTP Basic; `invalid_token` for a bearer token that is not valid, with `WWW-Authenticate: Bearer`.", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "`temporarily_unavailable`; see Retry-After.", body = ErrorResponse, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`.", body = ErrorResponse, content_type = "application/json"),
    ),
    security((), ("clientSecretBasic" = []), ("oauth2" = [])),
)]
#[post("/oauth2/introspect")]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = introspection(&req, payload, &state).await;
    challenged(&req, answer)
}

async fn introspection(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, OAuthError> {
    let (account, request) = match credentials::bearer(req) {
        // RFC 7662 §2.1: a protected resource may authenticate with an access token of its own.
        Some(Ok(presented)) => {
            let bytes = body::read_bytes(req, payload).await;
            let mut request: TokenActionRequest = body::decode_body(req, bytes, ACTION_BODY)?;
            if !matches!(
                posted(&mut request.client_id, &mut request.client_secret),
                Credentials::Missing
            ) {
                return Err(BodyError::CredentialsTwice.into());
            }
            let access = state
                .tokens
                .access(&Credentials::Bearer(presented.to_owned()))
                .await
                .map_err(|err| match err {
                    CoreError::InvalidCredentials(_) => Failure::Grant(Refusal::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "The access token is not valid.",
                    )),
                    other => other.into(),
                })?;
            (access.subject, request)
        }
        _ => {
            let (client, request) = client_request(req, payload, state).await?;
            (client.account, request)
        }
    };
    let answer = match state.tokens.verify_token(&request.token).await {
        Ok((claims, access)) if access.subject == account => IntrospectionResponse {
            active: true,
            scope: Some(state.tokens.scopes().display(access.scopes).to_string()),
            client_id: Some(claims.key_id),
            token_type: Some("Bearer"),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
        },
        Err(err @ (CoreError::Unavailable(_) | CoreError::Internal(_))) => {
            return Err(err.into());
        }
        _ => IntrospectionResponse::default(),
    };
    Ok(no_store(HttpResponse::Ok()).json(answer))
}

#[utoipa::path(
    tag = "OAuth 2.0",
    summary = "Revoke a token (RFC 7009)",
    description = "Authenticate as at the token endpoint. The token's `jti` is refused by introspection and forward-auth on every instance within a second, until the token would have expired. A token that is invalid or already expired is answered 200 too (RFC 7009 §2.2); a token of another account is refused.",
    operation_id = "revoke",
    request_body(content = TokenActionRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke. No body."),
        (status = 400, description = "`invalid_request`, or `unauthorized_client` for a token issued to another client.", body = ErrorResponse, content_type = "application/json"),
        (status = 401, description = "`invalid_client`; with `WWW-Authenticate: Basic` when the client used HTTP Basic.", body = ErrorResponse, content_type = "application/json"),
        (status = 429, description = "`temporarily_unavailable`; see Retry-After.", body = ErrorResponse, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`.", body = ErrorResponse, content_type = "application/json"),
    ),
    security((), ("clientSecretBasic" = [])),
)]
#[post("/oauth2/revoke")]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = revocation(&req, payload, &state).await;
    challenged(&req, answer)
}

async fn revocation(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, OAuthError> {
    let (client, request) = client_request(req, payload, state).await?;
    let caller = state.caller(req, &super::DIALECT);
    match state
        .tokens
        .revoke_token(&caller, &client, &request.token)
        .await?
    {
        Revocation::Revoked { .. } | Revocation::NotActive => {
            Ok(no_store(HttpResponse::Ok()).finish())
        }
        Revocation::OtherAccount => Err(refused(
            "unauthorized_client",
            "The token was not issued to this client.",
        )
        .into()),
    }
}

/// The metadata, from the configuration: the issuer, the algorithms and scopes in use.
fn metadata(state: &AppState) -> ServerMetadata {
    let issuer = state.issuer.to_string();
    let at = |path: &str| format!("{issuer}{path}");
    let methods = vec!["client_secret_basic", "client_secret_post"];
    let alg = state.formats.of(&super::DIALECT).alg.as_str();
    ServerMetadata {
        token_endpoint: at(super::TOKEN_PATH),
        jwks_uri: at(super::JWKS_PATH),
        revocation_endpoint: at(super::REVOCATION_PATH),
        introspection_endpoint: at(super::INTROSPECTION_PATH),
        issuer,
        grant_types_supported: vec!["client_credentials"],
        response_types_supported: Vec::new(),
        token_endpoint_auth_methods_supported: methods.clone(),
        revocation_endpoint_auth_methods_supported: methods.clone(),
        introspection_endpoint_auth_methods_supported: methods,
        scopes_supported: state.tokens.scopes().names().map(str::to_owned).collect(),
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec![alg],
        claims_supported: vec![
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope",
        ],
    }
}

/// How long clients may cache the metadata: it changes only with the configuration.
const METADATA_MAX_AGE_SECS: u32 = 300;

fn metadata_response(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![
            header::CacheDirective::Public,
            header::CacheDirective::MaxAge(METADATA_MAX_AGE_SECS),
        ]))
        .json(metadata(state))
}

#[utoipa::path(
    tag = "Discovery",
    summary = "Authorization server metadata (RFC 8414)",
    description = "For an issuer with a path (`https://host/tenant`), also at `/.well-known/oauth-authorization-server/tenant` (RFC 8414 §3.1).",
    operation_id = "authorizationServerMetadata",
    responses(
        (status = 200, description = "The metadata.", body = ServerMetadata, content_type = "application/json"),
    ),
)]
#[get("/.well-known/oauth-authorization-server")]
pub async fn authorization_server_metadata(state: web::Data<AppState>) -> HttpResponse {
    metadata_response(&state)
}

#[utoipa::path(
    tag = "Discovery",
    summary = "OpenID Connect provider configuration",
    description = "The same metadata, where OpenID Connect clients and Spring's and .NET's resource servers look first. For an issuer with a path, also at `{issuer}/.well-known/openid-configuration` and `/.well-known/openid-configuration/tenant`.",
    operation_id = "openidConfiguration",
    responses(
        (status = 200, description = "The metadata.", body = ServerMetadata, content_type = "application/json"),
    ),
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata_response(&state)
}
