//! listAuditEvents: the audit trail, newest first, by the command line's filters, a page at a
//! time.

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminApiError, Refusals};
use super::handlers::{actor, no_store, read_query};
use super::types::{Problem, account_name, page_size, parameter};
use crate::api::AppState;
use crate::api::body::BodyError;
use crate::core::account::AccountName;
use crate::core::administration::PageSize;
use crate::core::audit::{
    AGE_PATTERN, AuditEntry, AuditPosition, AuditQuery, Outcome, POSITION_PATTERN, parse_since,
};

/// listAuditEvents' query.
pub struct AuditEventsParams;

impl IntoParams for AuditEventsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            parameter(
                "account",
                ParameterIn::Query,
                false,
                "Only this account's events (its name as created).",
                account_name(),
            ),
            parameter(
                "outcome",
                ParameterIn::Query,
                false,
                "Only events with this outcome.",
                outcome(),
            ),
            parameter(
                "since",
                ParameterIn::Query,
                false,
                "Only events since then: an RFC 3339 time, or an age such as `15m`, `2h`, `7d`.",
                since(),
            ),
            parameter(
                "cursor",
                ParameterIn::Query,
                false,
                "Where the listing goes on: the `next_cursor` of the page before, passed back as it came. Events written since the first page never shift a later one.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(POSITION_PATTERN)),
            ),
            parameter(
                "limit",
                ParameterIn::Query,
                false,
                "How many events a page holds at most.",
                page_size(),
            ),
        ]
    }
}

/// `since`: a time, or an age in seconds, minutes, hours or days (as `keymint audit --since`).
fn since() -> impl Into<RefOr<Schema>> {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(AGE_PATTERN))
                .examples(["2h"]),
        )
}

/// The outcomes' names, as the trail writes them.
fn outcome() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "What happened: a token issued, refused or revoked, or an administrator's change.",
        ))
        .enum_values(Some(Outcome::all().map(Outcome::as_str)))
        .examples(["issued"])
}

/// One event of the audit trail, as `keymint audit --json` prints it; keys by their ids only.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// Where it came in: a dialect, `admin` for the admin API, `cli` for the command line.
    #[schema(example = "volubile")]
    pub dialect: String,
    #[schema(schema_with = outcome)]
    pub outcome: &'static str,
    /// Why a request was refused (`invalid_credentials`, `rate_limited`, `read_only`, ...).
    #[schema(required = true, example = "invalid_credentials")]
    pub reason: Option<String>,
    #[schema(required = true, example = "acme")]
    pub account: Option<String>,
    /// The API key presented, or the key changed: its public id.
    #[schema(required = true, example = "3hR9xk2LmQ0")]
    pub key_id: Option<String>,
    /// The token's scopes, space-separated, as written then.
    #[schema(required = true, example = "calls:read")]
    pub scopes: Option<String>,
    /// The token's `jti`.
    #[schema(value_type = Option<String>, required = true, example = "0193a1c2-7d4e-7b8f-9a0b-1c2d3e4f5a6b")]
    pub jti: Option<uuid::Uuid>,
    #[schema(value_type = Option<String>, required = true, example = "192.0.2.7")]
    pub client_ip: Option<IpAddr>,
    /// How many refusals at a limit the event stands for; 1 otherwise.
    #[schema(example = 1, minimum = 1)]
    pub count: u32,
    /// The id of the admin key that made (or was refused) a change; else `null`.
    #[schema(required = true, example = "ZyXwVuTsRqP")]
    pub actor: Option<String>,
}

impl From<AuditEntry> for AuditEventView {
    fn from(entry: AuditEntry) -> Self {
        let e = entry.event;
        Self {
            at: e.at,
            dialect: e.dialect.into_owned(),
            outcome: e.outcome.as_str(),
            reason: e.reason.map(|reason| reason.into_owned()),
            account: e.account.map(|account| account.to_string()),
            key_id: e.key_id.map(|id| id.to_string()),
            scopes: e.scopes,
            jti: e.jti,
            client_ip: e.client_ip,
            count: e.count,
            actor: e.actor.map(|id| id.to_string()),
        }
    }
}

/// A page of the audit trail, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub events: Vec<AuditEventView>,
    /// Where the next page starts: pass it back as `cursor`. `null` on the last page.
    #[schema(required = true, example = "1765112400123456-42-7")]
    pub next_cursor: Option<String>,
}

/// listAuditEvents' query, each parameter parsed once; every one at fault is listed.
/// Parameters it does not know are ignored.
fn audit_query(req: &HttpRequest, now: DateTime<Utc>) -> Result<AuditQuery, BodyError> {
    let mut query = AuditQuery {
        limit: PageSize::default().into(),
        ..AuditQuery::default()
    };
    let known = ["account", "outcome", "since", "cursor", "limit"];
    read_query(req, &known, |name, value| match name {
        "account" => value
            .parse::<AccountName>()
            .map(|account| query.account = Some(account.as_str().to_owned()))
            .map_err(|err| err.to_string()),
        "outcome" => value
            .parse::<Outcome>()
            .map(|outcome| query.outcome = Some(outcome))
            .map_err(|err| err.to_string()),
        "since" => parse_since(value, now).map(|since| query.since = Some(since)),
        "cursor" => value
            .parse::<AuditPosition>()
            .map(|position| query.before = Some(position))
            .map_err(|err| err.to_string()),
        _ => value
            .parse::<PageSize>()
            .map(|size| query.limit = size.into())
            .map_err(|err| err.to_string()),
    })?;
    Ok(query)
}

#[utoipa::path(
    tag = "Audit",
    summary = "List audit events",
    description = "A page of the audit trail, newest first: tokens issued, refused and revoked, and every administrator's change with the admin key that made it. The filters are the command line's (`keymint audit`). Pass a page's `next_cursor` back as `cursor` for the next page; it is `null` on the last. Token events reach the trail within about a second; administrators' changes before they are answered. A read-only admin key may call it.",
    operation_id = "listAuditEvents",
    params(AuditEventsParams),
    responses(
        (status = 200, description = "A page of events.", body = AuditEventPage, content_type = "application/json"),
        (status = 400, description = "A query parameter is not valid; `errors` names each.", body = Problem, content_type = "application/problem+json"),
        Refusals,
    ),
    security(("adminKey" = [])),
)]
#[get("/admin/v1/audit-events")]
pub async fn list_audit_events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    actor(&req, &state).await?;
    let query = audit_query(&req, state.admin.now())?;
    let page = state.admin.audit_events(&query).await?;
    Ok(no_store(HttpResponse::Ok()).json(AuditEventPage {
        events: page.events.into_iter().map(AuditEventView::from).collect(),
        next_cursor: page.next.map(|position| position.to_string()),
    }))
}
