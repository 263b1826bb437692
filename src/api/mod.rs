//! HTTP: a thin adapter per dialect over the shared core, the served OpenAPI documents,
//! Swagger UI, and the router-level answers (unknown path, wrong method) in each dialect's shape.

/// Reading JSON bodies into field-level errors.
pub mod body;
/// Who the client is: the TCP peer, or the address trusted proxies vouch for.
pub mod client;
/// Open connections per client.
pub mod connections;
/// The console at `/console/`: static pages built in, calling the admin API.
pub mod console;
/// Finding credentials in headers.
pub mod credentials;
/// Serving each dialect's OpenAPI document and Swagger UI.
pub mod docs;
/// The one error path: a dialect's table and body, logging and headers added once.
pub mod error;
/// How the shared suites talk to a dialect's token endpoint.
pub mod fixture;
/// An issuer with a path: routes and discovery documents under it.
pub mod issuer_path;
/// The token exchange every dialect's endpoint performs.
pub mod mint;
/// Request ids: generated per request, logged, returned in `X-Request-Id`.
pub mod request_id;
/// Headers every answer carries: content security policy, no framing, no sniffing.
pub mod security;
/// A JSON deserializer that accepts structs only from objects.
pub mod strict;

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpResponseBuilder};
use utoipa::openapi::{OpenApi, Server};
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::core::CoreError;
use crate::core::administration::Administration;
use crate::core::error::RateLimited;
use crate::core::keyring::SigningAlg;
use crate::core::lifetime::LifetimePolicy;
use crate::core::ratelimit::Allowance;
use crate::core::routes::RouteTable;
use crate::core::scope::Catalogue;
use crate::core::service::TokenService;
use crate::core::token::{TokenFormat, Typ};
use crate::metrics::Metrics;
use crate::store::KeyStore;

pub const RATE_LIMIT_LIMIT: &str = "x-ratelimit-limit";
pub const RATE_LIMIT_REMAINING: &str = "x-ratelimit-remaining";
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static(RATE_LIMIT_LIMIT);
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static(RATE_LIMIT_REMAINING);
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// What every handler gets injected.
#[derive(Debug)]
pub struct AppState {
    pub tokens: Arc<TokenService>,
    /// The administrator's operations (the admin API's; the CLI's too).
    pub admin: Arc<Administration>,
    /// For readiness checks.
    pub store: Arc<dyn KeyStore>,
    pub metrics: Arc<Metrics>,
    pub lifetimes: Lifetimes,
    /// How each dialect's tokens are signed.
    pub formats: Formats,
    /// Where token endpoints, the JWKS and discovery are, as clients reach them.
    pub issuer: Arc<str>,
    /// The issuer's path, which requests may carry in front of every route.
    pub issuer_path: issuer_path::IssuerPath,
    /// Which scope each protected route needs (forward-auth), and the scope catalogue.
    pub routes: RouteTable,
    /// Whose headers name the original request (forward-auth).
    pub gateway: Gateway,
    /// Whose forwarded headers name the client.
    pub proxies: client::TrustedProxies,
    /// `/metrics` is served on its own address (`--metrics-bind`), not on this one.
    pub metrics_elsewhere: bool,
    /// How long the store may take to answer a readiness check.
    pub store_timeout: std::time::Duration,
    /// How long a client may take to send a request body.
    pub body_timeout: std::time::Duration,
}

impl AppState {
    /// Who is asking, for the core's audit trail and per-client limits: the dialect and the
    /// client's address (the TCP peer's, or behind trusted proxies the one they vouch for).
    pub fn caller(&self, req: &HttpRequest, dialect: &Dialect) -> crate::core::audit::Caller {
        crate::core::audit::Caller {
            dialect: dialect.name,
            client_ip: self.proxies.client_ip(req),
        }
    }
}

/// The gateway in front, which decides where forward-auth reads the original request from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gateway {
    /// nginx `auth_request`: `X-Original-Method`, `X-Original-URI`.
    Nginx,
    /// Traefik ForwardAuth: `X-Forwarded-Method`, `X-Forwarded-Uri`.
    Traefik,
}

