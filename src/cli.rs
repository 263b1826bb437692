//! The command-line surface. Outside acceptance tests drive it, so names and output shapes are
//! a contract: `serve`, `accounts create`, `keys rotate|list|revoke`, `admin-keys
//! create|list|revoke`.

use clap::{Args, Parser, Subcommand};

use crate::api::client::ProxyNet;
use crate::api::docs::PublicUrl;
use crate::api::{Gateway, Lifetimes};
use crate::core::account::AccountName;
use crate::core::adminkey::AdminKeyName;
use crate::core::apikey::{KeyId, KeyPrefix};
use crate::core::envelope::MasterKeys;
use crate::core::keyring::SigningAlg;
use crate::core::ratelimit::RatePolicy;
use crate::core::rotation::{GracePeriod, KeyName};
use crate::core::routes::RouteTable;
use crate::core::scope::Catalogue;
use crate::core::service::DEFAULT_TOKEN_CACHE;
use crate::core::slot::KeySlot;
use crate::core::token::SigningSecret;
use crate::telemetry::LogFormat;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keymint.db";
/// The `iss` of tokens before issuers were URLs.
pub const LEGACY_ISSUER: &str = "keymint";
pub const DEFAULT_AUDIENCE: &str = "keymint";
pub const DEFAULT_RATE_LIMIT: &str = "100/15s";

/// keymint exchanges long-lived API keys for short-lived, scoped JWT bearer tokens.
#[derive(Debug, Parser)]
#[command(name = "keymint", version)]
pub struct Cli {
    /// Database URL: `sqlite://PATH` (created if missing).
    #[arg(long = "database", env = "KEYMINT_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The master keys that seal the signing secrets in the database (envelope encryption).
#[derive(Debug, Clone, Args)]
pub struct MasterKeyArgs {
    /// Master key(s) sealing the signing secrets at rest: base64 of 32 bytes; several separated
    /// by commas, the first sealing and every one opening. From the environment only (refused on
    /// the command line, where `ps` shows it). Without a master key the secrets stay in the
    /// clear in the database, with a warning; a database sealed before needs its key.
    #[arg(long, env = "KEYMINT_MASTER_KEY", hide_env_values = true, global = true, value_parser = parse_secret_text)]
    pub master_key: Option<SecretText>,

    /// A file holding the master key(s), one per line (`keymint master-key generate --output
    /// FILE` makes one, mode 0600); readable by keymint's user only, or keymint warns.
    #[arg(
        long,
        env = "KEYMINT_MASTER_KEY_FILE",
        global = true,
        conflicts_with = "master_key"
    )]
    pub master_key_file: Option<std::path::PathBuf>,
}

/// Secret text from a flag or the environment, never shown by `Debug`.
#[derive(Clone)]
pub struct SecretText(secrecy::SecretSlice<u8>);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

/// Never fails: clap would quote the rejected value in its error.
fn parse_secret_text(raw: &str) -> Result<SecretText, std::convert::Infallible> {
    Ok(SecretText(secrecy::SecretSlice::from(
        raw.as_bytes().to_vec(),
    )))
}

