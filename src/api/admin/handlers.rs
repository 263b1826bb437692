use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, delete, get, patch, post, web};

use super::error::{AccountRefusals, AdminApiError, BodyRefusals, ChangeRefusals, Refusals};
use super::types::{
    Account, AccountPage, AccountPath, AccountSummary, CreateAccountRequest, CreatedAccount,
    KeyPath, ListAccountsParams, Problem,
};
use super::settings::UpdateAccountRequest;
use crate::api::body::{self, BodyError, BodyRules, Encoding, FieldError, FieldNaming};
use crate::api::{AppState, credentials};
use crate::core::account::{AccountName, NamePrefix};
use crate::core::administration::{AccountQuery, Actor, AdminError, Cursor, PageSize};
use crate::core::apikey::KeyId;
use crate::core::service::Credentials;

/// How createAccount reads its body.
pub const BODY: BodyRules = BodyRules {
    naming: FieldNaming::SnakeCase,
    optional: false,
    encoding: Encoding::Json,
};

/// The admin key behind a request: an admin key as a bearer credential, and nothing else.
pub(super) async fn actor(req: &HttpRequest, state: &AppState) -> Result<Actor, AdminApiError> {
    let caller = state.caller(req, &super::DIALECT);
    let credentials = credentials::presented_bearer(req).unwrap_or(Credentials::Missing);
    let key = state.tokens.authenticate_admin(&caller, &credentials).await?;
    Ok(Actor::admin_key(caller, key))
}

/// The account the path names; a name that cannot be an account's names none.
fn account_name(req: &HttpRequest) -> Result<AccountName, AdminError> {
    let raw = req.match_info().get("name").unwrap_or_default();
    raw.parse()
        .map_err(|_| AdminError::UnknownAccount(raw.to_owned()))
}

/// Every answer may name accounts and keys, one holds secrets: none is kept by a cache.
pub(super) fn no_store(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response
}

/// A query string's `known` parameters, each handed to `apply` once; a parameter given twice
/// or refused by `apply` is a fault, and every fault is listed. Others are ignored.
pub(super) fn read_query(
    req: &HttpRequest,
    known: &[&str],
    mut apply: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), BodyError> {
    let mut seen: Vec<String> = Vec::new();
    let mut faults = Vec::new();
    for (name, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !known.contains(&name.as_ref()) {
            continue;
        }
        let parsed = if seen.iter().any(|earlier| *earlier == name) {
            Err("is given more than once".to_owned())
        } else {
            apply(&name, &value)
        };
        if let Err(message) = parsed {
            faults.push(FieldError {
                field: name.to_string(),
                rejected_value: Some(value.as_ref().into()),
                message,
            });
        }
        seen.push(name.into_owned());
    }
    if faults.is_empty() {
        Ok(())
    } else {
        Err(BodyError::Invalid(faults))
    }
}

/// listAccounts' query, each parameter parsed once; every one at fault is listed. Parameters
/// it does not know are ignored.
fn account_query(req: &HttpRequest) -> Result<AccountQuery, BodyError> {
    let mut query = AccountQuery::default();
    read_query(req, &["prefix", "cursor", "limit"], |name, value| match name {
        "prefix" => value
            .parse::<NamePrefix>()
            .map(|prefix| query.prefix = prefix)
            .map_err(|err| err.to_string()),
        "cursor" => value
            .parse::<Cursor>()
            .map(|cursor| query.after = Some(cursor))
            .map_err(|err| err.to_string()),
        _ => value
            .parse::<PageSize>()
            .map(|size| query.size = size)
            .map_err(|err| err.to_string()),
    })?;
    Ok(query)
}

#[utoipa::path(
    tag = "Accounts",
    summary = "List accounts",
    description = "A page of accounts, in order of their names regardless of case, optionally only those whose names start with `prefix`. Pass a page's `next_cursor` back as `cursor` for the next page; it is `null` on the last.",
    operation_id = "listAccounts",
    params(ListAccountsParams),
    responses(
        (status = 200, description = "A page of accounts.", body = AccountPage, content_type = "application/json"),
        (status = 400, description = "A query parameter is not valid; `errors` names each.", body = Problem, content_type = "application/problem+json"),
        Refusals,
    ),
    security(("adminKey" = [])),
)]
#[get("/admin/v1/accounts")]
pub async fn list_accounts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    actor(&req, &state).await?;
    let query = account_query(&req)?;
    let page = state.admin.accounts(&query).await?;
    Ok(no_store(HttpResponse::Ok()).json(AccountPage {
        accounts: page
            .accounts
            .into_iter()
            .map(|account| AccountSummary::of(account, state.admin.scopes()))
            .collect(),
        next_cursor: page.next.map(|cursor| cursor.to_string()),
    }))
}