/// Each dialect's lifetime policy, read from its own flags ([`Dialect::flags`]): a flattened part
/// of `keymint serve`'s arguments that the registry, not the CLI module, declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetimes(Vec<(&'static str, LifetimePolicy)>);

impl Lifetimes {
    /// The policy of a dialect in the registry. Every one is read at parse time, so only a
    /// dialect outside [`DIALECTS`] has none.
    pub fn of(&self, dialect: &Dialect) -> LifetimePolicy {
        self.0
            .iter()
            .find(|(name, _)| *name == dialect.name)
            .map(|(_, policy)| *policy)
            .expect("every dialect in the registry has its lifetime read at startup")
    }

    /// The longest lifetime any dialect in the registry can give a token (enabled or not, so
    /// that instances serving different dialects accept each other's tokens): how long a
    /// retired signing key must stay published, and the most a token may claim.
    pub fn longest(&self) -> chrono::Duration {
        let secs = self
            .0
            .iter()
            .map(|(_, policy)| policy.max.as_secs())
            .max()
            .unwrap_or_default();
        chrono::Duration::seconds(i64::from(secs))
    }

    /// The policies given these dialect flags (`--memoram-max-lifetime=600`, ...), environment
    /// ignored: for tests and tools.
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Result<Self, clap::Error> {
        use clap::{Args as _, FromArgMatches as _};
        let command =
            Self::augment_args(clap::Command::new("lifetimes")).mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(std::iter::once("lifetimes").chain(flags))?;
        Self::from_arg_matches(&matches)
    }

    fn read(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut policies = Vec::new();
        for dialect in DIALECTS {
            let policy = (dialect.lifetime)(matches).map_err(|message| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("{message}\n"),
                )
            })?;
            if let Some(policy) = policy {
                policies.push((dialect.name, policy));
            }
        }
        Ok(Self(policies))
    }
}

impl Default for Lifetimes {
    /// What `keymint serve` runs with when given no flags.
    fn default() -> Self {
        Self::from_flags([]).expect("the default lifetimes are consistent")
    }
}

impl clap::Args for Lifetimes {
    fn augment_args(command: clap::Command) -> clap::Command {
        DIALECTS
            .iter()
            .fold(command, |command, dialect| (dialect.flags)(command))
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for Lifetimes {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::read(matches)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::read(matches)?;
        Ok(())
    }
}

/// A dialect with no flags of its own.
pub fn no_flags(command: clap::Command) -> clap::Command {
    command
}

/// One public token API keymint speaks. Adding a dialect is a new module exposing one of these
/// and a line in [`DIALECTS`].
#[derive(Debug)]
pub struct Dialect {
    /// Used in `/v3/api-docs/<name>` and `--dialects`.
    pub name: &'static str,
    /// Where its document is served: `/v3/api-docs/<name>`.
    pub doc_path: &'static str,
    /// Shown in Swagger UI's document selector.
    pub title: &'static str,
    /// Unknown paths under this prefix are answered in this dialect's error shape (longest
    /// prefix wins).
    pub path_prefix: &'static str,
    /// A prefix every route has that the document keeps in its server URL rather than in its
    /// paths (Memoram documents `/auth/token` on server `.../api/v1`).
    pub base_path: &'static str,
    /// The document's parts that are not collected from handlers (info, security schemes).
    pub openapi: fn() -> OpenApi,
    /// Final touches that depend on configuration (documented bounds, the scope catalogue).
    pub customize: fn(&mut OpenApi, &Deployment),
    /// The document's `servers`, given the origin the document was requested from.
    pub servers: fn(&str) -> Vec<Server>,
    /// Registers the dialect's handlers.
    pub configure: fn(&mut ServiceConfig),
    /// Renders an error of the given status in the dialect's documented shape.
    pub error_page: fn(StatusCode, &str, &HttpRequest) -> HttpResponse,
    /// Its own flags of `keymint serve` (lifetime tunables, with their environment variables),
    /// declared in its folder; [`no_flags`] when it has none.
    pub flags: fn(clap::Command) -> clap::Command,
    /// Its lifetime policy, read from the parsed flags; `None` for a dialect that issues no
    /// tokens. The longest of them bounds every token's lifetime and how long a retired
    /// signing key stays published.
    pub lifetime: fn(&clap::ArgMatches) -> Result<Option<LifetimePolicy>, String>,
    /// How the shared test suites ask it for a token; `None` when it has no token endpoint.
    pub fixture: Option<&'static fixture::Fixture>,
    /// Which algorithm signs its tokens.
    pub signing: Signing,
    /// What its tokens' header says they are.
    pub typ: Typ,
}

/// Which algorithm signs a dialect's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// `--signing-alg`, HS256 unless set: what the provider's published example tokens use.
    Configured,
    /// An algorithm whose keys the JWKS publishes, so that any resource server verifies the
    /// tokens on its own: `--published-signing-alg`; else `--signing-alg` if it is asymmetric;
    /// else ES256.
    Published,
}