impl MasterKeyArgs {
    /// The master keys given, if any; an unreadable file or a malformed key is an error that
    /// never quotes the key.
    pub fn load(&self) -> anyhow::Result<Option<std::sync::Arc<MasterKeys>>> {
        use secrecy::ExposeSecret as _;
        let text = match (&self.master_key, &self.master_key_file) {
            (Some(text), _) => secrecy::SecretSlice::from(text.0.expose_secret().to_vec()),
            (None, Some(path)) => {
                let bytes = std::fs::read(path).map_err(|err| {
                    anyhow::anyhow!("reading --master-key-file {}: {err}", path.display())
                })?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    if std::fs::metadata(path)
                        .is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
                    {
                        tracing::warn!(file = %path.display(), "the master key file is readable by other users: chmod 600 it");
                    }
                }
                secrecy::SecretSlice::from(bytes)
            }
            (None, None) => return Ok(None),
        };
        let keys = MasterKeys::parse(text.expose_secret())
            .map_err(|err| anyhow::anyhow!("KEYMINT_MASTER_KEY / --master-key-file: {err}"))?;
        Ok(Some(std::sync::Arc::new(keys)))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the token APIs, their documents and Swagger UI.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage an account's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the audit trail: every token issued, every token request refused, every token revoked.
    Audit(AuditArgs),
    /// Manage the ES256/EdDSA/RS256 signing keys.
    #[command(subcommand)]
    SigningKeys(SigningKeysCommand),
    /// Manage admin keys: who may call the admin API (`/admin/v1/`, `Authorization: Bearer`).
    #[command(subcommand)]
    AdminKeys(AdminKeysCommand),
    /// The dialects this build speaks: token endpoints, documents, lifetimes.
    Dialects(DialectsArgs),
    /// The master key that seals the signing secrets at rest.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Write a new random master key to a file created with mode 0600 (never overwriting one).
    Generate {
        /// The file to create.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Re-seal every signing secret with the first master key given, in one transaction, while
    /// instances keep serving. Give every instance the new key (second, then first) before, and
    /// drop the old one after.
    Rotate,
}

#[derive(Debug, Clone, Args)]
pub struct DialectsArgs {
    /// One JSON array: each dialect with how to ask it for a token (what the test tools read).
    #[arg(long)]
    pub json: bool,

    /// The lifetimes listed are the ones these flags (and their environment variables) give.
    #[command(flatten)]
    pub lifetimes: Lifetimes,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: Option<AuditAction>,
    /// Only this account's events.
    #[arg(long)]
    pub account: Option<String>,
    /// Only events with this outcome: issued, refused, revoked, or an administrator's change
    /// (account_created, key_rotated, ...; the error lists them all).
    #[arg(long)]
    pub outcome: Option<crate::core::audit::Outcome>,
    /// Only events since then: an RFC 3339 time or an age such as 15m, 2h, 7d.
    #[arg(long, value_parser = since_now)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Only events after this one: the `next_cursor` of a page before (`--json`), as it came.
    #[arg(long)]
    pub cursor: Option<crate::core::audit::AuditPosition>,
    /// Print one JSON object: {"events": [{"at", "dialect", "outcome", "reason", "account",
    /// "key_id", "scopes", "jti", "client_ip", "count", "actor"}, ...], "next_cursor"}; `count`
    /// is how many refusals at a limit one event stands for (1 otherwise), `actor` the admin
    /// key that made a change (null for token requests and for the command line);
    /// `next_cursor` is null on the last page.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuditAction {
    /// Check the audit trail's hash chain: every stored batch unaltered, none deleted from the
    /// middle or the end. Prints the head to keep outside the database; exits 1 at the first
    /// break, naming it.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// Make the next signing key: published at once, signing only after the activation delay,
    /// so verifiers that refresh the JWKS never meet an unknown `kid`. Old keys stay published
    /// until every token they signed has expired.
    Rotate {
        /// The algorithm whose keys to rotate (as `serve --signing-alg`).
        #[arg(long, env = "KEYMINT_SIGNING_ALG", default_value = "HS256")]
        alg: SigningAlg,
        /// Seconds between publishing the new key and signing with it; at least 65 (the JWKS
        /// cache lifetime, 60 s, plus the instances' key reload interval, 5 s).
        #[arg(long, env = "KEYMINT_KEY_ACTIVATION_DELAY", default_value_t = 300)]
        activation_delay: u32,
        /// Print one JSON object: {"kid", "alg", "activates_at"}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a signing key at once (a leaked private key): every instance stops accepting its
    /// tokens within a second and the JWKS drops it. If it is the key signing now, a new key
    /// replaces it at once (verifiers refetch the JWKS for a `kid` they do not know).
    Revoke {
        /// The key's `kid`, as `signing-keys list` shows it. A kid is base64url, so it may
        /// start with `-`: that is still the kid, not a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Print one JSON object: {"kid", "alg", "revoked_at", "replacement": {"kid",
        /// "activates_at"} or null}.
        #[arg(long)]
        json: bool,
    },
    /// List the stored signing keys (public facts only).
    List {
        #[arg(long, env = "KEYMINT_SIGNING_ALG", default_value = "HS256")]
        alg: SigningAlg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The master keys sealing the signing secrets (the global `--master-key` flags, loaded).
    #[arg(skip)]
    pub master_keys: Option<std::sync::Arc<MasterKeys>>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "KEYMINT_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,

    /// HS256 signing secret (at least 32 bytes), from the environment only: on the command
    /// line every user of the host would see it in `ps`, so the flag is refused there. Without
    /// it (or --signing-secret-file), a secret is generated on first start and kept in the
    /// database, shared by every instance using that database.
    #[arg(long, env = "KEYMINT_SIGNING_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub signing_secret: Option<SigningSecret>,

    /// A file holding the HS256 signing secret (a trailing newline is ignored); readable by
    /// keymint's user only, or keymint warns.
    #[arg(
        long,
        env = "KEYMINT_SIGNING_SECRET_FILE",
        conflicts_with = "signing_secret"
    )]
    pub signing_secret_file: Option<std::path::PathBuf>,

