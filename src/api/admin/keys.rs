//! listKeys and rotateKey: an account's keys, and replacing a slot's key with an optional grace
//! period for the old one.

use actix_web::http::header::{self, EntityTag, Header, IfMatch};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, KnownFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::error::{AccountRefusals, AdminApiError, BodyRefusals, ChangeRefusals, Refusals};
use super::handlers::{actor, no_store};
use super::types::{Key, Problem, account_name, key_name, parameter, present};
use crate::api::AppState;
use crate::api::body::{self, BodyError, BodyRules, Encoding, FieldError, FieldNaming};
use crate::core::account::AccountName;
use crate::core::administration::AdminError;
use crate::core::apikey::KeyId;
use crate::core::rotation::{GracePeriod, KeyName, MAX_GRACE_SECONDS, Rotated, Rotation};
use crate::core::slot::KeySlot;

/// How rotateKey reads its body: every member is optional, so no body at all is `{}`.
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: true,
    encoding: Encoding::Json,
};

/// A rotation's options.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// Seconds the replaced key keeps working (and its tokens passing); 0, the default: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = grace_period, required = false)]
    pub grace_period: Option<Value>,
    /// The new key's name.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = key_name, required = false)]
    pub name: Option<Value>,
    /// When the new key stops working by itself (RFC 3339, later than now); without it, never.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = expiry, required = false)]
    pub expires_at: Option<Value>,
}

/// rotateKey's body: `null`, as no body, asks for no options.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RotationBody(Option<RotateKeyRequest>);

impl Validate for RotationBody {
    /// Its members are read by [`RotateKeyRequest::parse`], every fault listed.
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

fn grace_period() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(MAX_GRACE_SECONDS))
        .default(Some(0.into()))
        .examples([300])
        .description(Some(
            "Seconds the replaced key keeps working, and its tokens passing; 0: none.",
        ))
}

fn expiry() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .examples(["2027-01-01T00:00:00Z"])
        .description(Some(
            "When the new key stops working by itself (RFC 3339, later than now); without it, never.",
        ))
}

impl RotateKeyRequest {
    /// The rotation of `slot`, every member at fault listed.
    pub fn parse(
        &self,
        slot: KeySlot,
        if_current: Option<Vec<KeyId>>,
    ) -> Result<Rotation, BodyError> {
        let mut faults = Vec::new();
        let mut fault = |field: &str, value: &Value, message: String| {
            faults.push(FieldError {
                field: field.to_owned(),
                rejected_value: Some(value.clone()),
                message,
            });
        };
        let mut rotation = Rotation::of(slot);
        rotation.if_current = if_current;
        if let Some(value) = &self.grace_period {
            // JSON Schema's integers include 300.0.
            let whole = value.as_u64().or_else(|| {
                value
                    .as_f64()
                    .filter(|s| s.fract() == 0.0 && *s >= 0.0)
                    .map(|s| s as u64)
            });
            match whole.map(GracePeriod::seconds) {
                Some(Ok(grace)) => rotation.grace = grace,
                Some(Err(err)) => fault("grace_period", value, err.to_string()),
                None => fault("grace_period", value, "must be a whole number of seconds".into()),
            }
        }
        if let Some(value) = &self.name {
            match value.as_str().map(str::parse::<KeyName>) {
                Some(Ok(name)) => rotation.name = Some(name),
                Some(Err(err)) => fault("name", value, err.to_string()),
                None => fault("name", value, "must be a string".into()),
            }
        }
        if let Some(value) = &self.expires_at {
            match value.as_str().map(DateTime::parse_from_rfc3339) {
                Some(Ok(at)) => rotation.expires_at = Some(at.with_timezone(&Utc)),
                _ => fault(
                    "expires_at",
                    value,
                    "must be an RFC 3339 date and time, such as 2027-01-01T00:00:00Z".into(),
                ),
            }
        }
        if faults.is_empty() {
            Ok(rotation)
        } else {
            Err(BodyError::Invalid(faults))
        }
    }
}

/// An account's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<Key>,
}

/// The key a rotation replaced.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviousKey {
    #[schema(example = "3hR9xk2LmQ0")]
    pub id: String,
    /// When it stops working: now without a grace period, else the period's end (or its own expiry, if sooner).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// A rotation done: the new key, its secret (shown in this answer only) and the key it replaced.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    pub key: Key,
    /// The new API key: only its hash is stored, so it is never shown again.
    #[schema(format = Password, example = "km_3hR9xk2LmQ0vQb7TnXkP2aW9sLmR4cYd0eFgH1x5oNp")]
    pub secret: String,
    /// The key the slot held, `null` if it held none.
    #[schema(required = true)]
    pub previous: Option<PreviousKey>,
}

/// A slot's address.
pub struct SlotPath;

impl IntoParams for SlotPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            parameter(
                "name",
                ParameterIn::Path,
                true,
                "The account's name, in any case.",
                account_name(),
            ),
            parameter(
                "slot",
                ParameterIn::Path,
                true,
                "Which of the account's two keys.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(KeySlot::BOTH.map(KeySlot::as_str))),
            ),
            parameter(
                "If-Match",
                ParameterIn::Header,
                false,
                "Rotate only if the slot's current key is this one: its id as an entity tag, `\"3hR9xk2LmQ0\"` (listKeys gives it). Else 412.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples(["\"3hR9xk2LmQ0\""]),
            ),
        ]
    }
}