/// Each kind of dialect's signing algorithm, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    configured: SigningAlg,
    published: SigningAlg,
}

impl Formats {
    /// The algorithms given `--signing-alg` and `--published-signing-alg`; the latter must be
    /// asymmetric (the HS256 secret is never published).
    pub fn new(configured: SigningAlg, published: Option<SigningAlg>) -> Result<Self, String> {
        let published = match published {
            Some(SigningAlg::Hs256) => {
                return Err(
                    "--published-signing-alg: tokens that verifiers check with the JWKS alone \
                     cannot be HS256, whose secret is never published"
                        .to_owned(),
                );
            }
            Some(alg) => alg,
            None if configured.is_asymmetric() => configured,
            None => SigningAlg::Es256,
        };
        Ok(Self {
            configured,
            published,
        })
    }

    /// How `dialect`'s tokens are made.
    pub fn of(&self, dialect: &Dialect) -> TokenFormat {
        let alg = match dialect.signing {
            Signing::Configured => self.configured,
            Signing::Published => self.published,
        };
        TokenFormat {
            alg,
            typ: dialect.typ,
        }
    }

    /// Every algorithm some dialect in the registry signs with (enabled or not, so that
    /// instances serving different dialects accept each other's tokens), each once.
    pub fn algs(&self) -> Vec<SigningAlg> {
        let mut algs = Vec::new();
        for dialect in DIALECTS {
            let alg = self.of(dialect).alg;
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }
}

/// Declares each dialect's module (its folder, `src/api/<name>/`, which says what it is) and
/// lists it in [`DIALECTS`]: a dialect is its folder and its line here.
macro_rules! registry {
    ($($dialect:ident,)+) => {
        $(pub mod $dialect;)+

        /// Every dialect keymint speaks, the primary one first.
        pub const DIALECTS: &[&Dialect] = &[$(&$dialect::DIALECT),+];
    };
}

registry! {
    volubile,
    origoid,
    velt,
    memoram,
    oauth,
    keymint,
    admin,
}

/// The dialects named in `names` (all of them when `names` is empty), in [`DIALECTS`] order.
pub fn select(names: &[String]) -> Result<Vec<&'static Dialect>, String> {
    // `KEYMINT_DIALECTS=` (empty) means the default, as if unset.
    let names: Vec<&String> = names.iter().filter(|n| !n.trim().is_empty()).collect();
    if let Some(unknown) = names
        .iter()
        .find(|name| !DIALECTS.iter().any(|d| d.name == name.as_str()))
    {
        let known: Vec<_> = DIALECTS.iter().map(|d| d.name).collect();
        return Err(format!(
            "unknown dialect {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(DIALECTS
        .iter()
        .filter(|d| names.is_empty() || names.iter().any(|n| n.trim() == d.name))
        .copied()
        .collect())
}

/// `--dialects`' help, naming every dialect in the registry.
pub fn dialects_help(long: bool) -> String {
    let names: Vec<_> = DIALECTS.iter().map(|d| d.name).collect();
    let short = format!(
        "Dialects to serve, comma-separated: {}; all by default",
        names.join(", ")
    );
    if !long {
        return short;
    }
    format!(
        "{short}. A disabled dialect's paths answer 404 and its document is not served. \
         /healthz, /readyz, /metrics and the JWKS are always on."
    )
}

/// No configuration-dependent touches.
pub fn as_collected(_: &mut OpenApi, _: &Deployment) {}

/// What a served document reflects of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    pub lifetimes: &'a Lifetimes,
    pub scopes: &'a Catalogue,
    /// The RFC 8707 resources tokens may be asked for.
    pub resources: &'a [String],
}

/// The complete document of one dialect: its base plus everything its handlers declare, for a
/// deployment with these lifetimes and scopes.
pub fn document(dialect: &Dialect, deployment: &Deployment) -> OpenApi {
    let mut doc = App::new()
        .into_utoipa_app()
        .openapi((dialect.openapi)())
        .configure(dialect.configure)
        .split_for_parts()
        .1;
    if !dialect.base_path.is_empty() {
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths
            .into_iter()
            .map(|(path, item)| {
                let relative = path
                    .strip_prefix(dialect.base_path)
                    .unwrap_or(&path)
                    .to_owned();
                (relative, item)
            })
            .collect();
    }
    (dialect.customize)(&mut doc, deployment);
    doc
}

/// Registers the given dialects' handlers on the app, and the operational endpoints whichever
/// they are.
pub fn configure<T>(app: App<T>, dialects: &[&'static Dialect]) -> App<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    let app = dialects.iter().fold(app, |app, dialect| {
        app.into_utoipa_app()
            .configure(dialect.configure)
            .into_app()
    });
    if dialects.iter().any(|d| d.name == keymint::DIALECT.name) {
        app
    } else {
        app.into_utoipa_app()
            .configure(keymint::operations)
            .into_app()
    }
}