    /// How the proprietary dialects' tokens are signed: HS256 (shared secret, as their
    /// published examples are), ES256, EdDSA or RS256 (key pairs kept in the database, published
    /// at `/.well-known/jwks.json`, rotated with `keymint signing-keys rotate`). The standard
    /// (OAuth 2.0) dialect follows it when it is a key pair; see --published-signing-alg.
    #[arg(long, env = "KEYMINT_SIGNING_ALG", default_value = "HS256")]
    pub signing_alg: SigningAlg,

    /// How tokens that resource servers verify with the JWKS alone (the OAuth 2.0 dialect's)
    /// are signed: ES256, EdDSA or RS256. By default --signing-alg when that is a key pair,
    /// else ES256; never HS256.
    #[arg(long, env = "KEYMINT_PUBLISHED_SIGNING_ALG")]
    pub published_signing_alg: Option<SigningAlg>,

    /// The issuer: a URL (`https://auth.example.com`, optionally with a path), the `iss` of
    /// every token and the `issuer` of the discovery documents. By default --public-url, or
    /// else the address keymint listens on (`http://127.0.0.1:8080`).
    #[arg(long, env = "KEYMINT_ISSUER", value_parser = parse_issuer)]
    pub issuer: Option<PublicUrl>,

    /// Issuers that tokens minted under an earlier configuration carry, still accepted by
    /// introspection and forward-auth, never written (comma-separated; `keymint`, the issuer of
    /// releases before issuers were URLs, by default; empty to accept none).
    #[arg(
        long,
        env = "KEYMINT_PREVIOUS_ISSUERS",
        value_delimiter = ',',
        default_value = LEGACY_ISSUER
    )]
    pub previous_issuers: Vec<String>,

    /// `aud` claim of issued tokens unless a request names a --resource.
    #[arg(long, env = "KEYMINT_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub audience: String,

    /// Resource servers a token may be asked for (RFC 8707 `resource`, absolute URIs,
    /// comma-separated): the OAuth 2.0 dialect's `resource` parameter picks the token's `aud`
    /// among them; none by default, so every token carries --audience.
    #[arg(
        long = "resource",
        env = "KEYMINT_RESOURCES",
        value_delimiter = ',',
        value_parser = parse_resource
    )]
    pub resources: Vec<String>,

    /// Token requests allowed per account, as `COUNT/SECONDSs` (Volubile publishes 100/15s).
    #[arg(long, env = "KEYMINT_RATE_LIMIT", default_value = DEFAULT_RATE_LIMIT)]
    pub rate_limit: RatePolicy,

    /// Redis URL (`redis://host:6379/0`): per-account quotas are then shared by every instance.
    /// Without it, or while Redis is unreachable, each instance limits on its own.
    #[arg(long, env = "KEYMINT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of keymint's keys in Redis.
    #[arg(long, env = "KEYMINT_REDIS_PREFIX", default_value = "keymint:quota:")]
    pub redis_prefix: String,

    /// Failed authentications allowed per client address before that address is refused (429;
    /// 401 at forward-auth) until the quota refills: brute-force protection. Counted: credentials
    /// that could be guesses (a malformed key, an unknown key id, a wrong secret, a malformed or
    /// badly signed token). Never counted: no credentials, a revoked key, or a genuine token
    /// that expired or whose key was rotated. Behind a gateway, set --trusted-proxies, or every
    /// client shares the gateway's address.
    #[arg(long, env = "KEYMINT_FAILED_AUTH_LIMIT", default_value = "20/60s")]
    pub failed_auth_limit: RatePolicy,

    /// Serve `/metrics` on this address only (`127.0.0.1:9090`), so that it need not face the
    /// clients; the main address then answers 404 there. By default it is on --bind.
    #[arg(long, env = "KEYMINT_METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// How long one database round trip may take (`2s`, `500ms`): a change-feed heartbeat,
    /// a bookkeeping write (PostgreSQL's `statement_timeout` and `lock_timeout` too). A slower
    /// one counts as the feed lost (minting waits, /readyz says 503) or a write to retry.
    #[arg(long, env = "KEYMINT_STORE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub store_timeout: std::time::Duration,

    /// How long a client may take to send a request body once its headers are in (`5s`); a
    /// slower or truncated body is answered with the dialect's 400, not waited on.
    #[arg(long, env = "KEYMINT_BODY_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub body_timeout: std::time::Duration,

    /// How long a key looked up in the database is trusted from memory without asking again
    /// (`10s`). Changes are announced at once; this bounds what an unannounced one (TRUNCATE,
    /// a restore with triggers disabled, logical replication) can cost.
    #[arg(long, env = "KEYMINT_KEY_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub key_cache_ttl: std::time::Duration,

    /// Where clients reach keymint (`https://auth.example.com`, optionally with a path prefix):
    /// the `servers` URL of every served document, so Swagger UI's "Try it out" sends keys
    /// there. Without it, a trusted proxy's forwarded host and scheme (--trusted-proxies), or
    /// else a relative URL (`/`): never a Host or forwarded header a client wrote.
    #[arg(long, env = "KEYMINT_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    /// Proxies whose `X-Forwarded-For` names the client (addresses or CIDR blocks,
    /// comma-separated, e.g. `127.0.0.1,10.0.0.0/8`); none by default, so the client is the TCP
    /// peer. The client is the rightmost forwarded address that is not itself a trusted proxy.
    #[arg(long, env = "KEYMINT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,

    /// Open connections served at once, across workers; beyond it new connections wait in the
    /// listen queue. By default, what the open-files limit allows (raised at start to the
    /// host's hard limit) less a reserve for the database and logs, at most 25,000.
    #[arg(long, env = "KEYMINT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Open connections one client (TCP peer address) may hold at once; more are closed as they
    /// are accepted; 0 turns the cap off. Trusted proxies (--trusted-proxies) speak for many
    /// clients and are not capped: list a load balancer there, or it is capped like a client.
    #[arg(
        long,
        env = "KEYMINT_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256
    )]
    pub max_connections_per_client: usize,

    /// HTTP worker threads; defaults to the number of CPU cores.
    #[arg(long, env = "KEYMINT_WORKERS")]
    pub workers: Option<usize>,

    #[arg(
        long,
        env = "KEYMINT_DIALECTS",
        value_delimiter = ',',
        help = crate::api::dialects_help(false),
        long_help = crate::api::dialects_help(true)
    )]
    pub dialects: Vec<String>,

    /// Browser origins allowed to call keymint (CORS), comma-separated, e.g.
    /// `https://app.example.com`; none by default (same-origin only).
    #[arg(
        long = "cors-origin",
        env = "KEYMINT_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// How long the audit trail keeps events (`90d`, `12h`, ...; `forever` keeps them all).
    /// Older events are deleted every minute.
    #[arg(long, env = "KEYMINT_AUDIT_RETENTION", default_value = "90d")]
    pub audit_retention: Retention,

    /// When a token's audit event is written: `durable` (the default), before the token is
    /// returned (a token, or a token revocation, waits for its event's commit, shared with
    /// every request waiting then; if the audit store cannot be written the request gets the
    /// dialect's 503 and no token); `buffered`, within 50 ms after (a crash loses what is
    /// buffered). Durable issues HS256 tokens at 0.60 of buffered's rate (bench/results.md).
    #[arg(long, env = "KEYMINT_AUDIT", value_enum, default_value_t = AuditMode::Durable)]
    pub audit: AuditMode,

    /// Log format: `text` for people, `json` (one object a line, with request ids) for machines.
    #[arg(long, env = "KEYMINT_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// The gateway in front of forward-auth: `nginx` (X-Original-Method/URI) or `traefik`
    /// (X-Forwarded-Method/Uri). Only that gateway's headers are read: the others could come
    /// from the client.
    #[arg(long, env = "KEYMINT_FORWARD_AUTH_GATEWAY", default_value = "nginx")]
    pub forward_auth_gateway: Gateway,

    /// Verified bearer tokens forward-auth remembers, so a token presented on every call has its
    /// signature checked once (its time window and its key's status are checked every time);
    /// 0 checks every token in full.
    #[arg(long, env = "KEYMINT_TOKEN_CACHE", default_value_t = DEFAULT_TOKEN_CACHE)]
    pub token_cache: usize,

    #[command(flatten)]
    pub routes: RoutesArgs,

    // The prefix of the keys the admin API's createAccount makes.
    #[command(flatten)]
    pub key_format: KeyFormatArgs,

    /// Each dialect's own flags (lifetime tunables), declared in its folder.
    #[command(flatten)]
    pub lifetimes: Lifetimes,
}

