//! The database goes away and comes back, for real: a TCP proxy in front of PostgreSQL is cut
//! and restored. Token endpoints answer their dialect's 503 meanwhile, forward-auth keeps
//! serving tokens from the cache, and everything recovers by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use keymint::cli::AuditMode;

use crate::helpers::{self, TestApp};

/// A TCP proxy that can be cut (every connection dropped, new ones refused), frozen (every
/// connection kept open but silent, as a firewall that drops packets), slowed (each chunk held
/// for a while, as a distant database) and restored.
pub struct Proxy {
    pub address: String,
    up: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Copies one direction until EOF, holding bytes back while `frozen`, and each chunk for
/// `delay_ms`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2, frozen2) = (up.clone(), links.clone(), frozen.clone());
        let delay2 = delay_ms.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let target = target.clone();
                let frozen = frozen2.clone();
                let delay = delay2.clone();
                links2.lock().await.push(tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, frozen.clone(), delay.clone()),
                            pump(server_read, client_write, frozen, delay),
                        );
                    }
                }));
            }
        });
        Self {
            address,
            up,
            frozen,
            delay_ms,
            links,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    /// Holds every chunk, each way, for `delay`: a round trip takes twice that at least.
    fn slow_down(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A fresh schema of the run's PostgreSQL database, reached through a [`Proxy`] (and directly,
/// for what the test does behind keymint's back).
struct ProxiedDatabase {
    proxy: Proxy,
    /// Through the proxy.
    url: String,
    /// Straight to PostgreSQL.
    direct_url: String,
}

impl ProxiedDatabase {
    /// PostgreSQL is part of the test bed ([`helpers::postgres_url`]).
    async fn start() -> Self {
        let base = helpers::postgres_url();
        let url = reqwest::Url::parse(&base).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let proxy = Proxy::start(target).await;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .unwrap_or_else(|err| {
                panic!("PostgreSQL at {base} (KEYMINT_TEST_POSTGRES_URL): {err}")
            });
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut proxied = url.clone();
        proxied
            .set_port(Some(
                proxy.address.rsplit(':').next().unwrap().parse().unwrap(),
            ))
            .unwrap();
        Self {
            proxy,
            url: format!("{proxied}?options=-c%20search_path%3D{schema}"),
            direct_url: format!("{base}?options=-c%20search_path%3D{schema}"),
        }
    }

    /// keymint on this database, through the proxy, with the store deadlines `configure` sets.
    async fn spawn(&self, configure: impl FnOnce(&mut keymint::cli::ServeArgs)) -> TestApp {
        let mut settings = helpers::default_settings();
        settings.rate_limit = "1000/1s".parse().unwrap();
        configure(&mut settings);
        let store = keymint::store::connect_with(&self.url, helpers::store_options(&settings))
            .await
            .unwrap();
        helpers::spawn_with_settings(
            store,
            self.url.clone(),
            tempfile::tempdir().unwrap(),
            settings,
        )
        .await
    }

    /// What `VACUUM FULL`, `ALTER` or `CLUSTER` take on the audit table, held until the
    /// returned transaction is rolled back or dropped.
    async fn lock_audit_table(&self) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let pool = sqlx::PgPool::connect(&self.direct_url).await.unwrap();
        let mut lock = pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE audit_batches IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *lock)
            .await
            .unwrap();
        lock
    }

    /// An account made before any instance listens, so no announcement of it can empty an
    /// instance's key cache after the test has warmed it.
    async fn account_made_beforehand(&self, name: &str) -> helpers::TestAccount {
        let store = helpers::connect_store(&self.direct_url).await.unwrap();
        helpers::create_account_in(&store, name).await
    }

    /// A connection straight to the schema, bypassing the proxy.
    async fn direct(&self) -> sqlx::PgConnection {
        <sqlx::PgConnection as sqlx::Connection>::connect(&self.direct_url)
            .await
            .unwrap()
    }
}

/// Repeats `probe` until it returns true, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Asks every token dialect for a token with `key`: its status and body.
async fn statuses(
    app: &TestApp,
    key: &crate::helpers::TestKey,
) -> Vec<(helpers::Dialect, StatusCode, Value)> {
    let mut out = Vec::new();
    for dialect in helpers::dialects() {
        let response = app.ask_token(dialect, key).await;
        let status = response.status();
        out.push((
            dialect,
            status,
            response.json().await.unwrap_or(Value::Null),
        ));
    }
    out
}

