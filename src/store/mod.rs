//! Where accounts, keys and the signing secret live: the core's store port
//! ([`crate::core::store`]), one implementation per database, chosen once at startup from the
//! database URL.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice};

use crate::core::audit::{AuditEntry, AuditPosition, AuditQuery, decode_batch};
use crate::core::envelope::{self, MasterKeys, Row};
use crate::core::lifetime::Lifetime;
use crate::core::ratelimit::RatePolicy;
use crate::core::scope::{Catalogue, ScopeSet};
use crate::core::settings::AccountSettings;
pub use crate::core::store::{
    AccountRange, AccountRecord, Cause, ChangeWatch, DEFAULT_STORE_TIMEOUT, KeyInfo, KeyStore,
    NewKey, StoreError, StoreOptions, StoredKey,
};

/// The in-memory key cache every server puts in front of its store.
pub mod cache;
/// PostgreSQL, for several instances on one database.
pub mod postgres;
/// SQLite, the embedded default.
pub mod sqlite;

impl StoreError {
    /// Connection-level failures and deadlines mean "try later" (503, the cache's last answer);
    /// everything else is a bug or bad data.
    pub fn from_sqlx(err: sqlx::Error) -> Self {
        let later = match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| try_later(&code)),
            _ => false,
        };
        if later {
            StoreError::Unavailable(Box::new(err))
        } else {
            StoreError::Database(Box::new(err))
        }
    }
}

/// The database's own codes for "not now": PostgreSQL's statement and lock deadlines, a
/// query cancelled or the server shutting down, too many connections, a lost connection;
/// SQLite's busy and locked.
fn try_later(code: &str) -> bool {
    matches!(
        code,
        "57014" | "55P03" | "57P01" | "57P02" | "57P03" | "53300"
    ) || code.starts_with("08")
        || matches!(code, "5" | "6" | "261" | "262" | "517")
}

/// Column decoding both databases share: what a stored value must look like.
pub(crate) fn parse_slot(raw: &str) -> Result<crate::core::slot::KeySlot, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("slot {raw:?}")))
}

pub(crate) fn parse_id(raw: &str) -> Result<crate::core::apikey::KeyId, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("key id {raw:?}")))
}

pub(crate) fn parse_jti(raw: &str) -> Result<uuid::Uuid, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("token id {raw:?}")))
}

/// A key's stored scope names, read against the catalogue. A name it lacks (the catalogue
/// changed since the key was made) is not granted: the key keeps the scopes that remain, even
/// none, and never falls back to every scope.
pub(crate) fn parse_scopes(raw: Option<&str>, scopes: &Catalogue) -> Option<ScopeSet> {
    raw.map(|raw| {
        scopes.parse_known(raw, |name| {
            tracing::warn!(
                scope = name,
                "a stored key names a scope the catalogue lacks: it is not granted"
            );
        })
    })
}

/// A key's scopes as stored: their names, space-separated; `None` (every scope) as NULL.
pub(crate) fn encode_scopes(set: Option<ScopeSet>, scopes: &Catalogue) -> Option<String> {
    set.map(|set| scopes.display(set).to_string())
}

/// An account's settings as stored, a column each.
pub(crate) struct SettingsColumns {
    pub scopes: Option<String>,
    pub rate_limit_requests: Option<i64>,
    pub rate_limit_window_secs: Option<i64>,
    pub max_token_lifetime_secs: Option<i64>,
    pub disabled: bool,
}

impl SettingsColumns {
    pub fn of(settings: &AccountSettings, scopes: &Catalogue) -> Self {
        Self {
            scopes: encode_scopes(settings.scopes, scopes),
            rate_limit_requests: settings.rate_limit.map(|p| i64::from(p.requests.get())),
            rate_limit_window_secs: settings
                .rate_limit
                .map(|p| i64::try_from(p.window.as_secs()).unwrap_or(i64::MAX)),
            max_token_lifetime_secs: settings.max_token_lifetime.map(|l| i64::from(l.as_secs())),
            disabled: settings.disabled,
        }
    }

    /// The settings, read against the catalogue; a value out of its range is corrupt.
    pub fn read(self, scopes: &Catalogue) -> Result<AccountSettings, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("account {what}"));
        let rate_limit = match (self.rate_limit_requests, self.rate_limit_window_secs) {
            (None, None) => None,
            (Some(requests), Some(secs)) => Some(RatePolicy {
                requests: u32::try_from(requests)
                    .ok()
                    .and_then(std::num::NonZeroU32::new)
                    .ok_or_else(|| corrupt("rate limit"))?,
                window: u64::try_from(secs)
                    .ok()
                    .filter(|secs| *secs > 0)
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| corrupt("rate limit"))?,
            }),
            _ => return Err(corrupt("rate limit")),
        };
        let max_token_lifetime = self
            .max_token_lifetime_secs
            .map(|secs| {
                u32::try_from(secs)
                    .ok()
                    .filter(|secs| *secs > 0)
                    .map(Lifetime::from_secs)
                    .ok_or_else(|| corrupt("longest token lifetime"))
            })
            .transpose()?;
        Ok(AccountSettings {
            scopes: parse_scopes(self.scopes.as_deref(), scopes),
            rate_limit,
            max_token_lifetime,
            disabled: self.disabled,
        })
    }
}

