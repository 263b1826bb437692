use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

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

/// PostgreSQL, for several instances sharing one database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    timeout: Duration,
    /// Names keys' scopes.
    scopes: Arc<Catalogue>,
    /// Seal the signing secrets at rest.
    master_keys: Option<Arc<MasterKeys>>,
}

impl PostgresStore {
    pub async fn connect(url: &str, store: super::StoreOptions) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?;
        // Migrations on a connection of their own, without the deadlines: an instance may
        // have to wait for another one's migration (an advisory lock) for longer.
        let connecting = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options);
        let mut migrating = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| StoreError::TimedOut)?
            .map_err(StoreError::from_sqlx)?;
        sqlx::migrate!("src/store/migrations/postgres")
            .run(&mut migrating)
            .await
            .map_err(|err| StoreError::Database(err.into()))?;
        let _ = sqlx::Connection::close(migrating).await;
        // Every statement is bounded where the database can enforce it, so that a table
        // locked by maintenance (VACUUM FULL, ALTER) fails a write in time, rather than
        // holding a connection, and the task waiting on it, for as long as the lock lasts.
        let millis = store.timeout.as_millis().to_string();
        let mut options = options.options([
            ("statement_timeout", millis.as_str()),
            ("lock_timeout", millis.as_str()),
        ]);
        if store.durable_commits {
            // A commit a token waited for is on disk, even if the server says otherwise.
            options = options.options([("synchronous_commit", "on")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(store.timeout.max(Duration::from_secs(1)))
            // sqlx's default pings every connection it hands out: a round trip more for each
            // transaction, a commit that tokens wait for included. A connection that served a
            // moment ago is taken as alive, as HikariCP does (its aliveBypassWindowMs, 500 ms);
            // one idle for longer is pinged, and replaced if dead.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Self {
            pool,
            timeout: store.timeout,
            scopes: store.scopes,
            master_keys: store.master_keys,
        })
    }
}

/// Stores a key pair (sealed if `keys`), on the pool or inside the caller's transaction.
async fn insert_signing_key<'e>(
    executor: impl sqlx::PgExecutor<'e>,
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
         VALUES ($1, $2, $3, $4, $5, $6)",
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
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: i64,
    key: &NewKey,
    now: DateTime<Utc>,
    scopes: &Catalogue,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, slot, hash, created_at, scopes, name, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