#[tokio::test]
async fn a_database_outage_is_a_503_per_dialect_forward_auth_carries_on_and_all_recovers() {
    let database = ProxiedDatabase::start().await;
    let proxy = &database.proxy;
    // Buffered audit: each 503 is the outage's, not a token's record failing to be written.
    let acme = database.account_made_beforehand("acme").await;
    let app = database.spawn(|s| s.audit = AuditMode::Buffered).await;
    let token = app.token_for(&acme.primary.secret).await;
    let bearer = || helpers::bearer(&token);
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer())
            .await
            .status(),
        StatusCode::OK
    );

    proxy.cut().await;

    // Minting stops with each dialect's own 503.
    assert!(
        eventually(Duration::from_secs(10), || async {
            statuses(&app, &acme.primary)
                .await
                .iter()
                .all(|(_, s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        })
        .await,
        "token endpoints did not answer 503 while the database was down"
    );
    for (dialect, status, body) in statuses(&app, &acme.primary).await {
        dialect.assert_error(status, &body, "database down");
    }
    // Forward-auth still verifies the token from the cache; readiness says the truth.
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.restore();

    assert!(
        eventually(Duration::from_secs(15), || async {
            statuses(&app, &acme.primary)
                .await
                .iter()
                .all(|(_, s, _)| *s == StatusCode::OK)
        })
        .await,
        "token endpoints did not recover after the database came back"
    );
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_silently_dead_change_feed_stops_minting_on_cached_keys_within_a_second() {
    let database = ProxiedDatabase::start().await;
    let proxy = &database.proxy;
    // A short store deadline: a connection silent for 0.4 s is checked, and given 0.4 s more.
    // Buffered audit: a refusal is the dead feed's, not a token's record failing to be written.
    let acme = database.account_made_beforehand("acme").await;
    let app = database
        .spawn(|s| {
            s.store_timeout = Duration::from_millis(400);
            s.audit = AuditMode::Buffered;
        })
        .await;
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
            .await
            .status(),
        StatusCode::OK
    );

    // The database stays up; only this instance's connections go silent. The key is revoked
    // behind its back.
    proxy.freeze(true);
    let direct = crate::helpers::connect_store(&database.direct_url)
        .await
        .unwrap();
    direct
        .revoke_key(&acme.primary.id.parse().unwrap(), chrono::Utc::now())
        .await
        .unwrap();
    let revoked_at = Instant::now();

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let status = app
        .volubile_token(&acme.primary.secret, &json!({"scope": []}))
        .await
        .status();
    assert_ne!(
        status,
        StatusCode::OK,
        "a revoked key still minted {:?} after revocation",
        revoked_at.elapsed()
    );

    proxy.freeze(false);
    assert!(
        eventually(Duration::from_secs(15), || async {
            app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
                .await
                .status()
                == StatusCode::UNAUTHORIZED
        })
        .await,
        "after the feed came back the revoked key was not refused"
    );
}

/// The instance's JWKS key ids.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_blocked_audit_write_neither_stalls_key_reloads_nor_loses_its_events() {
    let database = ProxiedDatabase::start().await;
    // Buffered audit: tokens do not wait for their events (durable audit answers 503 here,
    // tests/api/durable_audit.rs).
    let app = database
        .spawn(|s| {
            s.signing_alg = keymint::core::keyring::SigningAlg::Es256;
            s.store_timeout = Duration::from_millis(500);
            s.audit = AuditMode::Buffered;
        })
        .await;
    let acme = app.create_account("acme").await;

    // Maintenance holds the audit table (what VACUUM FULL, ALTER or CLUSTER take).
    let lock = database.lock_audit_table().await;
    for _ in 0..20 {
        assert_eq!(
            app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
                .await
                .status(),
            StatusCode::OK
        );
    }

    // A signing key rotated meanwhile is still published here within moments.
    let rotated = crate::helpers::connect_store(&database.direct_url)
        .await
        .unwrap();
    let next = keymint::core::admin::KeyAdmin::new(
        rotated,
        Arc::new(keymint::core::clock::SystemClock),
        Default::default(),
    )
    .rotate_signing_key(
        keymint::core::keyring::SigningAlg::Es256,
        chrono::Duration::seconds(300),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || async {
            published_kids(&app).await.contains(&next.kid)
        })
        .await,
        "the key reload waited on the blocked audit write"
    );
    assert!(
        eventually(Duration::from_secs(3), || async {
            let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
            let metrics = metrics.text().await.unwrap();
            metrics.contains(r#"keymint_store_write_failures_total{job="audit"}"#)
        })
        .await,
        "the stalled write shows in the metrics"
    );

    // Once the table is free, every event is written.
    lock.rollback().await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            let events: Vec<(String,)> = sqlx::query_as("SELECT events FROM audit_batches")
                .fetch_all(&mut database.direct().await)
                .await
                .unwrap();
            let issued: usize = events
                .iter()
                .map(|(e,)| e.matches("\"issued\"").count())
                .sum();
            issued == 20
        })
        .await,
        "events written once the lock went"
    );
}