/// When a token's audit event is committed, relative to its answer (`--audit`). Durable by
/// default: it meets the issue's targets (0.60 of buffered's HS256 rate, p99 1.7 ms at 32
/// connections), and no token leaves without its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditMode {
    /// Before: no token leaves without its record.
    Durable,
    /// After, within 50 ms, in batches written off the request path.
    Buffered,
}

/// The defaults are clap's, read from the declarations above (environment variables ignored),
/// so there is one place per default.
impl Default for ServeArgs {
    fn default() -> Self {
        use clap::{Args as _, FromArgMatches as _};
        let command =
            ServeArgs::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["serve"])
            .expect("serve needs no arguments");
        ServeArgs::from_arg_matches(&matches).expect("the defaults parse")
    }
}

/// A duration such as `2s`, `500ms` or `10m`, more than zero.
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(raw.trim()) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("{raw:?} is not a duration such as 2s or 500ms")),
    }
}

impl ServeArgs {
    /// How the store is opened: the deadlines, and the deployment's scopes.
    pub fn store_options(&self, scopes: std::sync::Arc<Catalogue>) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            timeout: self.store_timeout,
            scopes,
            master_keys: self.master_keys.clone(),
            durable_commits: self.audit == AuditMode::Durable,
        }
    }
}

/// The routes file: the deployment's scope catalogue and route → scope table. `serve` and every
/// command that reads or writes a key's scopes take it the same way.
#[derive(Debug, Clone, Default, Args)]
pub struct RoutesArgs {
    /// Scope catalogue and route → scope table for forward-auth (TOML, like
    /// `openapi/volubile-routes.toml`, which is the default). A top-level `scopes = [...]`
    /// declares the scopes tokens can carry; without it, the scopes its routes need.
    #[arg(long = "routes", env = "KEYMINT_ROUTES")]
    pub path: Option<std::path::PathBuf>,
}

