//! What operators rely on: health, readiness, metrics, CORS, JSON logs, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    BrokenStore, ServedBinary, fresh_database_url, fresh_postgres_schema_url, spawn_app,
    spawn_app_with, spawn_app_with_an_account, spawn_on_store,
};

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let app = spawn_app().await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "status": status })
        );
    }
}

#[tokio::test]
async fn readyz_is_503_while_the_store_does_not_answer_and_healthz_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_store(Arc::new(BrokenStore), "broken".into(), dir, |_| {}).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "unavailable"})
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_count_requests_tokens_quota_refusals_and_cache_use() {
    // The account exists before the server starts: made through the server, the change feed
    // would announce it a moment later and empty the cache between the two requests.
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let (app, acme) = spawn_app_with_an_account(dir, url, "acme", |s| {
        s.rate_limit = "1/60s".parse().unwrap()
    })
    .await;
    let body = json!({"scope": []});
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"keymint_http_requests_total{dialect="volubile",outcome="200"} 1"#,
        r#"keymint_http_requests_total{dialect="volubile",outcome="429"} 1"#,
        "keymint_tokens_issued_total 1",
        "keymint_rate_limited_total 1",
        "keymint_key_cache_misses_total 1",
        "keymint_key_cache_hits_total 1",
        r#"keymint_http_request_duration_seconds_count{dialect="volubile",outcome="200"} 1"#,
        r#"keymint_http_request_duration_seconds_count{dialect="volubile",outcome="429"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_configured_origin_gets_cors_and_its_preflight_is_answered() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://app.example".into()]).await;
    let acme = app.create_account("acme").await;

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/token"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-api-key, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("x-api-key") && allowed.contains("content-type"),
        "{allowed}"
    );

    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("Origin", "https://app.example")
        .header("X-Api-Key", &acme.primary.secret)
        .json(&json!({"scope": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("x-ratelimit-remaining"),
        "{exposed}"
    );

    let stranger = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("Origin", "https://evil.example")
        .header("X-Api-Key", &acme.primary.secret)
        .json(&json!({"scope": []}))
        .send()
        .await
        .unwrap();
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_in_the_dialects_shape() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://app.example".into()]).await;
    for (path, shape) in [
        ("/v1/auth/token", "status"),
        ("/auth/token", "result"),
        ("/v1/auth/token/get", "error"),
        ("/api/v1/auth/token", "detail"),
    ] {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://evil.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-api-key, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{path}"
        );
        assert!(preflight.headers().contains_key("x-request-id"), "{path}");
        let body: Value = preflight.json().await.unwrap();
        assert!(body.get(shape).is_some(), "{path}: {body}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let app = spawn_app().await;
    let server = ServedBinary::start(&["--log-format", "json"], &app.database_url);
    let seen = server.startup_log.clone();
    drop(server);
    let last: Value = serde_json::from_str(seen.last().unwrap()).expect("a JSON log line");
    assert_eq!(last["level"], "INFO");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("listening"),
        "{last}"
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let server = ServedBinary::start(&[], &app.database_url);

    let mut stream = tokio::net::TcpStream::connect(server.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = r#"{"scope":["calls:read"]}"#;
    let head = format!(
        "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        acme.primary.secret,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();

    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (exit, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_sqlite_database_and_its_journal_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymint.db");
    let url = format!("sqlite://{}", path.display());
    let store = crate::helpers::connect_store(&url).await.unwrap();
    let app = spawn_on_store(store, url, dir, |_| {}).await;
    let acme = app.create_account("acme").await;
    let token = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    assert_eq!(token.status(), StatusCode::OK);

    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn an_existing_database_others_could_read_is_made_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymint.db");
    let url = format!("sqlite://{}", path.display());
    drop(crate::helpers::connect_store(&url).await.unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    drop(crate::helpers::connect_store(&url).await.unwrap());

    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn a_flood_of_malformed_requests_logs_a_few_lines_not_one_each() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keymint.db").display());
    let served = ServedBinary::start(&[], &url);
    let address = served.address.trim_start_matches("http://").to_owned();
    for _ in 0..40 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    let (_, log) = served.stop();
    let parser_lines = log.iter().filter(|l| l.contains("actix_http")).count();
    assert!(parser_lines > 0, "the first few are logged");
    assert!(
        parser_lines <= 10,
        "{parser_lines} lines:\n{}",
        log.join("\n")
    );
}

#[tokio::test]
async fn metrics_can_be_served_on_an_address_of_their_own_and_not_on_the_public_one() {
    let app = spawn_app_with(|s| s.metrics_bind = Some("127.0.0.1:0".into())).await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert!(public.json::<Value>().await.unwrap()["error"].is_string());

    let private = app.metrics_address.clone().expect("a metrics address");
    let scraped = app
        .client
        .get(format!("{private}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("keymint_"));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|s| {
        s.max_connections = Some(4);
        s.workers = Some(1);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let idle: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    let fresh = |timeout| reqwest::Client::builder().timeout(timeout).build().unwrap();

    let waited = fresh(Duration::from_millis(500))
        .get(app.url("/healthz"))
        .send()
        .await;
    assert!(waited.is_err(), "a fifth connection was served: {waited:?}");

    // Waiting briefly only shows what is not served; what must be served may take a loaded
    // machine longer.
    drop(idle);
    let served = fresh(Duration::from_secs(10))
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
}

#[tokio::test]
async fn operational_endpoints_stay_on_whichever_dialects_are_served() {
    let app = spawn_app_with(|s| s.dialects = vec!["volubile".into(), "memoram".into()]).await;
    for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let forward_auth = app
        .client
        .get(app.url("/forward-auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(forward_auth.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_client_cannot_hold_every_connection() {
    let app = spawn_app_with(|s| s.max_connections_per_client = 3).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();

    // A fourth from the same address is closed as soon as it is accepted.
    let mut fourth = std::net::TcpStream::connect(&address).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = std::io::Read::read(&mut fourth, &mut buf);
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the fourth stayed open: {read:?}"
    );

    // Another client is served meanwhile.
    let elsewhere = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let served = elsewhere.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    drop(held);
}

#[tokio::test]
async fn a_usage_flush_returns_only_once_the_write_already_under_way_is_done() {
    // On PostgreSQL, where a row lock holds a write for as long as the test wants.
    let url = fresh_postgres_schema_url().await;
    let (app, acme) =
        spawn_app_with_an_account(tempfile::tempdir().unwrap(), url.clone(), "acme", |_| {}).await;
    app.token_for(&acme.primary.secret).await;
    let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mut lock = sqlx::Connection::begin(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
        .bind(&acme.primary.id)
        .execute(&mut *lock)
        .await
        .unwrap();

    // A flush takes the key's last-used time and waits on the row (this one, or the periodic
    // one if it came first).
    let tokens = app.tokens.clone();
    let under_way = tokio::spawn(async move { tokens.usage().flush().await });
    let mut watcher = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND query LIKE '%last_used_at%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no write waited on the row"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Asked to flush now, it waits for that write instead of returning with nothing to do.
    let tokens = app.tokens.clone();
    let mut explicit = tokio::spawn(async move { tokens.usage().flush().await });
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut explicit)
            .await
            .is_err(),
        "the flush returned while the key's last-used time was still being written"
    );
    lock.rollback().await.unwrap();
    explicit.await.unwrap();
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
            .bind(&acme.primary.id)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
    assert!(last_used.is_some(), "the flush returned before the write");
    under_way.await.unwrap();
}