/// A documented path's dialect and methods.
type Operations = (&'static Dialect, Vec<actix_web::http::Method>);

/// Documented operations, path → (dialect, allowed methods), for answering 405 with `Allow`.
#[derive(Debug)]
pub struct Routes {
    dialects: Vec<&'static Dialect>,
    /// Paths without parameters, looked up as they are.
    operations: BTreeMap<String, Operations>,
    /// Paths with parameters (`/admin/v1/accounts/{name}`), matched segment by segment.
    templates: Vec<(String, Operations)>,
}

/// Whether `path` is an address of `template`: each `{parameter}` stands for one non-empty
/// segment.
fn matches_template(template: &str, path: &str) -> bool {
    let (mut expected, mut given) = (template.split('/'), path.split('/'));
    loop {
        match (expected.next(), given.next()) {
            (None, None) => return true,
            (Some(parameter), Some(segment))
                if parameter.starts_with('{') && parameter.ends_with('}') =>
            {
                if segment.is_empty() {
                    return false;
                }
            }
            (Some(literal), Some(segment)) if literal == segment => {}
            _ => return false,
        }
    }
}

impl Routes {
    pub fn new(documents: &[(&'static Dialect, OpenApi)]) -> Self {
        let mut operations = BTreeMap::new();
        let mut templates = Vec::new();
        for (dialect, doc) in documents {
            for (path, item) in &doc.paths.paths {
                let methods = [
                    (item.get.is_some(), actix_web::http::Method::GET),
                    (item.put.is_some(), actix_web::http::Method::PUT),
                    (item.post.is_some(), actix_web::http::Method::POST),
                    (item.delete.is_some(), actix_web::http::Method::DELETE),
                    (item.patch.is_some(), actix_web::http::Method::PATCH),
                ]
                .into_iter()
                .filter_map(|(present, method)| present.then_some(method))
                .collect();
                let full = format!("{}{path}", dialect.base_path);
                if full.contains('{') {
                    templates.push((full, (*dialect, methods)));
                } else {
                    operations.insert(full, (*dialect, methods));
                }
            }
        }
        Self {
            dialects: documents.iter().map(|(dialect, _)| *dialect).collect(),
            operations,
            templates,
        }
    }

    /// The documented operations at `path`: its own, or a template's it is an address of.
    fn lookup(&self, path: &str) -> Option<&Operations> {
        self.operations.get(path).or_else(|| {
            self.templates
                .iter()
                .find(|(template, _)| matches_template(template, path))
                .map(|(_, operations)| operations)
        })
    }

    /// The dialect a documented operation belongs to, for metrics labels; `none` for anything
    /// else (documents, Swagger UI, unknown paths), which keeps label values few.
    pub fn dialect_of(&self, path: &str) -> &'static str {
        self.lookup(path)
            .map_or("none", |(dialect, _)| dialect.name)
    }

    fn owner(&self, path: &str) -> &'static Dialect {
        self.dialects
            .iter()
            .filter(|dialect| path.starts_with(dialect.path_prefix))
            .max_by_key(|dialect| dialect.path_prefix.len())
            .or(self.dialects.first())
            .copied()
            .unwrap_or(DIALECTS[0])
    }

    /// An error page for `path` in the shape of the dialect that owns it.
    pub fn error_page(&self, status: StatusCode, message: &str, req: &HttpRequest) -> HttpResponse {
        (self.owner(req.path()).error_page)(status, message, req)
    }

    /// Answers a request no handler took: 405 with `Allow` on a documented path, else 404.
    pub fn fallback(&self, req: &actix_web::HttpRequest) -> HttpResponse {
        // The router matched on the decoded path (`/v1/auth/%74oken` is `/v1/auth/token`).
        let path = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
        match self.lookup(path.as_ref()) {
            Some((dialect, methods)) => {
                let mut response =
                    (dialect.error_page)(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", req);
                response
                    .headers_mut()
                    .insert(header::ALLOW, allow_value(methods));
                response
            }
            None => self.error_page(StatusCode::NOT_FOUND, "Not Found", req),
        }
    }
}

fn allow_value(methods: &[actix_web::http::Method]) -> header::HeaderValue {
    let joined = methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    header::HeaderValue::from_str(&joined).unwrap_or(header::HeaderValue::from_static(""))
}

/// The default service: every unmatched request, in the owning dialect's shape.
pub async fn unmatched_request(
    req: actix_web::HttpRequest,
    routes: actix_web::web::Data<Routes>,
) -> HttpResponse {
    routes.fallback(&req)
}

/// CORS for browser frontends on the configured origins (none: same-origin only). Preflights
/// are answered by the middleware; requests from other origins pass through without CORS
/// headers, so the browser, not keymint, refuses them and every answer keeps its JSON shape.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            credentials::X_API_KEY,
        ])
        .expose_headers([
            HeaderName::from_static(request_id::HEADER),
            X_RATELIMIT_LIMIT,
            X_RATELIMIT_REMAINING,
            RATELIMIT,
            RATELIMIT_POLICY,
            header::RETRY_AFTER,
        ])
        .block_on_origin_mismatch(false)
        .max_age(600);
    origins
        .iter()
        .filter(|origin| !origin.trim().is_empty())
        .fold(cors, |cors, origin| cors.allowed_origin(origin.trim()))
}

