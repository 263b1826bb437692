//! What holds across dialects: one key store, one quota, one token core.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestKey, claims, cli, spawn_app, spawn_app_with, velt_body};

/// Asks every dialect for a token with `key`; returns each status.
async fn statuses(app: &TestApp, key: &TestKey) -> Vec<(&'static str, StatusCode)> {
    vec![
        (
            "volubile",
            app.volubile_token(&key.secret, &json!({"scope": []}))
                .await
                .status(),
        ),
        (
            "origoid",
            app.origoid_token(&[("x-api-key", key.secret.clone())], None)
                .await
                .status(),
        ),
        ("velt", app.velt_token(&velt_body(key)).await.status()),
        (
            "memoram",
            app.memoram_token(&json!({"api_key": key.secret}))
                .await
                .status(),
        ),
    ]
}

#[tokio::test]
async fn the_same_key_works_on_every_dialect() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    for (dialect, status) in statuses(&app, &acme.primary).await {
        assert_eq!(status, StatusCode::OK, "{dialect}");
    }
}

#[tokio::test]
async fn a_key_rotated_through_the_cli_fails_on_all_four_dialects() {
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
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{dialect}");
    }
    let fresh = TestKey {
        id: rotated["id"].as_str().unwrap().to_owned(),
        secret: rotated["secret"].as_str().unwrap().to_owned(),
    };
    for (dialect, status) in statuses(&app, &fresh).await {
        assert_eq!(status, StatusCode::OK, "{dialect}");
    }
}

#[tokio::test]
async fn each_dialect_token_has_its_documented_lifetime_and_common_claims() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = &acme.primary;
    let tokens: Vec<(&str, String, i64)> = vec![
        ("volubile", app.token_for(&key.secret).await, 900),
        (
            "origoid",
            app.origoid_token(&[("x-api-key", key.secret.clone())], None)
                .await
                .json::<Value>()
                .await
                .unwrap()["data"]["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            3600,
        ),
        (
            "velt",
            app.velt_token(&velt_body(key))
                .await
                .json::<Value>()
                .await
                .unwrap()["result"]["data"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
            172_800,
        ),
        (
            "memoram",
            app.memoram_token(&json!({"api_key": key.secret}))
                .await
                .json::<Value>()
                .await
                .unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned(),
            3600,
        ),
    ];
    for (dialect, token, lifetime) in tokens {
        let claims = claims(&token);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            lifetime,
            "{dialect}"
        );
        assert_eq!(claims["sub"], "acme", "{dialect}");
        assert_eq!(claims["key_id"], key.id.as_str(), "{dialect}");
        assert_eq!(claims["iss"], "keymint", "{dialect}");
        assert_eq!(claims["aud"], "keymint", "{dialect}");
    }
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_an_account_across_dialects() {
    let app = spawn_app_with(|s| s.rate_limit = "4/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    for (dialect, status) in statuses(&app, &acme.primary).await {
        assert_eq!(status, StatusCode::OK, "{dialect}");
    }
    for (dialect, status) in statuses(&app, &acme.secondary).await {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{dialect}");
    }
}

#[tokio::test]
async fn a_disabled_dialect_answers_404_and_leaves_the_docs() {
    let app = spawn_app_with(|s| s.dialects = vec!["volubile".into(), "memoram".into()]).await;
    let acme = app.create_account("acme").await;

    assert_eq!(
        app.origoid_token(&[("x-api-key", acme.primary.secret.clone())], None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.velt_token(&velt_body(&acme.primary)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.memoram_token(&json!({"api_key": acme.primary.secret}))
            .await
            .status(),
        StatusCode::OK
    );

    for gone in ["origoid", "velt"] {
        let response = app
            .client
            .get(app.url(&format!("/v3/api-docs/{gone}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{gone}");
    }
    let swagger = app
        .client
        .get(app.url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        swagger.contains("/v3/api-docs/memoram") && !swagger.contains("/v3/api-docs/velt"),
        "{swagger}"
    );
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
    let store = keymint::store::connect("sqlite::memory:").await.unwrap();
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
