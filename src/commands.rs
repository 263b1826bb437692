use std::io::Write;
use std::sync::Arc;

use serde_json::json;

use secrecy::ExposeSecret as _;

use crate::cli::{
    AccountsCommand, AdminKeysCommand, AuditAction, AuditArgs, DialectsArgs, KeysCommand,
    MasterKeyArgs, MasterKeyCommand, SigningKeysCommand,
};
use crate::core::admin::{FreshKey, KeyAdmin};
use crate::core::administration::signing_keys::ActivationDelay;
use crate::core::administration::{Actor, Administration};
use crate::core::apikey::{KeyId, KeyPrefix};
use crate::core::audit::AuditQuery;
use crate::core::audit_chain;
use crate::core::clock::SystemClock;
use crate::core::envelope::{MasterKey, MasterKeys};
use crate::core::rotation::Rotation;
use crate::core::scope::Catalogue;
use crate::core::settings::{Change, MaxTokenLifetime, SettingsChange, account_rate_limit};
use crate::store;

/// Commands are run by people, who would rather wait for a locked table than be told no.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A command-line value only the configuration can judge (a scope against the routes file's
/// catalogue): a usage error, like clap's own, which exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("invalid value '{value}' for '{flag}': {reason}")]
pub struct UsageError {
    /// The flag as `--help` shows it.
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

/// The store, its keys' scopes named by `scopes`.
async fn open(
    database_url: &str,
    scopes: Arc<Catalogue>,
) -> anyhow::Result<Arc<dyn store::KeyStore>> {
    open_sealed(database_url, scopes, None).await
}

/// The store, sealing and opening the signing secrets with `master_keys`.
async fn open_sealed(
    database_url: &str,
    scopes: Arc<Catalogue>,
    master_keys: Option<Arc<MasterKeys>>,
) -> anyhow::Result<Arc<dyn store::KeyStore>> {
    let options = store::StoreOptions {
        timeout: COMMAND_TIMEOUT,
        scopes,
        master_keys,
        durable_commits: false,
    };
    Ok(store::connect_with(database_url, options).await?)
}

/// The shipped routes file's catalogue, for commands that read no scope names.
fn shipped_scopes() -> Arc<Catalogue> {
    crate::api::volubile::routes().scopes().clone()
}

async fn admin(
    database_url: &str,
    prefix: KeyPrefix,
    scopes: Arc<Catalogue>,
) -> anyhow::Result<KeyAdmin> {
    let store = open(database_url, scopes).await?;
    Ok(KeyAdmin::new(store, Arc::new(SystemClock), prefix))
}

/// The operations the admin API offers too, as the operator at the command line.
async fn administration(
    database_url: &str,
    prefix: KeyPrefix,
    scopes: Arc<Catalogue>,
) -> anyhow::Result<Administration> {
    let store = open(database_url, scopes.clone()).await?;
    Ok(Administration::new(
        store,
        Arc::new(SystemClock),
        prefix,
        scopes,
    ))
}

fn key_json(key: &FreshKey) -> serde_json::Value {
    json!({"id": key.key.id().as_str(), "slot": key.slot.as_str(), "secret": key.key.expose()})
}

fn print(out: &mut impl Write, text: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(out, "{text}")?;
    Ok(())
}

pub async fn accounts(
    database_url: &str,
    command: AccountsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        AccountsCommand::Create {
            name,
            scopes,
            json,
            format,
            routes,
        } => {
            let catalogue = routes.load()?.scopes().clone();
            let scopes = scopes
                .map(|list| {
                    catalogue.parse_list(&list).map_err(|err| UsageError {
                        flag: "--scopes <SCOPES>",
                        value: list.clone(),
                        reason: err.to_string(),
                    })
                })
                .transpose()?;
            let admin = administration(database_url, format.key_prefix, catalogue).await?;
            let operator = admin.writer(Actor::operator()).await?;
            let settings = SettingsChange {
                scopes: scopes.map_or(Change::Keep, Change::Set),
                ..Default::default()
            };
            let keys = admin
                .create_account(&operator, &name, &settings)
                .await?
                .keys;
            if json {
                let keys: Vec<_> = keys.iter().map(key_json).collect();
                print(out, json!({"account": name.as_str(), "keys": keys}))
            } else {
                print(out, format_args!("Created account {name}."))?;
                for key in &keys {
                    print(
                        out,
                        format_args!(
                            "  {:<9}  id {}  key {}",
                            key.slot,
                            key.key.id(),
                            key.key.expose()
                        ),
                    )?;
                }
                print(
                    out,
                    "Keep these keys now: only their hashes are stored, so they cannot be shown again.",
                )
            }
        }
        AccountsCommand::Update {
            name,
            scopes,
            rate_limit,
            max_lifetime,
            disable,
            enable,
            json,
            routes,
        } => {
            let catalogue = routes.load()?.scopes().clone();
            let change = SettingsChange {
                scopes: setting("--scopes <SCOPES>", scopes, |list| {
                    catalogue.parse_list(list).map_err(|err| err.to_string())
                })?,
                rate_limit: setting("--rate-limit <RATE_LIMIT>", rate_limit, |text| {
                    account_rate_limit(text).map_err(|err| err.to_string())
                })?,
                max_token_lifetime: setting(
                    "--max-lifetime <MAX_LIFETIME>",
                    max_lifetime,
                    |text| {
                        text.parse::<MaxTokenLifetime>()
                            .map(|max| max.0)
                            .map_err(|err| err.to_string())
                    },
                )?,
                disabled: match (disable, enable) {
                    (true, _) => Change::Set(true),
                    (_, true) => Change::Set(false),
                    _ => Change::Keep,
                },
            };
            let admin = administration(database_url, Default::default(), catalogue.clone()).await?;
            let operator = admin.writer(Actor::operator()).await?;
            let account = admin
                .update_account(&operator, &name, &change)
                .await?
                .account;
            let settings = &account.settings;
            let shown = json!({
                "scopes": settings.scopes.map(|set| catalogue.display(set).to_string()),
                "rate_limit": settings.rate_limit.map(|policy| policy.to_string()),
                "max_token_lifetime": settings.max_token_lifetime.map(|l| l.as_secs()),
                "disabled": settings.disabled,
            });
            if json {
                print(out, json!({"account": account.name, "settings": shown}))
            } else {
                print(
                    out,
                    format_args!("Updated account {}: {shown}", account.name),
                )
            }
        }
        AccountsCommand::Delete { name, json } => {
            // Deleting reads no scopes: any catalogue will do.
            let admin = administration(database_url, Default::default(), shipped_scopes()).await?;
            let operator = admin.writer(Actor::operator()).await?;
            let revoked = admin.delete_account(&operator, &name).await?;
            if json {
                let revoked: Vec<_> = revoked.iter().map(KeyId::as_str).collect();
                print(
                    out,
                    json!({"account": name.as_str(), "deleted": true, "revoked_keys": revoked}),
                )
            } else {
                print(
                    out,
                    format_args!("Deleted account {name}; {} keys revoked.", revoked.len()),
                )
            }
        }
    }
}