/// The start of every successful token response: no caching, and the quota left.
pub fn token_response(allowance: Allowance) -> HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    let headers = quota_headers(
        "account",
        allowance.limit,
        allowance.window,
        allowance.remaining,
        allowance.reset_secs(),
    );
    for header in headers {
        builder.insert_header(header);
    }
    builder
}

/// What every dialect's 429 carries: when to retry, and the quota spent.
pub fn rate_limited_headers(headers: &mut header::HeaderMap, limited: &RateLimited) {
    headers.insert(header::RETRY_AFTER, limited.retry_after_secs().into());
    let quota = quota_headers(
        limited.policy,
        limited.limit,
        limited.window,
        0,
        limited.retry_after_secs(),
    );
    for (name, value) in quota {
        headers.insert(name, value);
    }
}

/// The quota, twice: `X-RateLimit-Limit`/`-Remaining`, and the IETF RateLimit draft's
/// structured fields, `RateLimit-Policy: "account";q=100;w=15` and `RateLimit: "account";r=99;t=1`.
fn quota_headers(
    policy: &str,
    limit: u32,
    window: std::time::Duration,
    remaining: u32,
    reset_secs: u64,
) -> [(HeaderName, HeaderValue); 4] {
    [
        (X_RATELIMIT_LIMIT, limit.into()),
        (X_RATELIMIT_REMAINING, remaining.into()),
        (
            RATELIMIT_POLICY,
            structured_field(policy, ("q", u64::from(limit)), ("w", window.as_secs())),
        ),
        (
            RATELIMIT,
            structured_field(policy, ("r", u64::from(remaining)), ("t", reset_secs)),
        ),
    ]
}