impl RoutesArgs {
    /// The routes file, read and checked (the shipped one when none is given).
    pub fn load(&self) -> anyhow::Result<RouteTable> {
        match &self.path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
                RouteTable::parse(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
            }
            None => Ok(crate::api::volubile::routes()),
        }
    }
}

/// `--since`, an age counted back from now or a time.
fn since_now(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::core::audit::parse_since(raw, chrono::Utc::now())
}

/// How long something is kept: a duration (`90d`, `12h`), or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<chrono::Duration>);

impl std::str::FromStr for Retention {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "forever" {
            return Ok(Self(None));
        }
        let bad = || format!("{s:?} is not a duration such as 90d or 12h, nor `forever`");
        let duration = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
        match chrono::Duration::from_std(duration) {
            Ok(duration) if !duration.is_zero() => Ok(Self(Some(duration))),
            _ => Err(bad()),
        }
    }
}

/// Refuses secrets given as command-line arguments, which every user of the host can read in
/// `ps` or `/proc`: one line saying where to put them instead, never the secret.
pub fn refuse_secrets_on_the_command_line(matches: &clap::ArgMatches) -> Result<(), String> {
    let master_key_on_the_line = std::iter::once(matches)
        .chain(matches.subcommand().map(|(_, sub)| sub))
        .any(|m| m.value_source("master_key") == Some(clap::parser::ValueSource::CommandLine));
    if master_key_on_the_line {
        return Err("error: --master-key on the command line is visible to every user in ps: set KEYMINT_MASTER_KEY or use --master-key-file".to_owned());
    }
    let serve = matches.subcommand_matches("serve");
    let on_the_line = serve.and_then(|m| m.value_source("signing_secret"))
        == Some(clap::parser::ValueSource::CommandLine);
    if on_the_line {
        return Err("error: --signing-secret on the command line is visible to every user in ps: set KEYMINT_SIGNING_SECRET or use --signing-secret-file".to_owned());
    }
    Ok(())
}