#[tokio::test]
async fn a_slow_database_gives_slow_answers_and_readiness_agrees_with_the_token_endpoints() {
    let database = ProxiedDatabase::start().await;
    // Buffered audit: a durable commit is several round trips, which at over half a second
    // each overrun the store deadline (docs/security.md says so).
    let acme = database.account_made_beforehand("acme").await;
    let app = database.spawn(|s| s.audit = AuditMode::Buffered).await;

    // Every round trip now takes over half a second.
    database.proxy.slow_down(Duration::from_millis(300));
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let status = app
            .volubile_token(&acme.primary.secret, &json!({"scope": []}))
            .await
            .status();
        let ready = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status != StatusCode::OK {
            refused += 1;
            assert_eq!(
                ready,
                StatusCode::SERVICE_UNAVAILABLE,
                "refused while 'ready'"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused, 0, "a slow database is not a lost one");
}

#[tokio::test]
async fn a_revocation_no_trigger_announced_is_honoured_within_the_cache_ttl() {
    let database = ProxiedDatabase::start().await;
    let app = database
        .spawn(|s| s.key_cache_ttl = Duration::from_secs(1))
        .await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );

    // Written the way pg_restore --disable-triggers and logical replication write: unannounced.
    let mut direct = database.direct().await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut direct)
        .await
        .unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(&acme.primary.id)
        .execute(&mut direct)
        .await
        .unwrap();

    assert!(
        eventually(Duration::from_secs(3), || async {
            app.volubile_token(&acme.primary.secret, &body)
                .await
                .status()
                == StatusCode::UNAUTHORIZED
        })
        .await,
        "the revoked key kept minting"
    );
}

#[tokio::test]
async fn a_token_revocation_no_trigger_announced_is_honoured_within_the_periodic_reload() {
    let database = ProxiedDatabase::start().await;
    let app = database.spawn(|_| {}).await;
    let acme = app.create_account("acme").await;
    let sentinel = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    assert_eq!(app.calls(&token).await, StatusCode::OK);
    let mut direct = database.direct().await;
    let revoke = "INSERT INTO revoked_tokens (jti, account, expires_at, revoked_at)
                  VALUES ($1, 'acme', to_timestamp($2), now())";
    let revoke = |token: &str| {
        let claims = helpers::claims(token);
        sqlx::query(revoke)
            .bind(claims["jti"].as_str().unwrap().to_owned())
            .bind(claims["exp"].as_f64().unwrap())
    };
    // Announced, and seen once every earlier announcement has been (they arrive in order):
    // from then on, only the periodic reload can notice anything.
    revoke(&sentinel).execute(&mut direct).await.unwrap();
    assert!(
        eventually(Duration::from_secs(3), || async {
            app.calls(&sentinel).await == StatusCode::UNAUTHORIZED
        })
        .await
    );

    // Written the way pg_restore --disable-triggers and logical replication write: unannounced.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut direct)
        .await
        .unwrap();
    revoke(&token).execute(&mut direct).await.unwrap();

    assert!(
        eventually(Duration::from_secs(3), || async {
            app.calls(&token).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the revoked token kept passing"
    );
}

#[tokio::test]
async fn during_an_outage_a_wrong_secret_for_a_known_key_is_refused_and_counted() {
    let database = ProxiedDatabase::start().await;
    let acme = database.account_made_beforehand("acme").await;
    let app = database
        .spawn(|s| s.failed_auth_limit = "3/60s".parse().unwrap())
        .await;
    let body = json!({"scope": []});
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );

    database.proxy.cut().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.volubile_token(&acme.primary.secret, &body)
                .await
                .status()
                == StatusCode::SERVICE_UNAVAILABLE
        })
        .await
    );
    // The same key id with another secret: the cached key says it is wrong, outage or not.
    let wrong = helpers::forged_key_for(&acme.primary.id);
    for _ in 0..4 {
        assert_eq!(
            app.volubile_token(&wrong, &body).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the failures counted"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_whatever_the_database_does_and_says_what_was_lost() {
    let database = ProxiedDatabase::start().await;
    let created = helpers::cli(
        &database.direct_url,
        &["accounts", "create", "acme", "--json"],
    )
    .await;
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = created["keys"][0]["secret"].as_str().unwrap().to_owned();
    // Buffered audit, whose events may still be in memory at shutdown.
    let served = helpers::ServedBinary::start(
        &["--store-timeout", "500ms", "--audit", "buffered"],
        &database.direct_url,
    );

    let lock = database.lock_audit_table().await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let response = client
            .post(format!("{}/v1/auth/token", served.address))
            .header("X-Api-Key", &key)
            .json(&json!({"scope": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    let asked = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || served.stop());
    let stopped = tokio::time::timeout(Duration::from_secs(8), stopping).await;
    let took = asked.elapsed();
    lock.rollback().await.unwrap();
    let (status, log) = stopped
        .expect("shutdown waited for the lock to go")
        .unwrap();

    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    let lost = log
        .iter()
        .find(|line| line.contains("could not write the last audit events"))
        .unwrap_or_else(|| panic!("{}", log.join("\n")));
    assert!(lost.contains("lost") && lost.contains("5"), "{lost}");
}
