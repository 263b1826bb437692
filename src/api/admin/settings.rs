//! An account's settings in the admin API: read from createAccount's and updateAccount's
//! bodies (updateAccount's `null` clears one), shown under `settings`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use validator::Validate;

use crate::api::body::{self, FieldError};
use crate::core::ratelimit::RatePolicy;
use crate::core::scope::Catalogue;
use crate::core::settings::{
    AccountSettings, Change, InvalidRateLimit, MAX_TOKEN_LIFETIME_SECS, MaxTokenLifetime,
    RATE_LIMIT_PATTERN, SettingsChange, account_rate_limit,
};

/// An account's settings, each `null` where the deployment's default applies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    /// The scopes its keys may grant (a key limited to scopes of its own grants those in both lists); `null`: every scope.
    #[schema(required = true, example = json!(["calls:read"]))]
    pub scopes: Option<Vec<String>>,
    /// Its token requests' quota, `COUNT/SECONDSs`, instead of the deployment's `--rate-limit`; `null`: the deployment's.
    #[schema(required = true, example = "100/15s")]
    pub rate_limit: Option<String>,
    /// The longest life of its tokens, in seconds: a longer one is shortened to it, in every dialect; `null`: each dialect's own.
    #[schema(required = true, example = 600, minimum = 1, maximum = 31_536_000)]
    pub max_token_lifetime: Option<u32>,
    /// Whether its keys are refused (as unknown keys are) and its tokens stop passing forward-auth and introspection.
    pub disabled: bool,
}

impl Settings {
    pub fn of(settings: &AccountSettings, catalogue: &Catalogue) -> Self {
        Self {
            scopes: settings
                .scopes
                .map(|set| catalogue.names_of(set).map(str::to_owned).collect()),
            rate_limit: settings.rate_limit.map(|policy| policy.to_string()),
            max_token_lifetime: settings.max_token_lifetime.map(|l| l.as_secs()),
            disabled: settings.disabled,
        }
    }
}

/// updateAccount's body: the settings to change; `null` clears one back to the deployment's default.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// The scopes its keys may grant, from the deployment's catalogue; `null`: every scope.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = nullable_scope_list, required = false)]
    pub scopes: Option<Value>,
    /// Its quota, `COUNT/SECONDSs`; `null`: the deployment's `--rate-limit`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = nullable_rate_limit, required = false)]
    pub rate_limit: Option<Value>,
    /// The longest life of its tokens, in seconds; `null`: each dialect's own.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = nullable_max_token_lifetime, required = false)]
    pub max_token_lifetime: Option<Value>,
    /// Whether its keys are refused; `null`: enabled.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = nullable_disabled, required = false)]
    pub disabled: Option<Value>,
}

/// A member that is there, `null` included (absent stays `None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The members that may set the settings, as a body gave them (`None`: absent).
pub struct SettingsFields<'a> {
    pub scopes: Option<&'a Value>,
    pub rate_limit: Option<&'a Value>,
    pub max_token_lifetime: Option<&'a Value>,
    pub disabled: Option<&'a Value>,
}

impl UpdateAccountRequest {
    pub fn fields(&self) -> SettingsFields<'_> {
        SettingsFields {
            scopes: self.scopes.as_ref(),
            rate_limit: self.rate_limit.as_ref(),
            max_token_lifetime: self.max_token_lifetime.as_ref(),
            disabled: self.disabled.as_ref(),
        }
    }
}