/// Never fails: clap would quote the rejected value in its error. The length is checked at
/// startup, with a message that does not repeat the secret.
fn parse_secret(raw: &str) -> Result<SigningSecret, std::convert::Infallible> {
    Ok(SigningSecret::unchecked(raw.as_bytes().to_vec()))
}

/// An issuer is a URL; the bare word of earlier releases is named as what it became.
fn parse_issuer(raw: &str) -> Result<PublicUrl, String> {
    raw.parse().map_err(|_| {
        format!(
            "an issuer is a URL, http(s)://host[:port][/path] (`https://auth.example.com`); \
             tokens that carry an earlier issuer such as `{LEGACY_ISSUER}` stay accepted through \
             --previous-issuers"
        )
    })
}

/// An RFC 8707 resource indicator: an absolute URI without a fragment.
fn parse_resource(raw: &str) -> Result<String, String> {
    match url::Url::parse(raw.trim()) {
        Ok(url) if url.fragment().is_none() => Ok(raw.trim().to_owned()),
        _ => Err("a resource is an absolute URI without a fragment (RFC 8707 §2)".to_owned()),
    }
}

impl ServeArgs {
    /// The issuer: --issuer, else --public-url, else the address keymint listens on (an
    /// unspecified address read as loopback, which only this host can reach: say so).
    pub fn issuer_at(&self, listening: std::net::SocketAddr) -> String {
        if let Some(issuer) = self.issuer.as_ref().or(self.public_url.as_ref()) {
            return issuer.as_str().to_owned();
        }
        let mut address = listening;
        if address.ip().is_unspecified() {
            tracing::warn!(
                %listening,
                "no --issuer: tokens name this host's loopback address as their issuer, which \
                 other hosts cannot reach; set --issuer to the URL clients use"
            );
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{address}")
    }
}

/// Options for commands that make keys.
#[derive(Debug, Clone, Args)]
pub struct KeyFormatArgs {
    /// Prefix of newly made keys (`km_...`); existing keys keep theirs and stay valid.
    #[arg(long, env = "KEYMINT_KEY_PREFIX", default_value = "km")]
    pub key_prefix: KeyPrefix,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account with a primary and a secondary key, and print both keys once.
    Create {
        name: AccountName,
        /// Limit both keys to these scopes (comma-separated, from the routes file's catalogue);
        /// by default a key may grant all.
        #[arg(long)]
        scopes: Option<String>,
        /// Print one JSON object: {"account", "keys": [{"id", "slot", "secret"}, ...]}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        format: KeyFormatArgs,
        #[command(flatten)]
        routes: RoutesArgs,
    },
    /// Change an account's settings (those not given stay as they are); every instance applies
    /// them within a second. `default` clears a setting back to the deployment's.
    Update {
        name: AccountName,
        /// The scopes its keys may grant (comma-separated, from the routes file's catalogue);
        /// `default`: every scope.
        #[arg(long)]
        scopes: Option<String>,
        /// Its token requests' quota, `COUNT/SECONDSs` (`100/15s`), instead of --rate-limit;
        /// `default`: the deployment's.
        #[arg(long)]
        rate_limit: Option<String>,
        /// The longest life of its tokens, in seconds: a longer one is shortened to it, in every
        /// dialect; `default`: each dialect's own.
        #[arg(long)]
        max_lifetime: Option<String>,
        /// Refuse its keys (as unknown keys are) and its tokens.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Accept its keys again.
        #[arg(long)]
        enable: bool,
        /// Print the account as one JSON object: {"account", "settings": {...}}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        routes: RoutesArgs,
    },
    /// Delete an account: every key of it is revoked at once; its name is never reused.
    Delete {
        name: AccountName,
        /// Print one JSON object: {"account", "deleted": true, "revoked_keys": [...]}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Replace one slot's key; the old key stops working at once (or after --grace), the other
    /// slot is untouched.
    Rotate {
        name: AccountName,
        #[arg(long)]
        slot: KeySlot,
        /// Seconds the old key keeps working (and its tokens passing), up to 30 days; 0: none.
        #[arg(long, default_value = "0")]
        grace: GracePeriod,
        /// The new key's name: 1 to 64 letters, digits, '.', '_' or '-'.
        #[arg(long = "name", value_name = "NAME")]
        key_name: Option<KeyName>,
        /// When the new key stops working by itself (RFC 3339: 2027-01-01T00:00:00Z).
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Print one JSON object: {"id", "slot", "secret", "name", "expires_at", "previous":
        /// {"id", "expires_at"} or null}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        format: KeyFormatArgs,
        #[command(flatten)]
        routes: RoutesArgs,
    },
    /// List an account's active keys (never their secrets).
    List {
        name: AccountName,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        routes: RoutesArgs,
    },
    /// Revoke one key by id; it stops working at once.
    Revoke {
        key_id: KeyId,
        #[arg(long)]
        json: bool,
    },
}

fn parse_rfc3339(s: &str) -> Result<chrono::DateTime<chrono::Utc>, chrono::ParseError> {
    chrono::DateTime::parse_from_rfc3339(s).map(|at| at.with_timezone(&chrono::Utc))
}

#[derive(Debug, Subcommand)]
pub enum AdminKeysCommand {
    /// Create an admin key and print it once: only its hash is stored.
    Create {
        /// What the key is for (`ci-deploy`): 1 to 64 letters, digits, '.', '_' or '-'.
        name: AdminKeyName,
        /// The key may only read (GET operations); every change is refused with 403.
        #[arg(long)]
        read_only: bool,
        /// Print one JSON object: {"id", "secret", "name", "read_only", "created_at"}.
        #[arg(long)]
        json: bool,
    },
    /// List the admin keys, revoked ones too (never their secrets).
    List {
        /// Print one JSON object: {"admin_keys": [{"id", "name", "read_only", "created_at",
        /// "revoked_at"}, ...]}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin key by id: refused from its next request on, on every instance.
    Revoke {
        key_id: KeyId,
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["keymint", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.bind, DEFAULT_BIND);
        assert_eq!(args.rate_limit, DEFAULT_RATE_LIMIT.parse().unwrap());
    }

    #[test]
    fn the_issuer_is_a_url_and_the_bare_word_of_earlier_releases_is_explained() {
        let err = Cli::try_parse_from(["keymint", "serve", "--issuer", "keymint"]).unwrap_err();
        assert!(err.to_string().contains("--previous-issuers"), "{err}");
        let cli = Cli::try_parse_from([
            "keymint",
            "serve",
            "--issuer",
            "https://auth.example.com/t/",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        let any: std::net::SocketAddr = "0.0.0.0:1".parse().unwrap();
        assert_eq!(args.issuer_at(any), "https://auth.example.com/t");
        assert_eq!(args.previous_issuers, vec![LEGACY_ISSUER.to_owned()]);
    }

    #[test]
    fn without_an_issuer_it_is_the_address_listened_on_or_the_public_url() {
        let args = ServeArgs::default();
        assert_eq!(
            args.issuer_at("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            args.issuer_at("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000"
        );
        let public = ServeArgs {
            public_url: Some("https://keys.example.com".parse().unwrap()),
            ..ServeArgs::default()
        };
        assert_eq!(
            public.issuer_at("0.0.0.0:9000".parse().unwrap()),
            "https://keys.example.com"
        );
    }

    #[test]
    fn a_resource_is_an_absolute_uri_without_a_fragment() {
        assert!(parse_resource("https://api.example.com/calls").is_ok());
        assert!(parse_resource("urn:example:calls").is_ok());
        assert!(parse_resource("/calls").is_err());
        assert!(parse_resource("https://api.example.com/#x").is_err());
    }

    #[test]
    fn the_default_lifetimes_are_the_documented_ones() {
        let origoid = ServeArgs::default()
            .lifetimes
            .of(&crate::api::origoid::DIALECT);
        assert_eq!(origoid.default.as_secs(), 3600);
        assert_eq!(origoid.min.as_secs(), 1);
        assert_eq!(origoid.max.as_secs(), 3600);
        let inconsistent =
            Cli::try_parse_from(["keymint", "serve", "--origoid-max-lifetime", "60"]).unwrap_err();
        assert!(
            inconsistent.to_string().contains("OrigoID"),
            "{inconsistent}"
        );
    }

    #[test]
    fn retention_is_a_duration_or_forever() {
        assert_eq!(
            "90d".parse::<Retention>().unwrap().0,
            Some(chrono::Duration::days(90))
        );
        assert_eq!("forever".parse::<Retention>().unwrap().0, None);
        for bad in ["", "0s", "soon", "-1d"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_help_names_every_dialect() {
        let help = Cli::command()
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        for dialect in crate::api::DIALECTS {
            assert!(
                help.contains(dialect.name),
                "{} missing from --help",
                dialect.name
            );
        }
    }

    #[test]
    fn dialects_are_a_comma_separated_list() {
        let cli = Cli::try_parse_from(["keymint", "serve", "--dialects", "volubile,velt"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.dialects, ["volubile", "velt"]);
    }

    #[test]
    fn a_kid_that_starts_with_a_hyphen_is_a_kid() {
        let cli =
            Cli::try_parse_from(["keymint", "signing-keys", "revoke", "-GqX1", "--json"]).unwrap();
        let Command::SigningKeys(SigningKeysCommand::Revoke { kid, json }) = cli.command else {
            panic!("expected signing-keys revoke")
        };
        assert_eq!((kid.as_str(), json), ("-GqX1", true));
    }

    #[test]
    fn a_bad_slot_is_refused_by_the_parser() {
        assert!(
            Cli::try_parse_from(["keymint", "keys", "rotate", "acme", "--slot", "third"]).is_err()
        );
    }
}