/// A setting from the command line: `default` clears it, anything else is parsed.
fn setting<T>(
    flag: &'static str,
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Change<T>, UsageError> {
    match value.as_deref() {
        None => Ok(Change::Keep),
        Some("default") => Ok(Change::Clear),
        Some(text) => parse(text).map(Change::Set).map_err(|reason| UsageError {
            flag,
            value: text.to_owned(),
            reason,
        }),
    }
}

pub async fn keys(
    database_url: &str,
    command: KeysCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate {
            name,
            slot,
            grace,
            key_name,
            expires_at,
            json,
            format,
            routes,
        } => {
            let admin = administration(
                database_url,
                format.key_prefix,
                routes.load()?.scopes().clone(),
            )
            .await?;
            let operator = admin.writer(Actor::operator()).await?;
            let rotation = Rotation {
                grace,
                name: key_name,
                expires_at,
                ..Rotation::of(slot)
            };
            let rotated = admin.rotate_key(&operator, &name, &rotation).await?;
            let key = rotated.key;
            if json {
                let mut shown = key_json(&key);
                shown["name"] = json!(rotated.info.name);
                shown["expires_at"] = json!(rotated.info.expires_at);
                shown["previous"] = json!(rotated.previous.map(
                    |previous| json!({"id": previous.id.as_str(), "expires_at": previous.ends_at})
                ));
                print(out, shown)
            } else if let Some(previous) = rotated.previous.filter(|_| !grace.is_none()) {
                print(
                    out,
                    format_args!(
                        "New {slot} key for {name}: id {}  key {}",
                        key.key.id(),
                        key.key.expose()
                    ),
                )?;
                print(
                    out,
                    format_args!(
                        "The previous key of that slot ({}) works until {}.",
                        previous.id,
                        previous.ends_at.to_rfc3339()
                    ),
                )
            } else {
                print(
                    out,
                    format_args!(
                        "New {slot} key for {name}: id {}  key {}",
                        key.key.id(),
                        key.key.expose()
                    ),
                )?;
                print(out, "The previous key of that slot no longer works.")
            }
        }
        KeysCommand::List { name, json, routes } => {
            let catalogue = routes.load()?.scopes().clone();
            let admin = admin(database_url, Default::default(), catalogue.clone()).await?;
            let keys = admin.list(&name).await?;
            if json {
                let keys: Vec<_> = keys
                    .iter()
                    .map(|key| {
                        json!({
                            "id": key.id.as_str(),
                            "slot": key.slot.as_str(),
                            "created_at": key.created_at.to_rfc3339(),
                            "last_used_at": key.last_used_at.map(|at| at.to_rfc3339()),
                            "scopes": key.scopes.map(|set| catalogue.display(set).to_string()),
                        })
                    })
                    .collect();
                print(out, json!({"account": name.as_str(), "keys": keys}))
            } else {
                print(
                    out,
                    format_args!("{:<9}  {:<11}  {:<25}  LAST USED", "SLOT", "ID", "CREATED"),
                )?;
                for key in keys {
                    let used = key
                        .last_used_at
                        .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
                    print(
                        out,
                        format_args!(
                            "{:<9}  {:<11}  {:<25}  {used}",
                            key.slot,
                            key.id,
                            key.created_at.to_rfc3339()
                        ),
                    )?;
                }
                Ok(())
            }
        }
        KeysCommand::Revoke { key_id, json } => {
            // Revoking reads no scopes: any catalogue will do.
            let admin = administration(database_url, Default::default(), shipped_scopes()).await?;
            let operator = admin.writer(Actor::operator()).await?;
            admin.revoke_key(&operator, &key_id).await?;
            if json {
                print(out, json!({"id": key_id.as_str(), "revoked": true}))
            } else {
                print(out, format_args!("Revoked key {key_id}."))
            }
        }
    }
}

