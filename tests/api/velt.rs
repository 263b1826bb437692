use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{claims, spawn_app, spawn_app_with, velt_body};

async fn velt_error(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_valid_request_gets_a_48_hour_token_carrying_the_user() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let mut body = velt_body(&acme.primary);
    body["data"]["userProperties"] =
        json!({"organizationId": "org-1", "isAdmin": true, "email": "ana@example.com"});

    let response = app.velt_token(&body).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["result"]["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"result": {"status": "success", "message": "Token generated successfully.", "data": {"token": token}}})
    );
    let claims = claims(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        48 * 3600
    );
    assert_eq!(claims["userId"], "user-1");
    assert_eq!(claims["organizationId"], "org-1");
    assert_eq!(claims["isAdmin"], true);
    assert_eq!(claims["email"], "ana@example.com");
    assert_eq!(claims["sub"], "acme");
}

#[tokio::test]
async fn user_properties_are_optional_and_absent_claims_stay_absent() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let body = json!({"data": {"apiKey": acme.primary.id, "authToken": acme.primary.secret, "userId": "u"}});
    let response = app.velt_token(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["result"]["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = claims(&token);
    for absent in ["organizationId", "isAdmin", "email"] {
        assert!(claims.get(absent).is_none(), "{absent}");
    }
}

#[tokio::test]
async fn missing_or_invalid_arguments_are_invalid_argument_with_velts_wording() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let valid = velt_body(&acme.primary);
    let without = |pointer: &str, field: &str| {
        let mut body = valid.clone();
        body.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(field);
        body
    };
    let with = |pointer: &str, field: &str, value: Value| {
        let mut body = valid.clone();
        body.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(field.into(), value);
        body
    };
    let cases = [
        (
            "no authToken",
            without("/data", "authToken"),
            "Auth token not found.",
        ),
        (
            "empty authToken",
            with("/data", "authToken", json!("")),
            "Auth token not found.",
        ),
        (
            "no apiKey",
            without("/data", "apiKey"),
            "API key not found.",
        ),
        (
            "no userId",
            without("/data", "userId"),
            "User ID not found.",
        ),
        ("no data", json!({}), "Data not found."),
        (
            "no organizationId",
            without("/data/userProperties", "organizationId"),
            "Organization ID not found.",
        ),
        (
            "bad email",
            with("/data/userProperties", "email", json!("not-an-email")),
            "Email is invalid.",
        ),
        (
            "isAdmin not a boolean",
            with("/data/userProperties", "isAdmin", json!("yes")),
            "isAdmin is invalid: invalid type: string \"yes\", expected a boolean.",
        ),
        (
            "userProperties null",
            with("/data", "userProperties", Value::Null),
            "User properties is invalid: invalid type: null, expected an object.",
        ),
    ];
    for (case, body, message) in cases {
        let response = app.velt_token(&body).await;
        assert_eq!(
            velt_error(response, StatusCode::BAD_REQUEST).await,
            json!({"error": {"message": message, "status": "INVALID_ARGUMENT"}}),
            "{case}"
        );
    }
}

#[tokio::test]
async fn credentials_that_match_no_valid_key_are_unauthenticated() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let mut wrong_pair = velt_body(&acme.primary);
    wrong_pair["data"]["apiKey"] = json!(acme.secondary.id);
    let mut wrong_token = velt_body(&acme.primary);
    wrong_token["data"]["authToken"] = json!("km_wrong");
    for (case, body) in [
        ("id of another key", wrong_pair),
        ("wrong token", wrong_token),
    ] {
        let response = app.velt_token(&body).await;
        assert_eq!(
            velt_error(response, StatusCode::UNAUTHORIZED).await,
            json!({"error": {"message": "Invalid API key or auth token.", "status": "UNAUTHENTICATED"}}),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_bearer_token_is_permission_denied() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let response = app
        .client
        .post(app.url("/v1/auth/token/get"))
        .bearer_auth(token)
        .json(&velt_body(&acme.primary))
        .send()
        .await
        .unwrap();
    assert_eq!(
        velt_error(response, StatusCode::FORBIDDEN).await,
        json!({"error": {"message": "A token cannot be used to generate another token.", "status": "PERMISSION_DENIED"}})
    );
}

#[tokio::test]
async fn the_rate_limit_is_resource_exhausted() {
    let app = spawn_app_with(|s| s.rate_limit = "1/15s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    assert_eq!(
        app.velt_token(&velt_body(&acme.primary)).await.status(),
        StatusCode::OK
    );
    let response = app.velt_token(&velt_body(&acme.primary)).await;
    assert_eq!(response.headers()["retry-after"], "15");
    assert_eq!(
        velt_error(response, StatusCode::TOO_MANY_REQUESTS).await,
        json!({"error": {"message": "Too many requests.", "status": "RESOURCE_EXHAUSTED"}})
    );
}

#[tokio::test]
async fn router_errors_use_the_callable_error_shape() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/auth/token/get"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        velt_error(response, StatusCode::METHOD_NOT_ALLOWED).await,
        json!({"error": {"message": "Method Not Allowed.", "status": "INVALID_ARGUMENT"}})
    );
    let response = app
        .client
        .post(app.url("/v1/auth/token/get/more"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        velt_error(response, StatusCode::NOT_FOUND).await,
        json!({"error": {"message": "Not Found.", "status": "NOT_FOUND"}})
    );
}
