use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::settings::{self, Settings, SettingsFields};
use crate::api::body::{BodyError, FieldError};
use crate::core::account::{AccountName, MAX_NAME_LEN, NAME_PATTERN, NAME_PREFIX_PATTERN};
use crate::core::administration::{
    AccountDetails, CURSOR_PATTERN, CreatedAccount as Created, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use crate::core::rotation::KeyState as Lifecycle;
use crate::core::scope::{Catalogue, ScopeSet};
use crate::core::settings::SettingsChange;
use crate::core::slot::KeySlot;
use crate::core::store::{AccountRecord, KeyInfo};

/// A new account: its name and settings.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    #[schema(schema_with = new_account_name)]
    pub name: Value,
    /// The scopes both of its keys may grant, from the deployment's catalogue; without it, every
    /// scope.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = scope_list, required = false)]
    pub scopes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = settings::new_rate_limit, required = false)]
    pub rate_limit: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = settings::new_max_token_lifetime, required = false)]
    pub max_token_lifetime: Option<Value>,
    /// Created disabled: its keys are refused until it is enabled.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub disabled: Option<Value>,
}

/// A member that is there, `null` included: `null` is not a scope list.
pub(super) fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl CreateAccountRequest {
    /// The name and settings, read against the deployment's catalogue; every field at fault is
    /// listed.
    pub fn parse(&self, catalogue: &Catalogue) -> Result<(AccountName, SettingsChange), BodyError> {
        let name = match &self.name {
            Value::String(name) => name.parse::<AccountName>().map_err(|err| err.to_string()),
            _ => Err("must be a string".to_owned()),
        }
        .map_err(|message| FieldError {
            field: "name".to_owned(),
            rejected_value: Some(self.name.clone()),
            message,
        });
        let settings = SettingsFields {
            scopes: self.scopes.as_ref(),
            rate_limit: self.rate_limit.as_ref(),
            max_token_lifetime: self.max_token_lifetime.as_ref(),
            disabled: self.disabled.as_ref(),
        }
        .change(catalogue, false);
        match (name, settings) {
            (Ok(name), Ok(settings)) => Ok((name, settings)),
            (name, settings) => {
                let mut fields: Vec<FieldError> = name.err().into_iter().collect();
                fields.extend(settings.err().unwrap_or_default());
                Err(BodyError::Invalid(fields))
            }
        }
    }
}

pub(super) fn account_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(NAME_PATTERN))
        .examples(["acme"])
}

/// A key's name.
pub(super) fn key_name() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(NAME_PATTERN))
        .examples(["billing-prod"])
        .description(Some("What the key is for."))
}

fn new_account_name() -> impl Into<RefOr<Schema>> {
    account_name().description(Some(
        "The account's name, which its tokens carry as `sub`; names differing only in case are one name.",
    ))
}

/// The scope list's schema; its items' enum and example are the deployment's catalogue, set by
/// [`super::customize`].
fn scope_list() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .description(Some(
            "The scopes its keys may grant, from the deployment's catalogue; without it, every scope.",
        ))
        .items(ObjectBuilder::new().schema_type(Type::String))
}

fn name_prefix() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(NAME_PREFIX_PATTERN))
        .examples(["ac"])
}

fn cursor() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(CURSOR_PATTERN))
}

pub(super) fn page_size() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE_SIZE))
        .default(Some(DEFAULT_PAGE_SIZE.into()))
}

pub(super) fn key_id() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9]{11}$"))
        .examples(["3hR9xk2LmQ0"])
}

/// A documented parameter: its schema comes from the core's rules, so it is built here rather
/// than derived (a derived parameter with its own schema loses its description and `required`).
pub(super) fn parameter(
    name: &str,
    location: ParameterIn,
    required: bool,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// listAccounts' query.
pub struct ListAccountsParams;

impl IntoParams for ListAccountsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            parameter(
                "prefix",
                ParameterIn::Query,
                false,
                "Only accounts whose names start with this, regardless of case.",
                name_prefix(),
            ),
            parameter(
                "cursor",
                ParameterIn::Query,
                false,
                "Where the listing goes on: the `next_cursor` of the page before, passed back as it came.",
                cursor(),
            ),
            parameter(
                "limit",
                ParameterIn::Query,
                false,
                "How many accounts a page holds at most.",
                page_size(),
            ),
        ]
    }
}

/// An account's address.
pub struct AccountPath;

impl IntoParams for AccountPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter(
            "name",
            ParameterIn::Path,
            true,
            "The account's name, in any case.",
            account_name(),
        )]
    }
}

/// A key's address.
pub struct KeyPath;

impl IntoParams for KeyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter(
            "id",
            ParameterIn::Path,
            true,
            "The key's id, as getAccount lists it.",
            key_id(),
        )]
    }
}

/// An account, as listings show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSummary {
    #[schema(example = "acme")]
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub settings: Settings,
}