/// `"policy";a=1;b=2`, built without the formatting machinery: it is on every token response.
fn structured_field(policy: &str, (a, x): (&str, u64), (b, y): (&str, u64)) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    let mut text = String::with_capacity(policy.len() + 32);
    text.push('"');
    text.push_str(policy);
    text.push_str("\";");
    text.push_str(a);
    text.push('=');
    text.push_str(digits.format(x));
    text.push(';');
    text.push_str(b);
    text.push('=');
    text.push_str(digits.format(y));
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static(""))
}

/// Logs server-side failures with their cause chain, where they are turned into responses.
pub fn log_core_error(err: &CoreError) {
    match err {
        // An outage fails every request: a few lines a minute say so, and how many were held.
        CoreError::Unavailable(_) | CoreError::Internal(_) => {
            if crate::telemetry::request_error_line() {
                tracing::error!(error = %ErrorChain(err), "token request failed");
            }
        }
        _ => tracing::debug!(error = %err, "token request refused"),
    }
}

/// Formats an error with its whole `source()` chain.
struct ErrorChain<'e>(&'e CoreError);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_matches_one_non_empty_segment_per_parameter() {
        let template = "/admin/v1/accounts/{name}";
        assert!(matches_template(template, "/admin/v1/accounts/acme"));
        for other in [
            "/admin/v1/accounts",
            "/admin/v1/accounts/",
            "/admin/v1/accounts/acme/keys",
            "/admin/v1/keys/acme",
        ] {
            assert!(!matches_template(template, other), "{other}");
        }
    }

    #[test]
    fn the_longest_lifetime_is_read_from_every_dialect_in_the_registry() {
        let lifetimes = Lifetimes::default();
        let longest = lifetimes.longest();
        for dialect in DIALECTS.iter().filter(|d| d.fixture.is_some()) {
            let own = chrono::Duration::seconds(i64::from(lifetimes.of(dialect).max.as_secs()));
            assert!(own <= longest, "{}", dialect.name);
        }
        // Velt's 48 h, by default.
        assert_eq!(longest, chrono::Duration::hours(48));
    }

    #[test]
    fn a_dialects_own_flag_changes_its_lifetime_and_the_longest() {
        let lifetimes = Lifetimes::from_flags(["--memoram-max-lifetime=259200"]).unwrap();
        assert_eq!(lifetimes.of(&memoram::DIALECT).max.as_secs(), 259_200);
        assert_eq!(lifetimes.longest(), chrono::Duration::hours(72));
    }

    #[test]
    fn inconsistent_bounds_are_refused_with_the_dialects_name() {
        let err = Lifetimes::from_flags([
            "--memoram-min-lifetime=600",
            "--memoram-default-lifetime=60",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("Memoram"), "{err}");
    }
}
