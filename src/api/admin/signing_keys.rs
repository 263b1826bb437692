//! listSigningKeys and rotateSigningKey: the signing keys' public facts, and the next key of
//! an algorithm, published before it signs.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::error::{AdminApiError, BodyRefusals, ChangeRefusals, Refusals};
use super::handlers::{actor, no_store};
use super::types::{Problem, parameter};
use crate::api::AppState;
use crate::api::body::{self, BodyError, BodyRules, Encoding, FieldError, FieldNaming};
use crate::core::administration::AdminError;
use crate::core::administration::signing_keys::{
    ActivationDelay, DEFAULT_ACTIVATION_DELAY_SECS, MAX_ACTIVATION_DELAY_SECS,
    MIN_ACTIVATION_DELAY_SECS, SigningKeyInfo,
};
use crate::core::keyring::SigningAlg;

/// How rotateSigningKey reads its body: optional, every member too.
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: true,
    encoding: Encoding::Json,
};

/// The key-pair algorithms, as the JWKS names them.
fn key_pair_alg() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(SigningAlg::ASYMMETRIC.iter().map(|alg| alg.as_str())))
        .examples(["ES256"])
}

fn alg_schema() -> impl Into<RefOr<Schema>> {
    key_pair_alg().description(Some("The key's algorithm."))
}

/// listSigningKeys' query.
pub struct SigningKeysParams;

impl IntoParams for SigningKeysParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter(
            "alg",
            ParameterIn::Query,
            false,
            "Only this algorithm's keys; without it, every key-pair algorithm's.",
            key_pair_alg(),
        )]
    }
}

/// rotateSigningKey's address.
pub struct AlgPath;

impl IntoParams for AlgPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter(
            "alg",
            ParameterIn::Path,
            true,
            "The algorithm whose next key to make (HS256 signs with one shared secret: no key pairs).",
            key_pair_alg(),
        )]
    }
}

/// A signing key's public facts: never its private half.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKey {
    /// Its `kid`: the RFC 7638 thumbprint of its public key, as the JWKS lists it.
    #[schema(example = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")]
    pub kid: String,
    #[schema(schema_with = alg_schema)]
    pub alg: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it signs from; until then it is published only, so verifiers learn it first.
    #[schema(value_type = String, format = DateTime)]
    pub activates_at: DateTime<Utc>,
    /// When it was revoked (`keymint signing-keys revoke`); `null` if not.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<SigningKeyInfo> for SigningKey {
    fn from(key: SigningKeyInfo) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg.as_str(),
            created_at: key.created_at,
            activates_at: key.activates_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// The stored signing keys, by algorithm, each oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyList {
    pub keys: Vec<SigningKey>,
}

/// The next key's terms.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSigningKeyRequest {
    /// Seconds from publishing to signing: at least the JWKS's 60 s cache and 5 s reload.
    #[serde(default, deserialize_with = "body::optional_integer")]
    #[schema(value_type = Option<i64>, required = false, nullable = false, minimum = 65, maximum = 2592000, default = 300, example = 300)]
    pub activation_delay: Option<i64>,
}

const _: () = assert!(
    MIN_ACTIVATION_DELAY_SECS == 65
        && MAX_ACTIVATION_DELAY_SECS == 2_592_000
        && DEFAULT_ACTIVATION_DELAY_SECS == 300,
    "the document's bounds above are the core's"
);

/// rotateSigningKey's body as sent: its terms, or none (no body, or `null`) for the defaults.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RotateBody(Option<RotateSigningKeyRequest>);

impl Validate for RotateBody {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        self.0.as_ref().map_or(Ok(()), Validate::validate)
    }
}

impl RotateSigningKeyRequest {
    fn delay(&self) -> Result<ActivationDelay, BodyError> {
        match self.activation_delay {
            None => Ok(ActivationDelay::default()),
            Some(seconds) => ActivationDelay::new(seconds).map_err(|err| {
                BodyError::Invalid(vec![FieldError {
                    field: "activation_delay".to_owned(),
                    rejected_value: Some(seconds.into()),
                    message: err.to_string(),
                }])
            }),
        }
    }
}

