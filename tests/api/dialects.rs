//! What holds across dialects: one key store, one quota, one token core.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Dialect, TestApp, TestKey, claims, cli, dialects, spawn_app, spawn_app_with};

/// Asks every token dialect for a token with `key`; returns each status.
async fn statuses(app: &TestApp, key: &TestKey) -> Vec<(Dialect, StatusCode)> {
    let mut out = Vec::new();
    for dialect in dialects() {
        out.push((dialect, app.ask_token(dialect, key).await.status()));
    }
    out
}

#[tokio::test]
async fn the_same_key_works_on_every_dialect() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    for (dialect, status) in statuses(&app, &acme.primary).await {
        assert_eq!(status, StatusCode::OK, "{dialect:?}");
    }
}

#[tokio::test]
async fn a_key_rotated_through_the_cli_fails_on_every_dialect() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let output = cli(
        &app.database_url,
        &["keys", "rotate", "acme", "--slot", "primary", "--json"],
    )
    .await;
    assert!(output.status.success());
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();

    for (dialect, status) in statuses(&app, &acme.primary).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{dialect:?}");
    }
    let fresh = TestKey {
        id: rotated["id"].as_str().unwrap().to_owned(),
        secret: rotated["secret"].as_str().unwrap().to_owned(),
    };
    for (dialect, status) in statuses(&app, &fresh).await {
        assert_eq!(status, StatusCode::OK, "{dialect:?}");
    }
}

#[tokio::test]
async fn each_dialect_token_has_its_documented_lifetime_and_common_claims() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = &acme.primary;
    let mut tokens = Vec::new();
    for dialect in dialects() {
        let response = app.ask_token(dialect, key).await;
        assert_eq!(response.status(), StatusCode::OK, "{dialect:?}");
        let token = dialect.token_in(&response.json().await.unwrap());
        let lifetime = i64::from(dialect.default_lifetime().default.as_secs());
        tokens.push((dialect, token, lifetime));
    }
    for (dialect, token, lifetime) in tokens {
        let claims = claims(&token);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            lifetime,
            "{dialect:?}"
        );
        assert_eq!(claims["sub"], "acme", "{dialect:?}");
        assert_eq!(claims["key_id"], key.id.as_str(), "{dialect:?}");
        assert_eq!(claims["iss"], app.issuer(), "{dialect:?}");
        assert_eq!(claims["aud"], "keymint", "{dialect:?}");
    }
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_an_account_across_dialects() {
    // One token per dialect spends the quota.
    let quota = format!("{}/60s", dialects().len());
    let app = spawn_app_with(|s| s.rate_limit = quota.parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    for (dialect, status) in statuses(&app, &acme.primary).await {
        assert_eq!(status, StatusCode::OK, "{dialect:?}");
    }
    for (dialect, status) in statuses(&app, &acme.secondary).await {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{dialect:?}");
    }
}

#[tokio::test]
async fn a_disabled_dialect_answers_404_and_leaves_the_docs() {
    let all = dialects();
    let (first, last) = (all[0], all[all.len() - 1]);
    let app = spawn_app_with(|s| s.dialects = vec![first.name().into(), last.name().into()]).await;
    let acme = app.create_account("acme").await;

    let swagger = app.get_text("/swagger-ui/swagger-initializer.js").await;
    for dialect in all {
        let enabled = dialect == first || dialect == last;
        let expected = if enabled {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        let status = app.ask_token(dialect, &acme.primary).await.status();
        assert_eq!(status, expected, "{dialect:?}");
        let document = app
            .client
            .get(app.url(dialect.0.doc_path))
            .send()
            .await
            .unwrap();
        assert_eq!(document.status(), expected, "{dialect:?}'s document");
        assert_eq!(
            swagger.contains(&format!("\"{}\"", dialect.0.doc_path)),
            enabled,
            "{dialect:?} in {swagger}"
        );
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let first = app.client.get(app.url("/nowhere")).send().await.unwrap();
    let second = app.client.get(app.url("/nowhere")).send().await.unwrap();
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id(&first), id(&second));
}

#[tokio::test]
async fn an_unknown_dialect_name_is_refused_at_startup() {
    let mut settings = crate::helpers::default_settings();
    settings.dialects = vec!["volubile".into(), "nonesuch".into()];
    let store = crate::helpers::connect_store("sqlite::memory:")
        .await
        .unwrap();
    let clock = std::sync::Arc::new(keymint::core::clock::SystemClock);
    let err = keymint::startup::Application::with_store(settings, store, clock)
        .await
        .err()
        .expect("startup fails");
    assert!(
        err.to_string().contains("unknown dialect \"nonesuch\""),
        "{err}"
    );
}
