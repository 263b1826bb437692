use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{claims, spawn_app, spawn_app_with};

async fn detail(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_api_key_gets_a_token_with_its_real_expiry() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app
        .memoram_token(&json!({"api_key": acme.primary.secret, "expires_in": 600}))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body.as_object().unwrap().len(), 3);
    let claims = claims(body["token"].as_str().unwrap());
    let expires_at: DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_at.timestamp(), claims["exp"].as_i64().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_requested_lifetime_is_clamped_to_the_configured_range() {
    let app = spawn_app_with(|s| s.rate_limit = "1000/1s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    for (requested, granted) in [
        (json!(null), 3600),
        (json!(1), 60),
        (json!(-5), 60),
        (json!(86_400), 86_400),
        (json!(10_000_000), 86_400),
    ] {
        let mut body = json!({"api_key": acme.primary.secret});
        if !requested.is_null() {
            body["expires_in"] = requested.clone();
        }
        let response = app.memoram_token(&body).await;
        let token = detail(response, StatusCode::OK).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let claims = claims(&token);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            granted,
            "{requested}"
        );
    }
}

#[tokio::test]
async fn a_key_made_with_another_prefix_is_accepted() {
    let app = spawn_app().await;
    let key = keymint::core::apikey::ApiKeySecret::generate(&"mem".parse().unwrap());
    app.store
        .create_account(
            "memo",
            &Default::default(),
            &[keymint::store::NewKey {
                id: *key.id(),
                slot: keymint::core::slot::KeySlot::Primary,
                hash: key.hash(),
                scopes: None,
                name: None,
                expires_at: None,
            }],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(key.expose().starts_with("mem_"));
    let response = app.memoram_token(&json!({"api_key": key.expose()})).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_key_is_401_and_bad_parameters_are_400() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let response = app.memoram_token(&json!({"api_key": "mem_nope"})).await;
    assert_eq!(
        detail(response, StatusCode::UNAUTHORIZED).await,
        json!({"detail": "Invalid API key."})
    );

    for (body, message) in [
        (json!({}), "Invalid parameters: api_key: is required."),
        (
            json!({"api_key": 5}),
            "Invalid parameters: api_key: invalid type: integer `5`, expected a string.",
        ),
        (
            json!({"api_key": acme.primary.secret, "expires_in": "60"}),
            "Invalid parameters: expires_in: invalid type: string \"60\", expected an integer.",
        ),
        (
            json!({"api_key": acme.primary.secret, "expires_in": null}),
            "Invalid parameters: expires_in: invalid type: null, expected an integer.",
        ),
    ] {
        let response = app.memoram_token(&body).await;
        assert_eq!(
            detail(response, StatusCode::BAD_REQUEST).await,
            json!({"detail": message}),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_bearer_token_is_forbidden() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .bearer_auth(token)
        .json(&json!({"api_key": acme.primary.secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(response, StatusCode::FORBIDDEN).await,
        json!({"detail": "A bearer token cannot be used to create another token."})
    );
}

#[tokio::test]
async fn router_errors_carry_a_detail() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/auth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        detail(response, StatusCode::METHOD_NOT_ALLOWED).await,
        json!({"detail": "Method Not Allowed."})
    );
    let response = app
        .client
        .get(app.url("/api/v1/memories"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(response, StatusCode::NOT_FOUND).await,
        json!({"detail": "Not Found."})
    );
}