/// The account a path names: one that cannot be an account's names none.
fn account_of(req: &HttpRequest) -> Result<AccountName, AdminError> {
    let raw = req.match_info().get("name").unwrap_or_default();
    raw.parse()
        .map_err(|_| AdminError::UnknownAccount(raw.to_owned()))
}

/// The key ids an `If-Match` header names: `None` without one (or with `*`, which any current
/// key matches). A weak tag never matches (If-Match compares strongly), nor one that is not
/// a key id.
fn if_match(req: &HttpRequest) -> Result<Option<Vec<KeyId>>, BodyError> {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Ok(None);
    }
    match IfMatch::parse(req) {
        Ok(IfMatch::Any) => Ok(None),
        Ok(IfMatch::Items(tags)) => Ok(Some(
            tags.iter()
                .filter(|tag| !tag.weak)
                .filter_map(|tag| tag.tag().parse().ok())
                .collect(),
        )),
        Err(_) => Err(BodyError::Invalid(vec![FieldError {
            field: "If-Match".to_owned(),
            rejected_value: None,
            message: "must be entity tags, such as \"3hR9xk2LmQ0\"".to_owned(),
        }])),
    }
}

#[utoipa::path(
    tag = "Keys",
    summary = "List an account's keys",
    description = "The account's working keys: each slot's current key (`active`) and, after a rotation with a grace period, the key it replaced until the period ends (`retiring`). Revoked and expired keys are not listed. Never a secret.",
    operation_id = "listKeys",
    params(super::types::AccountPath),
    responses(
        (status = 200, description = "The account's keys, primary first, current before retiring.", body = KeyList, content_type = "application/json"),
        AccountRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[get("/admin/v1/accounts/{name}/keys")]
pub async fn list_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    actor(&req, &state).await?;
    let details = state.admin.account(&account_of(&req)?).await?;
    let catalogue = state.admin.scopes();
    Ok(no_store(HttpResponse::Ok()).json(KeyList {
        keys: details
            .keys
            .into_iter()
            .map(|key| Key::of(key, catalogue))
            .collect(),
    }))
}

#[utoipa::path(
    tag = "Keys",
    summary = "Rotate a slot's key",
    description = "Replaces the key in a slot with a new one, which may grant what the old one could. The old key keeps working for `grace_period` seconds (not at all by default), then is refused like an unknown key, and so are the tokens it minted; keys retiring from earlier rotations of the slot end no later than it. The new secret is in this answer only. Of two rotations of the same slot at once, one is made and the other refused with 409 (412 with `If-Match`): a slot never holds two current keys. Every instance honours the change within a second. Recorded in the audit trail (`key_rotated`) with the admin key as its actor.",
    operation_id = "rotateKey",
    params(SlotPath),
    request_body(content = Option<RotateKeyRequest>, description = "The rotation's options, each optional; no body, or `null`, is `{}`.", content_type = "application/json"),
    responses(
        (status = 201, description = "Rotated, with the new key's secret. `Location` is the new key's address, `ETag` its id.", body = RotatedKey, content_type = "application/json",
            headers(
                ("Location" = String, description = "The new key's address: `/admin/v1/keys/{id}`."),
                ("ETag" = String, description = "The new key's id as an entity tag: the `If-Match` of the slot's next rotation."),
            )),
        (status = 400, description = "The body or `If-Match` is not valid (a bad name, an expiry not later than now, a grace period out of range); `errors` names each field at fault.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no account of that name, or no such slot.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another rotation of the slot was made meanwhile; read the keys again and retry.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The slot's current key is not the one `If-Match` names.", body = Problem, content_type = "application/problem+json"),
        ChangeRefusals, BodyRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[post("/admin/v1/accounts/{name}/slots/{slot}/rotations")]
pub async fn rotate_key(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    // Read first, whatever comes of it: a refusal that leaves a body unread closes the connection.
    let bytes = body::read_bytes(&req, payload).await;
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let name = account_of(&req)?;
    let slot: KeySlot = req
        .match_info()
        .get("slot")
        .unwrap_or_default()
        .parse()
        .map_err(|_| AdminError::UnknownSlot)?;
    let if_current = if_match(&req)?;
    let RotationBody(request) = body::decode_body(&req, bytes, BODY)?;
    let rotation = request.unwrap_or_default().parse(slot, if_current)?;
    let rotated = state.admin.rotate_key(&writer, &name, &rotation).await?;
    let id = rotated.info.id;
    Ok(no_store(HttpResponse::Created())
        .insert_header((header::LOCATION, format!("{}/keys/{id}", super::BASE_PATH)))
        .insert_header((header::ETAG, EntityTag::new_strong(id.to_string())))
        .json(RotatedKey::of(rotated, state.admin.scopes())))
}

impl RotatedKey {
    fn of(rotated: Rotated, catalogue: &crate::core::scope::Catalogue) -> Self {
        Self {
            secret: rotated.key.key.expose().to_owned(),
            key: Key::of(rotated.info, catalogue),
            previous: rotated.previous.map(|previous| PreviousKey {
                id: previous.id.to_string(),
                expires_at: previous.ends_at,
            }),
        }
    }
}