/// The time a listing resumes at: batches whose oldest event is newer hold nothing for it.
fn resumed_at(query: &AuditQuery) -> i64 {
    query.before.map_or(i64::MAX, |position| position.at_micros)
}

/// The newest events matching `query`, newest first, from batches streamed in order of their
/// newest event. Reading stops once no further batch can hold an event among the newest.
async fn newest_events(
    mut batches: futures_util::stream::BoxStream<'_, Result<(i64, i64, String), sqlx::Error>>,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    use futures_util::TryStreamExt as _;
    let limit = query.limit as usize;
    let mut found: Vec<AuditEntry> = Vec::new();
    while let Some((row, last_at_micros, events)) =
        batches.try_next().await.map_err(StoreError::from_sqlx)?
    {
        if found.len() >= limit
            && found
                .get(limit.saturating_sub(1))
                .is_none_or(|oldest_kept| oldest_kept.position.at_micros > last_at_micros)
        {
            break;
        }
        let batch = decode_batch(&events).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        found.extend(
            batch
                .into_iter()
                .enumerate()
                .map(|(index, event)| AuditEntry {
                    position: AuditPosition {
                        at_micros: event.at.timestamp_micros(),
                        row,
                        index: index as u32,
                    },
                    event,
                })
                .filter(|entry| {
                    query.before.is_none_or(|before| entry.position < before)
                        && query.since.is_none_or(|since| entry.event.at >= since)
                        && query
                            .outcome
                            .is_none_or(|outcome| entry.event.outcome == outcome)
                        && query
                            .account
                            .as_deref()
                            .is_none_or(|account| entry.event.account.as_deref() == Some(account))
                }),
        );
        // Newest first; batches of several instances may overlap in time.
        found.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.position));
        found.truncate(limit);
    }
    found.truncate(limit);
    Ok(found)
}

/// Opens the store a URL names and brings its schema up to date, with the default deadlines;
/// stored scope names are read with `scopes`.
pub async fn connect(url: &str, scopes: Arc<Catalogue>) -> Result<Arc<dyn KeyStore>, StoreError> {
    connect_with(url, StoreOptions::new(scopes)).await
}

/// [`connect`], with deadlines and a scope catalogue of the caller's choosing.
pub async fn connect_with(
    url: &str,
    options: StoreOptions,
) -> Result<Arc<dyn KeyStore>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(url, options.scopes)
                .await?
                .with_master_keys(options.master_keys),
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect(url, options).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// The bytes and master key id a backend stores for a signing secret of `row`: sealed when it
/// holds master keys.
fn to_store(
    keys: Option<&Arc<MasterKeys>>,
    row: Row<'_>,
    secret: &[u8],
) -> (Vec<u8>, Option<String>) {
    envelope::to_store(keys.map(|keys| &**keys), row, secret)
}

/// A stored signing secret of `row`, opened.
fn from_store(
    keys: Option<&Arc<MasterKeys>>,
    row: Row<'_>,
    bytes: Vec<u8>,
    sealed_with: Option<String>,
) -> Result<SecretSlice<u8>, StoreError> {
    envelope::unseal(
        keys.map(|keys| &**keys),
        row,
        envelope::from_store(bytes, sealed_with),
    )
    .map_err(|err| StoreError::Sealing(err.to_string()))
}

/// What a stored secret of `row` becomes when the store seals what it holds: `None` if it is
/// to stay (already sealed with the current key, or sealed with another and not `rewrap`).
fn resealed(
    keys: Option<&Arc<MasterKeys>>,
    row: Row<'_>,
    bytes: Vec<u8>,
    sealed_with: Option<String>,
    rewrap: bool,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    let keys = keys.ok_or_else(|| {
        StoreError::Sealing(
            "no master key: give KEYMINT_MASTER_KEY or KEYMINT_MASTER_KEY_FILE".into(),
        )
    })?;
    if envelope::is_current(keys, sealed_with.as_deref()) || (sealed_with.is_some() && !rewrap) {
        return Ok(None);
    }
    let secret = from_store(Some(keys), row, bytes, sealed_with)?;
    let sealed = keys.seal(row, secret.expose_secret());
    Ok(Some((sealed.bytes, sealed.key_id)))
}