pub async fn admin_keys(
    database_url: &str,
    command: AdminKeysCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // Admin keys have no scopes: any catalogue will do.
    let admin = administration(database_url, KeyPrefix::default(), shipped_scopes()).await?;
    match command {
        AdminKeysCommand::Create {
            name,
            read_only,
            json,
        } => {
            let operator = admin.writer(Actor::operator()).await?;
            let created = admin.create_admin_key(&operator, name, read_only).await?;
            let (key, info) = (&created.key, &created.info);
            if json {
                print(
                    out,
                    json!({
                        "id": info.id.as_str(),
                        "secret": key.expose(),
                        "name": info.name,
                        "read_only": info.read_only,
                        "created_at": info.created_at.to_rfc3339(),
                    }),
                )
            } else {
                let access = if info.read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                print(
                    out,
                    format_args!(
                        "Created {access} admin key {}: id {}  key {}",
                        info.name,
                        info.id,
                        key.expose()
                    ),
                )?;
                print(
                    out,
                    "Keep this key now: only its hash is stored, so it cannot be shown again.",
                )
            }
        }
        AdminKeysCommand::List { json } => {
            let keys = admin.admin_keys().await?;
            if json {
                let keys: Vec<_> = keys
                    .iter()
                    .map(|key| {
                        json!({
                            "id": key.id.as_str(),
                            "name": key.name,
                            "read_only": key.read_only,
                            "created_at": key.created_at.to_rfc3339(),
                            "revoked_at": key.revoked_at.map(|at| at.to_rfc3339()),
                        })
                    })
                    .collect();
                return print(out, json!({ "admin_keys": keys }));
            }
            print(
                out,
                format_args!(
                    "{:<11}  {:<24}  {:<10}  {:<25}  REVOKED",
                    "ID", "NAME", "ACCESS", "CREATED"
                ),
            )?;
            for key in keys {
                let access = if key.read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                let revoked = key
                    .revoked_at
                    .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
                print(
                    out,
                    format_args!(
                        "{:<11}  {:<24}  {access:<10}  {:<25}  {revoked}",
                        key.id,
                        key.name,
                        key.created_at.to_rfc3339()
                    ),
                )?;
            }
            Ok(())
        }
        AdminKeysCommand::Revoke { key_id, json } => {
            let operator = admin.writer(Actor::operator()).await?;
            admin.revoke_admin_key(&operator, &key_id).await?;
            if json {
                print(out, json!({"id": key_id.as_str(), "revoked": true}))
            } else {
                print(out, format_args!("Revoked admin key {key_id}."))
            }
        }
    }
}