#[utoipa::path(
    tag = "Accounts",
    summary = "Get an account",
    description = "An account and the public facts of its working keys, as listKeys shows them: id, slot, name, when made, last used and ending, the scopes each may grant, and whether it is its slot's current key or retiring. Never a secret.",
    operation_id = "getAccount",
    params(AccountPath),
    responses(
        (status = 200, description = "The account.", body = Account, content_type = "application/json"),
        AccountRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[get("/admin/v1/accounts/{name}")]
pub async fn get_account(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    actor(&req, &state).await?;
    let name = account_name(&req)?;
    let details = state.admin.account(&name).await?;
    Ok(no_store(HttpResponse::Ok()).json(Account::of(details, state.admin.scopes())))
}

#[utoipa::path(
    tag = "Accounts",
    summary = "Create an account",
    description = "Creates an account with a primary and a secondary API key, and its settings: the scopes its keys may grant (`scopes`), its quota (`rate_limit`), the longest life of its tokens (`max_token_lifetime`), and whether it starts `disabled`; each left out takes the deployment's default. The answer holds both keys' secrets: only their hashes are stored, so they are never shown again. Recorded in the audit trail with the admin key as its actor.",
    operation_id = "createAccount",
    request_body(content = CreateAccountRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created, with both keys' secrets. `Location` is the account's address.", body = CreatedAccount, content_type = "application/json",
            headers(("Location" = String, description = "The account's address: `/admin/v1/accounts/{name}`."))),
        (status = 400, description = "The body is not valid (malformed JSON, a bad name, an unknown scope); `errors` names each field at fault.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An account of that name exists already (regardless of case).", body = Problem, content_type = "application/problem+json"),
        ChangeRefusals, BodyRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[post("/admin/v1/accounts")]
pub async fn create_account(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    // Read first, whatever comes of it: a refusal that leaves a body unread closes the connection.
    let bytes = body::read_bytes(&req, payload).await;
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let request: CreateAccountRequest = body::decode_body(&req, bytes, BODY)?;
    let (name, settings) = request.parse(state.admin.scopes())?;
    let created = state.admin.create_account(&writer, &name, &settings).await?;
    let location = format!("{}/accounts/{}", super::BASE_PATH, name.as_str());
    Ok(no_store(HttpResponse::Created())
        .insert_header((header::LOCATION, location))
        .json(CreatedAccount::of(created, state.admin.scopes())))
}

#[utoipa::path(
    tag = "Keys",
    summary = "Revoke a key",
    description = "Revokes one of an account's active API keys: it gets no token from the next request on, on every instance, and the tokens it minted stop passing forward-auth and introspection. The account's other key is untouched. Recorded in the audit trail with the admin key as its actor.",
    operation_id = "revokeKey",
    params(KeyPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "There is no active key with that id.", body = Problem, content_type = "application/problem+json"),
        ChangeRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[delete("/admin/v1/keys/{id}")]
pub async fn revoke_key(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let raw = req.match_info().get("id").unwrap_or_default();
    // An id that cannot be a key's names none.
    let id: KeyId = raw
        .parse()
        .map_err(|_| AdminError::UnknownKey(raw.to_owned()))?;
    state.admin.revoke_key(&writer, &id).await?;
    Ok(no_store(HttpResponse::NoContent()).finish())
}

#[utoipa::path(
    tag = "Accounts",
    summary = "Update an account's settings",
    description = "Changes the settings the body names and leaves the others; `null` clears one back to the deployment's default. `scopes` bounds what every key of the account may grant (a key limited to scopes of its own grants those in both lists); `rate_limit` replaces the deployment's quota for this account; a token asked for longer than `max_token_lifetime` is issued for that long, in every dialect; a `disabled` account's keys are refused exactly as unknown keys are, and its tokens stop passing forward-auth and introspection. Every instance applies the change within a second. Answers the account as it now is. Recorded in the audit trail with the admin key as its actor.",
    operation_id = "updateAccount",
    params(AccountPath),
    request_body(content = UpdateAccountRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated: the account as it now is.", body = Account, content_type = "application/json"),
        (status = 400, description = "The body is not valid (malformed JSON, an unknown member, an unknown scope, a setting out of range); `errors` names each field at fault.", body = Problem, content_type = "application/problem+json"),
        AccountRefusals, ChangeRefusals, BodyRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[patch("/admin/v1/accounts/{name}")]
pub async fn update_account(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    // Read first, whatever comes of it: a refusal that leaves a body unread closes the connection.
    let bytes = body::read_bytes(&req, payload).await;
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let request: UpdateAccountRequest = body::decode_body(&req, bytes, BODY)?;
    let change = request
        .fields()
        .change(state.admin.scopes(), true)
        .map_err(BodyError::Invalid)?;
    let name = account_name(&req)?;
    let details = state.admin.update_account(&writer, &name, &change).await?;
    Ok(no_store(HttpResponse::Ok()).json(Account::of(details, state.admin.scopes())))
}

#[utoipa::path(
    tag = "Accounts",
    summary = "Delete an account",
    description = "Revokes every key of the account at once, on every instance (the tokens they minted stop passing forward-auth and introspection), and removes the account from lookups and listings. Its name is never given to another account, since its tokens carried it as `sub`: creating it again answers 409. Recorded in the audit trail with the admin key as its actor, each key's revocation too.",
    operation_id = "deleteAccount",
    params(AccountPath),
    responses(
        (status = 204, description = "Deleted."),
        AccountRefusals, ChangeRefusals, Refusals,
    ),
    security(("adminKey" = [])),
)]
#[delete("/admin/v1/accounts/{name}")]
pub async fn delete_account(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let writer = state.admin.writer(actor(&req, &state).await?).await?;
    let name = account_name(&req)?;
    state.admin.delete_account(&writer, &name).await?;
    Ok(no_store(HttpResponse::NoContent()).finish())
}
