use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};

use super::{
    AccountRange, AccountRecord, ChangeWatch, KeyInfo, KeyStore, NewKey, SettingsColumns,
    StoreError, StoredKey, encode_scopes, parse_id, parse_jti, parse_scopes, parse_slot,
};
use crate::core::adminkey::{AdminKeyInfo, NewAdminKey, StoredAdminKey};
use crate::core::apikey::{KeyHash, KeyId};
use crate::core::audit::{AuditBatch, AuditEntry, AuditQuery};
use crate::core::audit_chain::{self, ChainEnd, ChainedBatch};
use crate::core::envelope::{MasterKeys, Row as SealedRow};
use crate::core::keyring::{KeyPairRecord, SigningAlg};
use crate::core::scope::{Catalogue, ScopeSet};
use crate::core::settings::{AccountSettings, Change, SettingsChange};
use crate::core::slot::KeySlot;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Names keys' scopes.
    scopes: Arc<Catalogue>,
    /// Seal the signing secrets at rest.
    master_keys: Option<Arc<MasterKeys>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`, keys' scopes named by `scopes`.
    pub async fn connect(url: &str, scopes: Arc<Catalogue>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // SQLite's default, said here because durable audit rests on it: in WAL mode a
            // committed transaction survives a crash of the process whatever this is, but a
            // power loss only with FULL (NORMAL may lose the last commits). Its cost is one
            // fsync per commit, which group commit shares among every request waiting.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
            // A secret sealed in place leaves no plaintext in the file's free space.
            .pragma("secure_delete", "on");
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let filename = options.get_filename().to_string_lossy();
        let on_disk = !(filename == ":memory:"
            || filename.starts_with("file:")
            || query
                .split('&')
                .any(|pair| pair == "mode=memory" || pair == "mode=ro"));
        if on_disk {
            owner_only(options.get_filename())
                .map_err(|err| StoreError::Unavailable(err.into()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            // A SQLite connection is a file this process holds open: none goes dead while
            // idle. sqlx's default pings each one it hands out, one more trip to its database
            // thread per transaction, a commit that tokens wait for included.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        use_wal(&pool).await?;
        sqlx::migrate!("src/store/migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|err| StoreError::Database(err.into()))?;
        Ok(Self {
            pool,
            scopes,
            master_keys: None,
        })
    }

    /// Seals the signing secrets it stores with `keys`, and opens them with them.
    pub fn with_master_keys(mut self, keys: Option<Arc<MasterKeys>>) -> Self {
        self.master_keys = keys;
        self
    }
}

/// The database holds the signing secret and every key's hash: only its owner may read it. A
/// new file is created 0600 before SQLite opens it (SQLite gives the `-wal` and `-shm` files
/// the database file's mode); an existing file any other user could read is made 0600, with a
/// warning.
#[cfg(unix)]
fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        // SQLite says it better when it tries (a missing directory, say).
        Err(_) => return Ok(()),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            tracing::warn!(
                file = %std::path::Path::new(&file).display(),
                "the database file was readable by other users; it is now 0600"
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

impl SqliteStore {
    /// Write transactions take the write lock up front (`BEGIN IMMEDIATE`), waiting out other
    /// writers within the busy timeout: a deferred transaction that reads first cannot upgrade
    /// once another connection has written, and fails at once with "database is locked".
    async fn write_transaction(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from_sqlx)
    }
}

/// Stores a key pair (sealed if `keys`), on the pool or inside the caller's transaction.
async fn insert_signing_key<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    keys: Option<&Arc<MasterKeys>>,
    key: &KeyPairRecord,
) -> Result<(), StoreError> {
    let (private_key, sealed_with) = super::to_store(
        keys,
        SealedRow::SigningKey(&key.kid),
        key.private_der.expose_secret(),
    );
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key, sealed_with, created_at, activates_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(key.alg.as_str())
    .bind(private_key)
    .bind(sealed_with)
    .bind(key.created_at)
    .bind(key.activates_at)
    .execute(executor)
    .await
    .map(drop)
    .map_err(StoreError::from_sqlx)
}

/// Stores one key of an account, inside the caller's transaction.
async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: i64,
    key: &NewKey,
    now: DateTime<Utc>,
    scopes: &Catalogue,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, slot, hash, created_at, scopes, name, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.id.as_str())
    .bind(account_id)
    .bind(key.slot.as_str())
    .bind(key.hash.as_bytes())
    .bind(now)
    .bind(encode_scopes(key.scopes, scopes))
    .bind(key.name.as_ref().map(|name| name.as_str()))
    .bind(key.expires_at)
    .execute(&mut **tx)
    .await
    .map(drop)
    .map_err(|err| {
        // Another key took the slot first (api_keys_one_active_per_slot).
        if is_unique_violation(&err) {
            StoreError::SlotChanged
        } else {
            StoreError::from_sqlx(err)
        }
    })
}

/// WAL pages after which a commit copies them back into the database (SQLite's default is
/// 1,000). The audit trail writes megabytes a second under load, and copying 4 MB at once
/// stalled requests sharing the writer's core for 4 ms; 100 pages keep each step short.
const WAL_CHECKPOINT_PAGES: u32 = 100;

/// Puts the database in WAL mode (readers never wait for the writer), once: the mode is kept in
/// the file. Asking for it on every new connection, as `journal_mode` in the connect options
/// does, needs a lock the busy timeout does not wait for, so a CLI opening its second connection
/// while servers write could fail with "database is locked".
async fn use_wal(pool: &SqlitePool) -> Result<(), StoreError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    if mode.eq_ignore_ascii_case("wal") {
        return Ok(());
    }
    let started = std::time::Instant::now();
    loop {
        match sqlx::query("PRAGMA journal_mode = WAL").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(err) if is_busy(&err) && started.elapsed() < BUSY_RETRY_FOR => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => return Err(StoreError::from_sqlx(err)),
        }
    }
}

/// How long switching to WAL keeps trying while the database is busy: the busy timeout's.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(5);

/// `SQLITE_BUSY` in any of its variants (`SQLITE_BUSY_SNAPSHOT`, ...).
fn is_busy(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

fn stored_key(row: &SqliteRow, scopes: &Catalogue) -> Result<StoredKey, StoreError> {
    let hash: Vec<u8> = row.get("hash");
    // A deleted account's keys were revoked with it; a key added by a racing rotation is too.
    let deleted = row.get::<Option<DateTime<Utc>>, _>("deleted_at").is_some();
    Ok(StoredKey {
        id: parse_id(row.get("id"))?,
        account: Arc::from(row.get::<&str, _>("account")),
        slot: parse_slot(row.get("slot"))?,
        hash: KeyHash::from_bytes(&hash).ok_or_else(|| StoreError::Corrupt("key hash".into()))?,
        revoked: deleted || row.get::<Option<DateTime<Utc>>, _>("revoked_at").is_some(),
        retires_at: if deleted { None } else { row.get("retires_at") },
        expires_at: row.get("expires_at"),
        scopes: parse_scopes(row.get("scopes"), scopes),
        settings: account_settings(row, scopes)?,
    })
}

/// The account's settings, from its columns (`scopes` as `account_scopes`).
fn account_settings(row: &SqliteRow, scopes: &Catalogue) -> Result<AccountSettings, StoreError> {
    SettingsColumns {
        scopes: row.get("account_scopes"),
        rate_limit_requests: row.get("rate_limit_requests"),
        rate_limit_window_secs: row.get("rate_limit_window_secs"),
        max_token_lifetime_secs: row.get("max_token_lifetime_secs"),
        disabled: row.get("disabled"),
    }
    .read(scopes)
}

fn admin_key_info(row: &SqliteRow) -> Result<AdminKeyInfo, StoreError> {
    Ok(AdminKeyInfo {
        id: parse_id(row.get("id"))?,
        name: row.get("name"),
        read_only: row.get("read_only"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}

fn account_record(row: &SqliteRow, scopes: &Catalogue) -> Result<AccountRecord, StoreError> {
    Ok(AccountRecord {
        name: row.get("name"),
        created_at: row.get("created_at"),
        settings: account_settings(row, scopes)?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_account(
        &self,
        name: &str,
        settings: &AccountSettings,
        keys: &[NewKey],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let columns = SettingsColumns::of(settings, &self.scopes);
        let mut tx = self.write_transaction().await?;
        let account_id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, created_at, scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .bind(columns.scopes)
        .bind(columns.rate_limit_requests)
        .bind(columns.rate_limit_window_secs)
        .bind(columns.max_token_lifetime_secs)
        .bind(columns.disabled)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::DuplicateAccount(name.to_owned())
            } else {
                StoreError::from_sqlx(err)
            }
        })?;
        for key in keys {
            insert_key(&mut tx, account_id, key, now, &self.scopes).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(
            "SELECT k.id, a.name AS account, k.slot, k.hash, k.revoked_at, k.retires_at,
                    k.expires_at, k.scopes,
                    a.deleted_at, a.scopes AS account_scopes, a.rate_limit_requests,
                    a.rate_limit_window_secs, a.max_token_lifetime_secs, a.disabled
             FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref()
            .map(|row| stored_key(row, &self.scopes))
            .transpose()
    }

    async fn rotate_key(
        &self,
        account: &str,
        expected: Option<&KeyId>,
        key: &NewKey,
        retire_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let account_id: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE name = ?")
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or_else(|| StoreError::UnknownAccount(account.to_owned()))?;
        // Keys retiring from earlier rotations end no later than the one replaced now.
        sqlx::query(
            "UPDATE api_keys SET retires_at = ?1
             WHERE account_id = ?2 AND slot = ?3 AND retires_at IS NOT NULL
               AND (?1 IS NULL OR julianday(retires_at) > julianday(?1))",
        )
        .bind(retire_until)
        .bind(account_id)
        .bind(key.slot.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if let Some(expected) = expected {
            // The compare-and-swap: the expected key retires only if it is still current.
            let swapped = sqlx::query(
                "UPDATE api_keys SET revoked_at = ?, retires_at = ?
                 WHERE id = ? AND account_id = ? AND slot = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(retire_until)
            .bind(expected.as_str())
            .bind(account_id)
            .bind(key.slot.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            if swapped.rows_affected() == 0 {
                return Err(StoreError::SlotChanged);
            }
        }
        // Without an expected key, a current key in the slot fails this insert: SlotChanged.
        insert_key(&mut tx, account_id, key, now, &self.scopes).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn current_key(&self, account: &str, slot: KeySlot) -> Result<Option<KeyId>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT k.id FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE a.name = ? AND k.slot = ? AND k.revoked_at IS NULL",
        )
        .bind(account)
        .bind(slot.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        id.as_deref().map(parse_id).transpose()
    }

    async fn slot_scopes(
        &self,
        account: &str,
        slot: KeySlot,
    ) -> Result<Option<ScopeSet>, StoreError> {
        let scopes: Option<Option<String>> = sqlx::query_scalar(
            "SELECT k.scopes FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE a.name = ? AND k.slot = ?
             ORDER BY k.created_at DESC LIMIT 1",
        )
        .bind(account)
        .bind(slot.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(parse_scopes(scopes.flatten().as_deref(), &self.scopes))
    }

    async fn list_keys(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        let account_id: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE name = ?")
            .bind(account)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or_else(|| StoreError::UnknownAccount(account.to_owned()))?;
        let rows = sqlx::query(
            "SELECT id, slot, created_at, last_used_at, scopes, name, expires_at, retires_at
             FROM api_keys
             WHERE account_id = ? AND (revoked_at IS NULL OR julianday(retires_at) > julianday(?))
             ORDER BY slot, revoked_at IS NOT NULL, julianday(retires_at) DESC",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                Ok(KeyInfo {
                    id: parse_id(row.get("id"))?,
                    slot: parse_slot(row.get("slot"))?,
                    created_at: row.get("created_at"),
                    last_used_at: row.get("last_used_at"),
                    scopes: parse_scopes(row.get("scopes"), &self.scopes),
                    name: row.get("name"),
                    expires_at: row.get("expires_at"),
                    retires_at: row.get("retires_at"),
                })
            })
            .collect()
    }

    async fn revoke_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
        // A retiring key's grace period ends at once.
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?), retires_at = NULL
             WHERE id = ? AND (revoked_at IS NULL OR retires_at IS NOT NULL)",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownKey(id.to_string()));
        }
        Ok(())
    }

    async fn find_account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, created_at, scopes AS account_scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled
             FROM accounts WHERE lower(name) = lower(?) AND deleted_at IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.as_ref()
            .map(|row| account_record(row, &self.scopes))
            .transpose()
    }

    async fn list_accounts(
        &self,
        range: &AccountRange<'_>,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        // SQLite's lower() folds ASCII only, and names are ASCII: one order, bytewise.
        let rows = sqlx::query(
            "SELECT name, created_at, scopes AS account_scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled
             FROM accounts
             WHERE substr(lower(name), 1, length(?)) = ? AND (? IS NULL OR lower(name) > ?)
               AND deleted_at IS NULL
             ORDER BY lower(name) LIMIT ?",
        )
        .bind(range.prefix)
        .bind(range.prefix)
        .bind(range.after)
        .bind(range.after)
        .bind(range.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| account_record(row, &self.scopes))
            .collect()
    }

    async fn update_account(
        &self,
        name: &str,
        change: &SettingsChange,
    ) -> Result<AccountRecord, StoreError> {
        fn keep<T>(change: &Change<T>) -> bool {
            matches!(change, Change::Keep)
        }
        let set = SettingsColumns::of(&change.initial(), &self.scopes);
        // One statement: two updates of different settings never undo each other.
        let row = sqlx::query(
            "UPDATE accounts SET
                 scopes = CASE WHEN ? THEN scopes ELSE ? END,
                 rate_limit_requests = CASE WHEN ? THEN rate_limit_requests ELSE ? END,
                 rate_limit_window_secs = CASE WHEN ? THEN rate_limit_window_secs ELSE ? END,
                 max_token_lifetime_secs =
                     CASE WHEN ? THEN max_token_lifetime_secs ELSE ? END,
                 disabled = CASE WHEN ? THEN disabled ELSE ? END
             WHERE lower(name) = lower(?) AND deleted_at IS NULL
             RETURNING name, created_at, scopes AS account_scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled",
        )
        .bind(keep(&change.scopes))
        .bind(set.scopes)
        .bind(keep(&change.rate_limit))
        .bind(set.rate_limit_requests)
        .bind(keep(&change.rate_limit))
        .bind(set.rate_limit_window_secs)
        .bind(keep(&change.max_token_lifetime))
        .bind(set.max_token_lifetime_secs)
        .bind(keep(&change.disabled))
        .bind(set.disabled)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        .ok_or_else(|| StoreError::UnknownAccount(name.to_owned()))?;
        account_record(&row, &self.scopes)
    }

    async fn delete_account(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyId>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let account_id: i64 = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE lower(name) = lower(?) AND deleted_at IS NULL",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?
        .ok_or_else(|| StoreError::UnknownAccount(name.to_owned()))?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = ?
             WHERE account_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query("UPDATE accounts SET deleted_at = ? WHERE id = ?")
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        revoked.iter().map(String::as_str).map(parse_id).collect()
    }

    async fn create_admin_key(
        &self,
        key: &NewAdminKey,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_keys (id, name, hash, read_only, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_str())
        .bind(key.name.as_str())
        .bind(key.hash.as_bytes())
        .bind(key.read_only)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(StoreError::from_sqlx)
    }

    async fn find_admin_key(&self, id: &KeyId) -> Result<Option<StoredAdminKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, hash, read_only, created_at, revoked_at FROM admin_keys WHERE id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.map(|row| {
            let hash: Vec<u8> = row.get("hash");
            Ok(StoredAdminKey {
                info: admin_key_info(&row)?,
                hash: KeyHash::from_bytes(&hash)
                    .ok_or_else(|| StoreError::Corrupt("admin key hash".into()))?,
            })
        })
        .transpose()
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, read_only, created_at, revoked_at FROM admin_keys
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter().map(admin_key_info).collect()
    }

    async fn revoke_admin_key(&self, id: &KeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE admin_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownKey(id.to_string()));
        }
        Ok(())
    }

    async fn record_usage(&self, used: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ?
                 WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            )
            .bind(at)
            .bind(id.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn signing_secret(
        &self,
        proposed: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError> {
        let (secret, sealed_with) = super::to_store(
            self.master_keys.as_ref(),
            SealedRow::SigningSecret,
            proposed,
        );
        sqlx::query("INSERT INTO signing_secrets (id, secret, sealed_with, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
            .bind(secret)
            .bind(sealed_with)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let row = sqlx::query("SELECT secret, sealed_with FROM signing_secrets WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let opened = super::from_store(
            self.master_keys.as_ref(),
            SealedRow::SigningSecret,
            row.get("secret"),
            row.get("sealed_with"),
        )?;
        Ok(opened.expose_secret().to_vec())
    }

    async fn seal_signing_secrets(&self, rewrap: bool) -> Result<u64, StoreError> {
        let keys = self.master_keys.as_ref();
        // One transaction: every secret moves to the current key, or none does.
        let mut tx = self.write_transaction().await?;
        let mut sealed = 0;
        let secret = sqlx::query("SELECT secret, sealed_with FROM signing_secrets WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if let Some(row) = secret {
            let stored = (row.get("secret"), row.get("sealed_with"));
            if let Some((bytes, key_id)) =
                super::resealed(keys, SealedRow::SigningSecret, stored.0, stored.1, rewrap)?
            {
                sqlx::query("UPDATE signing_secrets SET secret = ?, sealed_with = ? WHERE id = 1")
                    .bind(bytes)
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                sealed += 1;
            }
        }
        let rows = sqlx::query("SELECT kid, private_key, sealed_with FROM signing_keys")
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        for row in rows {
            let kid: String = row.get("kid");
            let (bytes, sealed_with) = (row.get("private_key"), row.get("sealed_with"));
            if let Some((bytes, key_id)) = super::resealed(
                keys,
                SealedRow::SigningKey(&kid),
                bytes,
                sealed_with,
                rewrap,
            )? {
                sqlx::query(
                    "UPDATE signing_keys SET private_key = ?, sealed_with = ? WHERE kid = ?",
                )
                .bind(bytes)
                .bind(key_id)
                .bind(&kid)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                sealed += 1;
            }
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        if sealed > 0 {
            // The pages holding what was replaced are in the main file until a checkpoint,
            // and in the WAL until it is truncated.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(sealed)
    }

    async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_key, sealed_with, created_at, activates_at, revoked_at
             FROM signing_keys WHERE alg = ? ORDER BY activates_at, created_at",
        )
        .bind(alg.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                let kid: String = row.get("kid");
                let private_der = super::from_store(
                    self.master_keys.as_ref(),
                    SealedRow::SigningKey(&kid),
                    row.get("private_key"),
                    row.get("sealed_with"),
                )?;
                Ok(KeyPairRecord {
                    kid,
                    alg,
                    private_der,
                    created_at: row.get("created_at"),
                    activates_at: row.get("activates_at"),
                    revoked_at: row.get("revoked_at"),
                })
            })
            .collect()
    }

    async fn add_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError> {
        insert_signing_key(&self.pool, self.master_keys.as_ref(), key).await
    }

    async fn add_first_signing_key(&self, key: &KeyPairRecord) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        // Concurrent first keys meet at the primary key: one is recorded, the others wait for
        // it and then do nothing.
        let recorded = sqlx::query(
            "INSERT INTO signing_key_genesis (alg, kid) VALUES (?, ?) ON CONFLICT (alg) DO NOTHING",
        )
        .bind(key.alg.as_str())
        .bind(&key.kid)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if recorded.rows_affected() == 0 {
            return tx.rollback().await.map_err(StoreError::from_sqlx);
        }
        insert_signing_key(&mut *tx, self.master_keys.as_ref(), key).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: Option<&KeyPairRecord>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let revoked = sqlx::query(
            "UPDATE signing_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(kid)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if revoked.rows_affected() == 0 {
            return Err(StoreError::UnknownKey(kid.to_owned()));
        }
        if let Some(key) = replacement {
            insert_signing_key(&mut *tx, self.master_keys.as_ref(), key).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn watch(&self) -> Result<Box<dyn ChangeWatch>, StoreError> {
        let last = generation(&self.pool).await?;
        Ok(Box::new(GenerationPoll {
            pool: self.pool.clone(),
            last,
        }))
    }

    async fn record_audit(&self, batches: &[AuditBatch]) -> Result<(), StoreError> {
        // One statement per batch, so the database thread works in short steps; the chain's
        // head is locked for the transaction, so batches link in the order of their ids.
        let mut tx = self.write_transaction().await?;
        let head: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT head_link FROM audit_chain WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?
                .flatten();
        let mut previous = head
            .as_deref()
            .and_then(|link| audit_chain::Link::try_from(link).ok())
            .unwrap_or(audit_chain::GENESIS);
        let mut head_id = None;
        for batch in batches {
            let micros = batch.last_at.timestamp_micros();
            let next = audit_chain::link(&previous, micros, &batch.events);
            let id = sqlx::query(
                "INSERT INTO audit_batches (first_at_micros, last_at_micros, events, link)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(batch.first_at.timestamp_micros())
            .bind(micros)
            .bind(&batch.events)
            .bind(next.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?
            .last_insert_rowid();
            previous = next;
            head_id = Some(id);
        }
        if let Some(id) = head_id {
            sqlx::query("UPDATE audit_chain SET head_id = ?, head_link = ? WHERE id = 1")
                .bind(id)
                .bind(previous.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // A prefix of the chain, in slices each well inside the statement deadline however much
        // is due; the anchor moves to the last batch pruned, so what stays still verifies.
        // Batches below the cutoff never change (the chain only grows at its head), so they are
        // read outside the short transaction that deletes them and moves the anchor.
        let mut pruned = 0;
        loop {
            // One statement, one snapshot: the first batch to keep, or past the last when all
            // are due (never "no limit": a batch written meanwhile is not due).
            let cutoff: Option<i64> = sqlx::query_scalar(
                "SELECT COALESCE(MIN(id) FILTER (WHERE last_at_micros >= ?), MAX(id) + 1)
                 FROM audit_batches",
            )
            .bind(before.timestamp_micros())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
            let Some(cutoff) = cutoff else {
                return Ok(pruned);
            };
            let slice: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT id, link FROM audit_batches WHERE id < ? ORDER BY id LIMIT 2000",
            )
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
            let Some((last, link)) = slice.last().cloned() else {
                return Ok(pruned);
            };
            let mut tx = self.write_transaction().await?;
            sqlx::query("DELETE FROM audit_batches WHERE id <= ?")
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            if link.is_some() {
                sqlx::query(
                    "UPDATE audit_chain SET anchor_id = ?1, anchor_link = ?2 WHERE id = 1 AND (anchor_id IS NULL OR anchor_id < ?1)",
                )
                .bind(last)
                .bind(link)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            }
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            pruned += slice.len() as u64;
            if slice.len() < 2000 {
                return Ok(pruned);
            }
        }
    }

    async fn audit_chain_ends(&self) -> Result<(Option<ChainEnd>, Option<ChainEnd>), StoreError> {
        let row: (Option<i64>, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT anchor_id, anchor_link, head_id, head_link FROM audit_chain WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let end =
            |id: Option<i64>, link: Option<Vec<u8>>| -> Result<Option<ChainEnd>, StoreError> {
                match (id, link) {
                    (Some(id), Some(link)) => Ok(Some(ChainEnd {
                        id,
                        link: audit_chain::Link::try_from(link.as_slice()).map_err(|_| {
                            StoreError::Corrupt(format!("audit chain link of batch {id}"))
                        })?,
                    })),
                    _ => Ok(None),
                }
            };
        Ok((end(row.0, row.1)?, end(row.2, row.3)?))
    }

    async fn audit_batches_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChainedBatch>, StoreError> {
        let rows: Vec<(i64, i64, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT id, last_at_micros, events, link FROM audit_batches WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(id, last_at_micros, events, link)| ChainedBatch {
                id,
                last_at_micros,
                events,
                link,
            })
            .collect())
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let since = query.since.map_or(i64::MIN, |at| at.timestamp_micros());
        let batches = sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT id, last_at_micros, events FROM audit_batches
             WHERE last_at_micros >= ? AND (first_at_micros IS NULL OR first_at_micros <= ?)
             ORDER BY last_at_micros DESC, id DESC",
        )
        .bind(since)
        .bind(super::resumed_at(query))
        .fetch(&self.pool);
        super::newest_events(batches, query).await
    }

    async fn revoke_token(
        &self,
        jti: uuid::Uuid,
        account: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, account, expires_at, revoked_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti.hyphenated().to_string())
        .bind(account)
        .bind(expires_at.timestamp())
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(StoreError::from_sqlx)
    }

    async fn revoked_tokens(
        &self,
        expiring_from: DateTime<Utc>,
    ) -> Result<Vec<(uuid::Uuid, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= ?",
        )
        .bind(expiring_from.timestamp())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|(jti, expires_at)| {
                let expires_at = DateTime::from_timestamp(*expires_at, 0)
                    .ok_or_else(|| StoreError::Corrupt(format!("expiry {expires_at}")))?;
                Ok((parse_jti(jti)?, expires_at))
            })
            .collect()
    }

    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < ?")
            .bind(before.timestamp())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(StoreError::from_sqlx)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(StoreError::from_sqlx)
    }
}

/// How often an instance on SQLite looks for changes made by other processes: far inside the
/// one-second bound on honouring a dead key, and one indexed read each time.
const POLL_EVERY: Duration = Duration::from_millis(100);

async fn generation(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT n FROM key_generation WHERE id = 1")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)
}

/// Watches the trigger-maintained `key_generation` counter.
struct GenerationPoll {
    pool: SqlitePool,
    last: i64,
}

#[async_trait]
impl ChangeWatch for GenerationPoll {
    async fn changed(&mut self) -> Result<(), StoreError> {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let now = generation(&self.pool).await?;
            if now != self.last {
                self.last = now;
                return Ok(());
            }
        }
    }
}