pub async fn signing_keys(
    database_url: &str,
    master_keys: Option<Arc<MasterKeys>>,
    command: SigningKeysCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // Signing keys have no scopes: any catalogue will do.
    let store = open_sealed(database_url, shipped_scopes(), master_keys).await?;
    let admin = KeyAdmin::new(store.clone(), Arc::new(SystemClock), KeyPrefix::default());
    match command {
        SigningKeysCommand::Rotate {
            alg,
            activation_delay,
            json,
        } => {
            let delay = ActivationDelay::new(activation_delay.into())
                .map_err(|err| anyhow::anyhow!("--activation-delay {err}"))?;
            let administration = Administration::new(
                store,
                Arc::new(SystemClock),
                KeyPrefix::default(),
                shipped_scopes(),
            );
            let operator = administration.writer(Actor::operator()).await?;
            let key = administration
                .rotate_signing_key(&operator, alg, delay)
                .await?;
            let activates_at = key.activates_at.to_rfc3339();
            if json {
                print(
                    out,
                    json!({"kid": key.kid, "alg": alg.as_str(), "activates_at": activates_at}),
                )
            } else {
                print(
                    out,
                    format_args!(
                        "New {alg} key {} published; it signs from {activates_at}.",
                        key.kid
                    ),
                )
            }
        }
        SigningKeysCommand::Revoke { kid, json } => {
            let revoked = admin.revoke_signing_key(&kid).await?;
            let replacement = revoked.replacement.as_ref();
            if json {
                print(
                    out,
                    json!({
                        "kid": kid,
                        "alg": revoked.alg.as_str(),
                        "revoked_at": revoked.revoked_at.to_rfc3339(),
                        "replacement": replacement.map(|key| json!({
                            "kid": key.kid,
                            "activates_at": key.activates_at.to_rfc3339(),
                        })),
                    }),
                )
            } else {
                print(out, format_args!("Revoked {} key {kid}.", revoked.alg))?;
                match replacement {
                    Some(key) => print(out, format_args!("{} signs from now on.", key.kid)),
                    None => Ok(()),
                }
            }
        }
        SigningKeysCommand::List { alg, json } => {
            let keys = admin.signing_keys(alg).await?;
            if json {
                let keys: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"kid": k.kid, "alg": alg.as_str(), "created_at": k.created_at.to_rfc3339(), "activates_at": k.activates_at.to_rfc3339(), "revoked_at": k.revoked_at.map(|at| at.to_rfc3339())}))
                    .collect();
                print(out, json!({ "keys": keys }))
            } else {
                for key in keys {
                    print(
                        out,
                        format_args!(
                            "{}  {alg}  activates {}{}",
                            key.kid,
                            key.activates_at.to_rfc3339(),
                            key.revoked_at
                                .map(|at| format!("  revoked {}", at.to_rfc3339()))
                                .unwrap_or_default()
                        ),
                    )?;
                }
                Ok(())
            }
        }
    }
}