/// The key-pair algorithm a path or query names.
fn key_pair_alg_named(raw: &str) -> Option<SigningAlg> {
    raw.parse::<SigningAlg>()
        .ok()
        .filter(|alg| alg.is_asymmetric())
}

#[utoipa::path(
    tag = "Signing keys",
    summary = "List signing keys",
    description = "The stored key pairs that sign tokens (ES256, EdDSA, RS256), each algorithm's oldest first: their `kid`, when made, when they sign from and whether revoked. Public facts only: never private material. The same as `keymint signing-keys list`.",
    operation_id = "listSigningKeys",
    params(SigningKeysParams),
    responses(
        (status = 200, description = "The signing keys.", body = SigningKeyList, content_type = "application/json"),
        (status = 400, description = "`alg` is not a key-pair algorithm; `errors` names it.", body = Problem, content_type = "application/problem+json"),
        Refusals,
    ),
    security(("adminKey" = [])),
)]
#[get("/admin/v1/signing-keys")]
pub async fn list_signing_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    actor(&req, &state).await?;
    let mut alg = None;
    let mut faults = Vec::new();
    for (name, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if name != "alg" {
            continue;
        }
        match key_pair_alg_named(&value) {
            Some(named) if alg.is_none() && faults.is_empty() => alg = Some(named),
            found => faults.push(FieldError {
                field: "alg".to_owned(),
                rejected_value: Some(value.as_ref().into()),
                message: match found {
                    Some(_) => "is given more than once".to_owned(),
                    None => "is ES256, EdDSA or RS256".to_owned(),
                },
            }),
        }
    }
    if !faults.is_empty() {
        return Err(BodyError::Invalid(faults).into());
    }
    let keys = state.admin.signing_keys(alg).await?;
    Ok(no_store(HttpResponse::Ok()).json(SigningKeyList {
        keys: keys.into_iter().map(SigningKey::from).collect(),
    }))
}

#[utoipa::path(
    tag = "Signing keys",
    summary = "Rotate a signing key",
    description = "Makes the next key pair of an algorithm: published in the JWKS at once, on every instance within a second, and signing only after `activation_delay`, so verifiers that refresh the JWKS never meet an unknown `kid`. Older keys stay published until every token they signed has expired. The same as `keymint signing-keys rotate`. Recorded in the audit trail (`signing_key_rotated`, `reason` the algorithm and new `kid`) with the admin key as its actor.",
    operation_id = "rotateSigningKey",
    params(AlgPath),
    request_body(content = Option<RotateSigningKeyRequest>, content_type = "application/json", description = "Optional: without a body (or with `null`), the key signs after 300 s."),
    responses(
        (status = 201, description = "Made and published: the new key's public facts.", body = SigningKey, content_type = "application/json"),
        (status = 400, description = "The body is not valid; `errors` names each field at fault.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`alg` is not a key-pair algorithm (ES256, EdDSA, RS256).", body = Problem, content_type = "application/problem+json"),
        ChangeRefusals, BodyRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[post("/admin/v1/signing-keys/{alg}/rotations")]
pub async fn rotate_signing_key(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    // Read first, whatever comes of it: a refusal that leaves a body unread closes the connection.
    let bytes = body::read_bytes(&req, payload).await;
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let alg = key_pair_alg_named(req.match_info().get("alg").unwrap_or_default())
        .ok_or(AdminError::NotAsymmetric)?;
    let RotateBody(terms) = body::decode_body(&req, bytes, BODY)?;
    let request = terms.unwrap_or_default();
    let key = state
        .admin
        .rotate_signing_key(&writer, alg, request.delay()?)
        .await?;
    Ok(no_store(HttpResponse::Created()).json(SigningKey::from(key)))
}