fn stored_key(row: &PgRow, scopes: &Catalogue) -> Result<StoredKey, StoreError> {
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
fn account_settings(row: &PgRow, scopes: &Catalogue) -> Result<AccountSettings, StoreError> {
    SettingsColumns {
        scopes: row.get("account_scopes"),
        rate_limit_requests: row.get("rate_limit_requests"),
        rate_limit_window_secs: row.get("rate_limit_window_secs"),
        max_token_lifetime_secs: row.get("max_token_lifetime_secs"),
        disabled: row.get("disabled"),
    }
    .read(scopes)
}

fn admin_key_info(row: &PgRow) -> Result<AdminKeyInfo, StoreError> {
    Ok(AdminKeyInfo {
        id: parse_id(row.get("id"))?,
        name: row.get("name"),
        read_only: row.get("read_only"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}

fn account_record(row: &PgRow, scopes: &Catalogue) -> Result<AccountRecord, StoreError> {
    Ok(AccountRecord {
        name: row.get("name"),
        created_at: row.get("created_at"),
        settings: account_settings(row, scopes)?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create_account(
        &self,
        name: &str,
        settings: &AccountSettings,
        keys: &[NewKey],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let columns = SettingsColumns::of(settings, &self.scopes);
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let account_id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, created_at, scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
             WHERE k.id = $1",
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
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let account_id: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE name = $1")
            .bind(account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or_else(|| StoreError::UnknownAccount(account.to_owned()))?;
        // Keys retiring from earlier rotations end no later than the one replaced now.
        sqlx::query(
            "UPDATE api_keys SET retires_at = $1
             WHERE account_id = $2 AND slot = $3 AND retires_at IS NOT NULL
               AND ($1::timestamptz IS NULL OR retires_at > $1)",
        )
        .bind(retire_until)
        .bind(account_id)
        .bind(key.slot.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if let Some(expected) = expected {
            // The compare-and-swap: the expected key retires only if it is still current. A
            // concurrent rotation holds its row until it commits; then this finds it retired.
            let swapped = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1, retires_at = $2
                 WHERE id = $3 AND account_id = $4 AND slot = $5 AND revoked_at IS NULL",
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
             WHERE a.name = $1 AND k.slot = $2 AND k.revoked_at IS NULL",
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
             WHERE a.name = $1 AND k.slot = $2
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
        let account_id: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE name = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or_else(|| StoreError::UnknownAccount(account.to_owned()))?;
        let rows = sqlx::query(
            "SELECT id, slot, created_at, last_used_at, scopes, name, expires_at, retires_at
             FROM api_keys
             WHERE account_id = $1 AND (revoked_at IS NULL OR retires_at > $2)
             ORDER BY slot, revoked_at IS NOT NULL, retires_at DESC",
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
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1), retires_at = NULL
             WHERE id = $2 AND (revoked_at IS NULL OR retires_at IS NOT NULL)",
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
             FROM accounts WHERE lower(name) = lower($1) AND deleted_at IS NULL",
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
        // Bytewise ("C"), as SQLite orders: the database's own collation may be a locale's.
        let rows = sqlx::query(
            r#"SELECT name, created_at, scopes AS account_scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled
               FROM accounts
               WHERE substr(lower(name), 1, length($1)) = $1 AND deleted_at IS NULL
                 AND ($2::text IS NULL OR lower(name) COLLATE "C" > $2)
               ORDER BY lower(name) COLLATE "C" LIMIT $3"#,
        )
        .bind(range.prefix)
        .bind(range.after)
        .bind(i64::from(range.limit))
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
                 scopes = CASE WHEN $1 THEN scopes ELSE $2 END,
                 rate_limit_requests = CASE WHEN $3 THEN rate_limit_requests ELSE $4 END,
                 rate_limit_window_secs = CASE WHEN $3 THEN rate_limit_window_secs ELSE $5 END,
                 max_token_lifetime_secs =
                     CASE WHEN $6 THEN max_token_lifetime_secs ELSE $7 END,
                 disabled = CASE WHEN $8 THEN disabled ELSE $9 END
             WHERE lower(name) = lower($10) AND deleted_at IS NULL
             RETURNING name, created_at, scopes AS account_scopes, rate_limit_requests,
                 rate_limit_window_secs, max_token_lifetime_secs, disabled",
        )
        .bind(keep(&change.scopes))
        .bind(set.scopes)
        .bind(keep(&change.rate_limit))
        .bind(set.rate_limit_requests)
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
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let account_id: i64 = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE lower(name) = lower($1) AND deleted_at IS NULL FOR UPDATE",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?
        .ok_or_else(|| StoreError::UnknownAccount(name.to_owned()))?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = $1
             WHERE account_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query("UPDATE accounts SET deleted_at = $1 WHERE id = $2")
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
            "INSERT INTO admin_keys (id, name, hash, read_only, created_at)
             VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT id, name, hash, read_only, created_at, revoked_at FROM admin_keys
             WHERE id = $1",
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
        let done = sqlx::query(
            "UPDATE admin_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
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

    async fn record_usage(&self, used: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
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
        sqlx::query("INSERT INTO signing_secrets (id, secret, sealed_with, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING")
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
        // One transaction, rows locked: every secret moves to the current key, or none does,
        // and two rotations at once take turns.
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let mut sealed = 0;
        let secret =
            sqlx::query("SELECT secret, sealed_with FROM signing_secrets WHERE id = 1 FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        if let Some(row) = secret {
            let stored = (row.get("secret"), row.get("sealed_with"));
            if let Some((bytes, key_id)) =
                super::resealed(keys, SealedRow::SigningSecret, stored.0, stored.1, rewrap)?
            {
                sqlx::query(
                    "UPDATE signing_secrets SET secret = $1, sealed_with = $2 WHERE id = 1",
                )
                .bind(bytes)
                .bind(key_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                sealed += 1;
            }
        }
        let rows = sqlx::query("SELECT kid, private_key, sealed_with FROM signing_keys FOR UPDATE")
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
                    "UPDATE signing_keys SET private_key = $1, sealed_with = $2 WHERE kid = $3",
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
        Ok(sealed)
    }

    async fn signing_keys(&self, alg: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_key, sealed_with, created_at, activates_at, revoked_at
             FROM signing_keys WHERE alg = $1 ORDER BY activates_at, created_at",
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
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        // Concurrent first keys meet at the primary key: one is recorded, the others wait for
        // it and then do nothing.
        let recorded = sqlx::query(
            "INSERT INTO signing_key_genesis (alg, kid) VALUES ($1, $2) ON CONFLICT (alg) DO NOTHING",
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
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let revoked = sqlx::query(
            "UPDATE signing_keys SET revoked_at = $1 WHERE kid = $2 AND revoked_at IS NULL",
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
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(StoreError::from_sqlx)?;
        // The schema our tables resolve to, as the triggers name it (TG_TABLE_SCHEMA).
        let schema: String = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = 'api_keys'::regclass",
        )
        .fetch_one(&mut listener)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Box::new(Notifications {
            listener,
            schema,
            timeout: self.timeout,
        }))
    }

    async fn record_audit(&self, batches: &[AuditBatch]) -> Result<(), StoreError> {
        // One statement per batch, so the database thread works in short steps; the chain's
        // head is locked for the transaction, so batches link in the order of their ids.
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let head: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT head_link FROM audit_chain WHERE id = 1 FOR UPDATE")
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
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO audit_batches (first_at_micros, last_at_micros, events, link)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(batch.first_at.timestamp_micros())
            .bind(micros)
            .bind(&batch.events)
            .bind(next.as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            previous = next;
            head_id = Some(id);
        }
        if let Some(id) = head_id {
            sqlx::query("UPDATE audit_chain SET head_id = $1, head_link = $2 WHERE id = 1")
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
                "SELECT COALESCE(MIN(id) FILTER (WHERE last_at_micros >= $1), MAX(id) + 1)
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
                "SELECT id, link FROM audit_batches WHERE id < $1 ORDER BY id LIMIT 2000",
            )
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
            let Some((last, link)) = slice.last().cloned() else {
                return Ok(pruned);
            };
            let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
            sqlx::query("DELETE FROM audit_batches WHERE id <= $1")
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            if link.is_some() {
                sqlx::query(
                    "UPDATE audit_chain SET anchor_id = $1, anchor_link = $2 WHERE id = 1 AND (anchor_id IS NULL OR anchor_id < $1)",
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
            "SELECT id, last_at_micros, events, link FROM audit_batches WHERE id > $1 ORDER BY id LIMIT $2",
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
             WHERE last_at_micros >= $1 AND (first_at_micros IS NULL OR first_at_micros <= $2)
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
            "INSERT INTO revoked_tokens (jti, account, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti.hyphenated().to_string())
        .bind(account)
        .bind(expires_at)
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
        let rows = sqlx::query_as::<_, (String, DateTime<Utc>)>(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1",
        )
        .bind(expiring_from)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.iter()
            .map(|(jti, expires_at)| Ok((parse_jti(jti)?, *expires_at)))
            .collect()
    }

    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(before)
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

/// How long the change feed may stay quiet before its connection is checked. The check may
/// then take the store's timeout: a slow database is not a dead one.
const QUIET_FOR: Duration = Duration::from_millis(400);

/// How long a pooled connection may idle and still be handed out without a ping.
const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

/// How long opening the first connection may take: a database that drops packets silently
/// would otherwise hold startup until TCP gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel the key triggers notify (migration 0002).
const CHANNEL: &str = "keymint_keys";

/// `LISTEN keymint_keys`: every rotation, revocation or new key, as it commits.
struct Notifications {
    listener: PgListener,
    /// The channel is the database's: only announcements naming this schema are ours
    /// (migration 0017).
    schema: String,
    timeout: Duration,
}

#[async_trait]
impl ChangeWatch for Notifications {
    async fn changed(&mut self) -> Result<(), StoreError> {
        loop {
            match tokio::time::timeout(QUIET_FOR, self.listener.try_recv()).await {
                // An empty payload is an instance from before migration 0017: taken as ours.
                Ok(Ok(Some(notice))) => {
                    if notice.payload().is_empty() || notice.payload() == self.schema {
                        return Ok(());
                    }
                }
                // The connection dropped. Report the feed as lost, not as a change: the cache
                // keeps serving (forward-auth survives an outage) and is cleared once a new
                // subscription is in place, since notifications may have been missed meanwhile.
                Ok(Ok(None)) => return Err(StoreError::ChangesUnknown),
                Ok(Err(err)) => return Err(StoreError::from_sqlx(err)),
                // Quiet for a while: a connection a firewall silently dropped is quiet too, so
                // make sure this one still answers, within the same short bound.
                Err(_) => {
                    let ping = sqlx::query("SELECT 1").execute(&mut self.listener);
                    match tokio::time::timeout(self.timeout, ping).await {
                        Ok(Ok(_)) => {}
                        _ => return Err(StoreError::ChangesUnknown),
                    }
                }
            }
        }
    }
}