impl SettingsFields<'_> {
    /// The change they ask for, read against the catalogue; `null` clears a setting where
    /// `nullable`, and is refused elsewhere. Every member at fault is listed.
    pub fn change(
        &self,
        catalogue: &Catalogue,
        nullable: bool,
    ) -> Result<SettingsChange, Vec<FieldError>> {
        let mut faults = Vec::new();
        let mut read = |field: &str, value: Option<&Value>, parse: &dyn Fn(&Value) -> Result<(), Vec<FieldError>>| {
            match value {
                None => {}
                Some(Value::Null) if nullable => {}
                Some(Value::Null) => faults.push(fault(field, &Value::Null, "must not be null")),
                Some(value) => {
                    if let Err(found) = parse(value) {
                        faults.extend(found);
                    }
                }
            }
        };
        let cleared = |value: Option<&Value>| matches!(value, Some(Value::Null));
        let scopes = std::cell::Cell::new(None);
        read("scopes", self.scopes, &|value| {
            body::decode_field("scopes", value, catalogue.list_seed())
                .map(|set| scopes.set(Some(set)))
                .map_err(|err| err.field_errors())
        });
        let rate_limit = std::cell::Cell::new(None);
        read("rate_limit", self.rate_limit, &|value| {
            rate_policy(value)
                .map(|policy| rate_limit.set(Some(policy)))
                .map_err(|message| vec![fault("rate_limit", value, &message)])
        });
        let lifetime = std::cell::Cell::new(None);
        read("max_token_lifetime", self.max_token_lifetime, &|value| {
            // JSON Schema's integers include 900.0.
            value
                .as_i64()
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|secs| secs.fract() == 0.0 && secs.abs() < 1e15)
                        .map(|secs| secs as i64)
                })
                .ok_or_else(|| "must be an integer".to_owned())
                .and_then(|secs| MaxTokenLifetime::from_secs(secs).map_err(|err| err.to_string()))
                .map(|max| lifetime.set(Some(max.0)))
                .map_err(|message| vec![fault("max_token_lifetime", value, &message)])
        });
        let disabled = std::cell::Cell::new(None);
        read("disabled", self.disabled, &|value| {
            value
                .as_bool()
                .map(|flag| disabled.set(Some(flag)))
                .ok_or_else(|| vec![fault("disabled", value, "must be true or false")])
        });
        if !faults.is_empty() {
            return Err(faults);
        }
        fn change<T>(set: Option<T>, cleared: bool) -> Change<T> {
            match set {
                Some(value) => Change::Set(value),
                None if cleared => Change::Clear,
                None => Change::Keep,
            }
        }
        Ok(SettingsChange {
            scopes: change(scopes.get(), cleared(self.scopes)),
            rate_limit: change(rate_limit.get(), cleared(self.rate_limit)),
            max_token_lifetime: change(lifetime.get(), cleared(self.max_token_lifetime)),
            disabled: change(disabled.get(), cleared(self.disabled)),
        })
    }
}

fn rate_policy(value: &Value) -> Result<RatePolicy, String> {
    let Value::String(text) = value else {
        return Err(InvalidRateLimit.to_string());
    };
    account_rate_limit(text).map_err(|err| err.to_string())
}

fn fault(field: &str, value: &Value, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        rejected_value: Some(value.clone()),
        message: message.to_owned(),
    }
}

/// `schema` or `null`.
fn nullable(schema: impl Into<RefOr<Schema>>, description: &str) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(schema)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(description))
        .into()
}

/// The scope list's items are the deployment's catalogue (set by `customize`).
pub fn scope_items() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable_scope_list() -> RefOr<Schema> {
    nullable(
        ArrayBuilder::new().items(scope_items()),
        "The scopes its keys may grant, from the deployment's catalogue; `null`: every scope.",
    )
}

pub fn rate_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(RATE_LIMIT_PATTERN))
        .examples(["100/15s"])
}

/// createAccount's rate limit.
pub fn new_rate_limit() -> impl Into<RefOr<Schema>> {
    rate_limit().description(Some(
        "Its token requests' quota, `COUNT/SECONDSs`; without it, the deployment's `--rate-limit`.",
    ))
}

/// createAccount's longest token lifetime.
pub fn new_max_token_lifetime() -> impl Into<RefOr<Schema>> {
    max_token_lifetime().description(Some(
        "The longest life of its tokens, in seconds (a longer one is shortened to it); without it, each dialect's own.",
    ))
}

fn nullable_rate_limit() -> RefOr<Schema> {
    nullable(
        rate_limit(),
        "Its token requests' quota, `COUNT/SECONDSs`; `null`: the deployment's `--rate-limit`.",
    )
}

pub fn max_token_lifetime() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_TOKEN_LIFETIME_SECS))
        .examples([600])
}

fn nullable_max_token_lifetime() -> RefOr<Schema> {
    nullable(
        max_token_lifetime(),
        "The longest life of its tokens, in seconds (a longer one is shortened to it); `null`: each dialect's own.",
    )
}

fn nullable_disabled() -> RefOr<Schema> {
    nullable(
        ObjectBuilder::new().schema_type(Type::Boolean),
        "Whether its keys are refused, as unknown keys are; `null`: enabled.",
    )
}