impl AccountSummary {
    pub fn of(account: AccountRecord, catalogue: &Catalogue) -> Self {
        Self {
            settings: Settings::of(&account.settings, catalogue),
            name: account.name,
            created_at: account.created_at,
        }
    }
}

/// A page of accounts, in order of their names regardless of case.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountSummary>,
    /// Where the next page starts: pass it back as `cursor`. `null` on the last page.
    #[schema(required = true, example = "acme")]
    pub next_cursor: Option<String>,
}

/// Which of an account's two keys.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Primary,
    Secondary,
}

impl From<KeySlot> for Slot {
    fn from(slot: KeySlot) -> Self {
        match slot {
            KeySlot::Primary => Slot::Primary,
            KeySlot::Secondary => Slot::Secondary,
        }
    }
}

/// Where a key stands: its slot's current key, or replaced by a rotation and working until its grace period ends.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Active,
    Retiring,
}

/// A working key's public facts: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    #[schema(example = "3hR9xk2LmQ0")]
    pub id: String,
    pub slot: Slot,
    /// What the key is for; `null` if it was given no name.
    #[schema(required = true, example = "billing-prod")]
    pub name: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it last got a token; `null` if never.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working unless revoked first: its expiry, or for a retiring key its grace period's end if sooner; `null`: never.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The scopes it may grant; `null`: every scope.
    #[schema(required = true, example = json!(["calls:read"]))]
    pub scopes: Option<Vec<String>>,
    pub state: KeyState,
}

/// Scope names, or `None` for every scope.
fn scope_names(scopes: Option<ScopeSet>, catalogue: &Catalogue) -> Option<Vec<String>> {
    scopes.map(|set| catalogue.names_of(set).map(str::to_owned).collect())
}

impl Key {
    pub fn of(key: KeyInfo, catalogue: &Catalogue) -> Self {
        let state = match key.state() {
            Lifecycle::Active => KeyState::Active,
            Lifecycle::Retiring => KeyState::Retiring,
        };
        Self {
            id: key.id.to_string(),
            slot: key.slot.into(),
            name: key.name.clone(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.ends_at(),
            scopes: scope_names(key.scopes, catalogue),
            state,
        }
    }
}

/// An account and its active keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    #[schema(example = "acme")]
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub settings: Settings,
    pub keys: Vec<Key>,
}

impl Account {
    pub fn of(details: AccountDetails, catalogue: &Catalogue) -> Self {
        Self {
            settings: Settings::of(&details.account.settings, catalogue),
            name: details.account.name,
            created_at: details.account.created_at,
            keys: details
                .keys
                .into_iter()
                .map(|key| Key::of(key, catalogue))
                .collect(),
        }
    }
}

/// A key just made, with its secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[schema(example = "3hR9xk2LmQ0")]
    pub id: String,
    pub slot: Slot,
    /// The API key: only its hash is stored, so it is never shown again.
    #[schema(format = Password, example = "km_3hR9xk2LmQ0vQb7TnXkP2aW9sLmR4cYd0eFgH1x5oNp")]
    pub secret: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// The scopes it may grant; `null`: every scope.
    #[schema(required = true, example = json!(["calls:read"]))]
    pub scopes: Option<Vec<String>>,
}

/// An account just created, with both keys' secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    #[schema(example = "acme")]
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub settings: Settings,
    pub keys: Vec<CreatedKey>,
}

impl CreatedAccount {
    pub fn of(created: Created, catalogue: &Catalogue) -> Self {
        let scopes = scope_names(created.scopes, catalogue);
        let created_at = created.account.created_at;
        Self {
            settings: Settings::of(&created.account.settings, catalogue),
            name: created.account.name,
            created_at,
            keys: created
                .keys
                .into_iter()
                .map(|fresh| CreatedKey {
                    id: fresh.key.id().to_string(),
                    slot: fresh.slot.into(),
                    secret: fresh.key.expose().to_owned(),
                    created_at,
                    scopes: scopes.clone(),
                })
                .collect(),
        }
    }
}

/// RFC 9457 problem details: every refusal of the admin API.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says what went wrong, `detail` says it in words.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[schema(example = "Bad Request")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 400)]
    pub status: u16,
    #[schema(example = "The request is not valid: see errors.")]
    pub detail: String,
    /// The fields at fault, when the request itself was (400).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub errors: Option<Vec<FieldProblem>>,
}

/// One field at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field as the request names it: a body member such as `scopes[1]`, a query
    /// parameter, or `body` for the whole body.
    #[schema(example = "name")]
    pub field: String,
    #[schema(example = "an account name is 1 to 64 characters")]
    pub detail: String,
}

impl From<FieldError> for FieldProblem {
    fn from(error: FieldError) -> Self {
        Self {
            field: error.field,
            detail: error.message,
        }
    }
}