pub async fn audit(
    database_url: &str,
    args: AuditArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(AuditAction::Verify) = args.action {
        let store = open(database_url, shipped_scopes()).await?;
        let verified = audit_chain::verify_stored(&*store).await?;
        let head = verified
            .head
            .map_or_else(|| "none yet".to_owned(), |head| head.to_string());
        return print(
            out,
            format_args!(
                "audit trail intact: {} chained batches, {} from before chaining; head {head}",
                verified.chained, verified.unchained
            ),
        );
    }
    // The trail keeps scope names as written: no catalogue is needed to read it.
    let admin = administration(database_url, KeyPrefix::default(), shipped_scopes()).await?;
    let page = admin
        .audit_events(&AuditQuery {
            account: args.account,
            outcome: args.outcome,
            since: args.since,
            before: args.cursor,
            limit: args.limit,
        })
        .await?;
    let events = page.events.into_iter().map(|entry| entry.event);
    if args.json {
        let events: Vec<_> = events
            .map(|e| {
                json!({
                    "at": e.at.to_rfc3339(),
                    "dialect": e.dialect,
                    "outcome": e.outcome.as_str(),
                    "reason": e.reason,
                    "account": e.account,
                    "key_id": e.key_id.as_ref().map(KeyId::as_str),
                    "scopes": e.scopes,
                    "jti": e.jti,
                    "client_ip": e.client_ip,
                    "count": e.count,
                    "actor": e.actor.as_ref().map(KeyId::as_str),
                })
            })
            .collect();
        let next_cursor = page.next.map(|position| position.to_string());
        return print(out, json!({ "events": events, "next_cursor": next_cursor }));
    }
    for e in events {
        fn or_dash(value: Option<impl ToString>) -> String {
            value.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        print(
            out,
            format_args!(
                "{}  {:<8} {:<7} {:<19} account={} key={} ip={} jti={} scopes={}{}{}",
                e.at.to_rfc3339(),
                e.dialect,
                e.outcome,
                or_dash(e.reason.as_ref()),
                or_dash(e.account.as_ref()),
                or_dash(e.key_id.as_ref()),
                or_dash(e.client_ip.as_ref()),
                or_dash(e.jti.as_ref()),
                or_dash(e.scopes.as_ref()),
                if e.count == 1 {
                    String::new()
                } else {
                    format!(" count={}", e.count)
                },
                e.actor
                    .map(|actor| format!(" actor={actor}"))
                    .unwrap_or_default(),
            ),
        )?;
    }
    Ok(())
}

/// `keymint dialects`: the registry, for people (a table) or for tools (`--json`: how to ask
/// each dialect for a token, which the browser test and the conformance hooks read).
pub fn dialects(args: &DialectsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let entries: Vec<serde_json::Value> = crate::api::DIALECTS
        .iter()
        .map(|dialect| {
            let lifetime = dialect.fixture.map(|_| {
                let policy = args.lifetimes.of(dialect);
                json!({"min": policy.min.as_secs(), "default": policy.default.as_secs(), "max": policy.max.as_secs()})
            });
            let token = dialect.fixture.map(|fixture| {
                let (key_id, key) = fixture.credential_pointers();
                json!({
                    "path": fixture.path,
                    "documented_path": fixture.path.strip_prefix(dialect.base_path).unwrap_or(fixture.path),
                    "key_header": fixture.key_header,
                    "basic": fixture.basic,
                    "body": fixture.body_template(),
                    "key_id_pointers": key_id,
                    "key_pointers": key,
                    "token_pointer": fixture.token,
                })
            });
            json!({
                "name": dialect.name,
                "title": dialect.title,
                "document": dialect.doc_path,
                "token": token,
                "lifetime": lifetime,
            })
        })
        .collect();
    if args.json {
        return print(out, serde_json::Value::Array(entries));
    }
    print(
        out,
        format!(
            "{:<10} {:<22} {:<24} LIFETIME (min/default/max s)",
            "NAME", "TOKEN ENDPOINT", "DOCUMENT"
        ),
    )?;
    for entry in &entries {
        let lifetime = &entry["lifetime"];
        let lifetime = if lifetime.is_null() {
            "-".to_owned()
        } else {
            format!(
                "{}/{}/{}",
                lifetime["min"], lifetime["default"], lifetime["max"]
            )
        };
        print(
            out,
            format!(
                "{:<10} {:<22} {:<24} {lifetime}",
                entry["name"].as_str().unwrap_or_default(),
                entry["token"]["path"].as_str().unwrap_or("-"),
                entry["document"].as_str().unwrap_or_default(),
            ),
        )?;
    }
    Ok(())
}

/// `keymint master-key generate|rotate`.
pub async fn master_key(
    database_url: &str,
    given: &MasterKeyArgs,
    command: MasterKeyCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        MasterKeyCommand::Generate { output } => {
            write_new_file(&output, MasterKey::generate_text().expose_secret())?;
            writeln!(
                out,
                "wrote a new master key to {} (mode 0600)",
                output.display()
            )?;
        }
        MasterKeyCommand::Rotate => {
            let keys = given.load()?.ok_or_else(|| UsageError {
                flag: "--master-key-file",
                value: String::new(),
                reason: "master-key rotate needs the master keys (KEYMINT_MASTER_KEY or --master-key-file), the new one first".to_owned(),
            })?;
            let current = keys.current().id().to_owned();
            let store = open_sealed(database_url, shipped_scopes(), Some(keys)).await?;
            let sealed = store.seal_signing_secrets(true).await?;
            writeln!(
                out,
                "re-sealed {sealed} signing secret(s) with master key {current}"
            )?;
        }
    }
    Ok(())
}

/// Creates `path` readable by its owner only, refusing to replace a file.
fn write_new_file(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|err| anyhow::anyhow!("creating {}: {err}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}
