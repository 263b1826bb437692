//! The database goes away and comes back, for real: a TCP proxy in front of PostgreSQL is cut
//! and restored. Token endpoints answer their dialect's 503 meanwhile, forward-auth keeps
//! serving tokens from the cache, and everything recovers by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{self, TestApp, spawn_on_store, velt_body};

/// A TCP proxy that can be cut (every connection dropped, new ones refused), frozen (every
/// connection kept open but silent, as a firewall that drops packets), and restored.
struct Proxy {
    address: String,
    up: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Copies one direction until EOF, holding bytes back while `frozen`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
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
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2, frozen2) = (up.clone(), links.clone(), frozen.clone());
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
                links2.lock().await.push(tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, frozen.clone()),
                            pump(server_read, client_write, frozen),
                        );
                    }
                }));
            }
        });
        Self {
            address,
            up,
            frozen,
            links,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
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

async fn statuses(
    app: &TestApp,
    key: &crate::helpers::TestKey,
) -> Vec<(&'static str, StatusCode, Value)> {
    let mut out = Vec::new();
    let r = app.volubile_token(&key.secret, &json!({"scope": []})).await;
    out.push((
        "volubile",
        r.status(),
        r.json().await.unwrap_or(Value::Null),
    ));
    let r = app
        .origoid_token(&[("x-api-key", key.secret.clone())], None)
        .await;
    out.push(("origoid", r.status(), r.json().await.unwrap_or(Value::Null)));
    let r = app.velt_token(&velt_body(key)).await;
    out.push(("velt", r.status(), r.json().await.unwrap_or(Value::Null)));
    let r = app.memoram_token(&json!({"api_key": key.secret})).await;
    out.push(("memoram", r.status(), r.json().await.unwrap_or(Value::Null)));
    out
}

#[tokio::test]
async fn a_database_outage_is_a_503_per_dialect_forward_auth_carries_on_and_all_recovers() {
    let Ok(base) = std::env::var("KEYMINT_TEST_POSTGRES_URL") else {
        eprintln!(
            "skipped: set KEYMINT_TEST_POSTGRES_URL (make test does in CI) to run the outage test"
        );
        return;
    };
    // The test's own schema, reached through the proxy.
    let url = reqwest::Url::parse(&base).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
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
    let database_url = format!("{proxied}?options=-c%20search_path%3D{schema}");
    let store = keymint::store::connect(&database_url).await.unwrap();
    let app = spawn_on_store(store, database_url, tempfile::tempdir().unwrap(), |s| {
        s.rate_limit = "1000/1s".parse().unwrap();
    })
    .await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let bearer = || helpers::bearer(&token);
    // Let the notifications of the account's creation arrive, then warm the key cache.
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    let bodies = statuses(&app, &acme.primary).await;
    assert_eq!(bodies[0].2["status"], 503, "volubile: {}", bodies[0].2);
    assert_eq!(
        bodies[1].2["code"], "SERVICE_UNAVAILABLE",
        "origoid: {}",
        bodies[1].2
    );
    assert_eq!(
        bodies[2].2["error"]["status"], "UNAVAILABLE",
        "velt: {}",
        bodies[2].2
    );
    assert!(
        bodies[3].2["detail"].is_string(),
        "memoram: {}",
        bodies[3].2
    );
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
    let Ok(base) = std::env::var("KEYMINT_TEST_POSTGRES_URL") else {
        eprintln!(
            "skipped: set KEYMINT_TEST_POSTGRES_URL (make test does in CI) to run the outage test"
        );
        return;
    };
    let url = reqwest::Url::parse(&base).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let direct_url = format!("{base}?options=-c%20search_path%3D{schema}");
    let mut proxied = url.clone();
    proxied
        .set_port(Some(
            proxy.address.rsplit(':').next().unwrap().parse().unwrap(),
        ))
        .unwrap();
    let database_url = format!("{proxied}?options=-c%20search_path%3D{schema}");
    let store = keymint::store::connect(&database_url).await.unwrap();
    let app = spawn_on_store(store, database_url, tempfile::tempdir().unwrap(), |s| {
        s.rate_limit = "1000/1s".parse().unwrap();
    })
    .await;
    let acme = app.create_account("acme").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
            .await
            .status(),
        StatusCode::OK
    );

    // The database stays up; only this instance's connections go silent. The key is revoked
    // behind its back.
    proxy.freeze(true);
    let direct = keymint::store::connect(&direct_url).await.unwrap();
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
