//! `--audit durable`: no token leaves without its audit record. A token (and a token revocation)
//! is answered once its event is committed, every request waiting then released by one shared
//! commit; when the trail cannot be written, each dialect answers its 503 and nothing is issued.
//! `--audit buffered` answers at once, as before.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

use keymint::cli::AuditMode;
use keymint::core::audit::{AuditQuery, Outcome, StoredEvent};

use crate::helpers::{self, TestApp, claims, spawn_app_with};

/// Another writer holding the audit trail, as maintenance would (`VACUUM FULL` on PostgreSQL, a
/// long write transaction on SQLite): keymint's audit writes wait until it lets go, or give up
/// at their deadline. Let go by [`release`](Self::release).
enum HeldAuditWrites {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HeldAuditWrites {
    async fn take(app: &TestApp) -> Self {
        let url = &app.database_url;
        if url.starts_with("sqlite:") {
            let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
            // The write lock; readers (key lookups) go on in WAL mode.
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut connection)
                .await
                .unwrap();
            Self::Sqlite(connection)
        } else {
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql("BEGIN; LOCK TABLE audit_batches IN ACCESS EXCLUSIVE MODE")
                .execute(&mut connection)
                .await
                .unwrap();
            Self::Postgres(connection)
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(mut connection) => {
                sqlx::raw_sql("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            Self::Postgres(mut connection) => {
                sqlx::raw_sql("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Every stored event, newest first, read from the store as it is now (nothing flushed).
async fn stored_events(app: &TestApp) -> Vec<StoredEvent> {
    let query = AuditQuery {
        limit: 10_000,
        ..AuditQuery::default()
    };
    let entries = app.store.audit_events(&query).await.unwrap();
    entries.into_iter().map(|entry| entry.event).collect()
}

/// The stored `issued` event of the token with this `jti`, if there is one.
async fn issued_event(app: &TestApp, jti: &str) -> Option<StoredEvent> {
    stored_events(app).await.into_iter().find(|event| {
        event.outcome == Outcome::Issued && event.jti.is_some_and(|id| id.to_string() == jti)
    })
}

/// The value of a counter on `/metrics` (0 before it first counts).
async fn counter(app: &TestApp, name: &str) -> u64 {
    let text = app.get_text("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Waits until `count` events wait for their commit; panics after 10 s.
async fn until_awaiting_commit(app: &TestApp, count: usize) {
    let started = Instant::now();
    while app.tokens.audit().awaiting_commit() != count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} events await their commit, not {count}",
            app.tokens.audit().awaiting_commit()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn durable_app(store_timeout: Duration) -> TestApp {
    spawn_app_with(|s| {
        s.audit = AuditMode::Durable;
        s.store_timeout = store_timeout;
    })
    .await
}

#[tokio::test]
async fn in_durable_mode_each_dialects_token_is_on_record_when_it_is_answered() {
    let app = durable_app(Duration::from_secs(2)).await;
    let acme = app.create_account("acme").await;

    for dialect in helpers::dialects() {
        let response = app.ask_token(dialect, &acme.primary).await;
        assert_eq!(response.status(), StatusCode::OK, "{dialect:?}");
        let token = dialect.token_in(&response.json().await.unwrap());

        // Read at once, nothing flushed: the answer waited for the commit.
        let jti = claims(&token)["jti"].as_str().unwrap().to_owned();
        let event = issued_event(&app, &jti)
            .await
            .unwrap_or_else(|| panic!("{dialect:?}: token {jti} answered before its record"));
        assert_eq!(event.dialect, dialect.name());
        assert_eq!(event.account.as_deref(), Some("acme"));
        assert_eq!(event.key_id.unwrap().as_str(), acme.primary.id);
    }
    let token = app.access_token(&acme.primary, &[]).await;
    let jti = claims(&token)["jti"].as_str().unwrap().to_owned();
    assert!(issued_event(&app, &jti).await.is_some(), "oauth: {jti}");
}

#[tokio::test]
async fn in_durable_mode_a_token_waits_while_the_audit_trail_cannot_be_written_yet() {
    let app = durable_app(Duration::from_secs(10)).await;
    let acme = app.create_account("acme").await;
    let volubile = helpers::dialects()[0];
    let held = HeldAuditWrites::take(&app).await;

    let asking = {
        let (client, url, body) = (
            app.client.clone(),
            app.url(volubile.path()),
            volubile.body(&acme.primary),
        );
        let header = volubile.fixture().key_header;
        let secret = acme.primary.secret.clone();
        tokio::spawn(async move {
            let mut request = client.post(url).json(&body);
            if let Some(header) = header {
                request = request.header(header, secret);
            }
            request.send().await.unwrap()
        })
    };
    until_awaiting_commit(&app, 1).await;
    assert!(
        !asking.is_finished(),
        "answered before its event was written"
    );

    held.release().await;
    let response = asking.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = volubile.token_in(&response.json().await.unwrap());
    let jti = claims(&token)["jti"].as_str().unwrap().to_owned();
    assert!(issued_event(&app, &jti).await.is_some());
    assert_eq!(app.tokens.audit().awaiting_commit(), 0);
}

#[tokio::test]
async fn in_durable_mode_requests_waiting_together_are_released_by_one_commit() {
    let app = durable_app(Duration::from_secs(10)).await;
    let acme = app.create_account("acme").await;
    let dialects = helpers::dialects();
    const REQUESTS: usize = 32;
    // The first write waits on the held trail; every request after it queues for the next.
    let held = HeldAuditWrites::take(&app).await;

    let asking: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let dialect = dialects[i % dialects.len()];
            let mut request = app
                .client
                .post(app.url(dialect.path()))
                .json(&dialect.body(&acme.primary));
            if let Some(header) = dialect.fixture().key_header {
                request = request.header(header, &acme.primary.secret);
            }
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (dialect, status, body)
            })
        })
        .collect();
    until_awaiting_commit(&app, REQUESTS).await;
    held.release().await;

    let mut jtis = Vec::new();
    for asked in asking {
        let (dialect, status, body) = asked.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{dialect:?}: {body}");
        jtis.push(claims(&dialect.token_in(&body))["jti"].clone());
    }
    // One write for what was first, one for everything that queued behind it.
    let commits = counter(&app, "keymint_audit_commits_total").await;
    assert!(
        (1..=2).contains(&commits),
        "{REQUESTS} tokens took {commits} commits"
    );
    assert_eq!(
        counter(&app, "keymint_audit_committed_events_total").await,
        REQUESTS as u64
    );
    let stored = stored_events(&app).await;
    for jti in jtis {
        assert!(
            stored.iter().any(|e| e.outcome == Outcome::Issued
                && e.jti.map(|j| j.to_string()).as_deref() == jti.as_str()),
            "{jti} is on record"
        );
    }
}

#[tokio::test]
async fn in_durable_mode_an_audit_trail_that_cannot_be_written_is_each_dialects_503_and_no_token() {
    // Writes are given up after a second.
    let app = durable_app(Duration::from_millis(500)).await;
    let acme = app.create_account("acme").await;
    let revocable = app.access_token(&acme.primary, &[]).await;
    let held = HeldAuditWrites::take(&app).await;

    for dialect in helpers::dialects() {
        let response = app.ask_token(dialect, &acme.primary).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{dialect:?}: {body}"
        );
        dialect.assert_error(status, &body, "audit trail not writable");
        assert!(!body.to_string().contains("eyJ"), "{dialect:?}: {body}");
    }
    let oauth = app
        .oauth_token(Some(&acme.primary), &[("grant_type", "client_credentials")])
        .await;
    let revoked = app
        .post_form_as(&acme.primary, "/oauth2/revoke", &[("token", &revocable)])
        .await;
    for (what, response) in [("token", oauth), ("revoke", revoked)] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
        assert!(body.get("access_token").is_none(), "{what}: {body}");
    }
    held.release().await;

    // Once the trail takes writes again, tokens flow; the refused ones were never recorded as
    // issued, and their refusals were (buffered, as refusals are).
    let volubile = helpers::dialects()[0];
    let response = app.ask_token(volubile, &acme.primary).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.tokens.audit().flush().await;
    let stored = stored_events(&app).await;
    let issued = stored
        .iter()
        .filter(|e| e.outcome == Outcome::Issued)
        .count();
    assert_eq!(
        issued, 2,
        "the token before and the token after: {stored:?}"
    );
    assert!(
        stored
            .iter()
            .any(|e| e.outcome == Outcome::Refused && e.reason.as_deref() == Some("unavailable")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn in_durable_mode_an_admin_change_that_cannot_be_recorded_is_a_503_problem() {
    let app = durable_app(Duration::from_millis(500)).await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let token = app.access_token(&acme.primary, &[]).await;
    let held = HeldAuditWrites::take(&app).await;

    let admin = |path: &str, body: Value| {
        app.client
            .post(app.url(&format!("/admin/v1{path}")))
            .bearer_auth(&ops.secret)
            .json(&body)
            .send()
    };
    let created = admin("/accounts", json!({ "name": "globex" }))
        .await
        .unwrap();
    let revoked = admin("/token-revocations", json!({ "token": token }))
        .await
        .unwrap();

    for (what, response) in [("createAccount", created), ("revokeToken", revoked)] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 503, "{what}: {body}");
        assert!(!body.to_string().contains("secret"), "{what}: {body}");
    }
    held.release().await;
}

#[tokio::test]
async fn in_buffered_mode_tokens_do_not_wait_for_the_audit_trail() {
    let app = spawn_app_with(|s| s.audit = AuditMode::Buffered).await;
    let acme = app.create_account("acme").await;
    let held = HeldAuditWrites::take(&app).await;

    for dialect in helpers::dialects() {
        let response = app.ask_token(dialect, &acme.primary).await;
        assert_eq!(response.status(), StatusCode::OK, "{dialect:?}");
    }
    assert_eq!(app.tokens.audit().awaiting_commit(), 0);
    held.release().await;

    app.tokens.audit().flush().await;
    let issued = stored_events(&app)
        .await
        .into_iter()
        .filter(|e| e.outcome == Outcome::Issued)
        .count();
    assert_eq!(issued, helpers::dialects().len());
    assert_eq!(counter(&app, "keymint_audit_commits_total").await, 0);
}
