use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{basic, claims, spawn_app, spawn_app_with};

/// Checks the envelope's fixed parts and returns it.
async fn envelope(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["requestId"],
        header_id.as_str(),
        "the envelope carries the X-Request-Id"
    );
    assert!(uuid::Uuid::parse_str(&header_id).is_ok());
    let timestamp = body["timestamp"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).expect("ISO 8601");
    assert_eq!(parsed.offset().local_minus_utc(), -6 * 3600, "{timestamp}");
    assert_eq!(
        timestamp.len(),
        "2026-11-24T22:15:00.123-06:00".len(),
        "{timestamp}"
    );
    assert_eq!(body["billable"], false);
    body
}

fn error(body: &Value) -> Value {
    let mut fixed = body.clone();
    let object = fixed.as_object_mut().unwrap();
    object.remove("requestId");
    object.remove("timestamp");
    object.remove("billable");
    fixed
}

#[tokio::test]
async fn an_api_key_header_with_no_body_gets_a_one_hour_token_in_the_envelope() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app
        .origoid_token(&[("x-api-key", acme.primary.secret.clone())], None)
        .await;

    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = envelope(response, StatusCode::OK).await;
    assert_eq!(body["result"], "OK");
    assert_eq!(body["code"], "SUCCESS");
    assert_eq!(body["message"], "Token generated successfully.");
    assert_eq!(body["data"]["token_type"], "Bearer");
    assert_eq!(body["data"]["expires_in"], 3600);
    assert!(
        body.get("errors").is_none(),
        "errors only on INVALID_REQUEST/OUT_OF_RANGE"
    );
    let claims = claims(body["data"]["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["sub"], "acme");
}

#[tokio::test]
async fn basic_credentials_with_key_id_and_key_work_too() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let response = app
        .origoid_token(
            &[(
                "Authorization",
                basic(&acme.secondary.id, &acme.secondary.secret),
            )],
            Some("{}"),
        )
        .await;
    let body = envelope(response, StatusCode::OK).await;
    assert_eq!(
        claims(body["data"]["access_token"].as_str().unwrap())["key_id"],
        acme.secondary.id.as_str()
    );
}

#[tokio::test]
async fn expire_after_is_accepted_at_its_bounds_and_refused_beyond_them() {
    let app = spawn_app_with(|s| s.rate_limit = "1000/1s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let key = [("x-api-key", acme.primary.secret.clone())];

    for accepted in [1, 60, 3600] {
        let response = app
            .origoid_token(&key, Some(&format!(r#"{{"expireAfter": {accepted}}}"#)))
            .await;
        let body = envelope(response, StatusCode::OK).await;
        assert_eq!(body["data"]["expires_in"], accepted);
    }
    for out_of_range in [
        "0",
        "3601",
        "-1",
        "9223372036854775807",
        "99999999999999999999",
    ] {
        let response = app
            .origoid_token(&key, Some(&format!(r#"{{"expireAfter": {out_of_range}}}"#)))
            .await;
        let body = envelope(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            error(&body),
            json!({"result": "ERROR", "code": "OUT_OF_RANGE", "message": "expireAfter must be between 1 and 3600",
                   "data": null, "errors": [{"field": "expireAfter", "message": "expireAfter must be between 1 and 3600"}]}),
            "{out_of_range}"
        );
    }
    for (invalid, message) in [
        (
            r#""60""#,
            "invalid type: string \"60\", expected an integer",
        ),
        (
            "1.5",
            "invalid type: floating point `1.5`, expected an integer",
        ),
        ("null", "invalid type: null, expected an integer"),
    ] {
        let response = app
            .origoid_token(&key, Some(&format!(r#"{{"expireAfter": {invalid}}}"#)))
            .await;
        let body = envelope(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            error(&body),
            json!({"result": "ERROR", "code": "INVALID_REQUEST", "message": "Validation failed",
                   "data": null, "errors": [{"field": "expireAfter", "message": message}]}),
            "{invalid}"
        );
    }
}

#[tokio::test]
async fn the_lifetime_bounds_are_configurable() {
    let app = spawn_app_with(|s| {
        s.lifetimes = keymint::api::Lifetimes::from_flags([
            "--origoid-default-lifetime=600",
            "--origoid-max-lifetime=7200",
        ])
        .unwrap();
    })
    .await;
    let acme = app.create_account("acme").await;
    let key = [("x-api-key", acme.primary.secret.clone())];

    let body = envelope(app.origoid_token(&key, None).await, StatusCode::OK).await;
    assert_eq!(body["data"]["expires_in"], 600);
    let body = envelope(
        app.origoid_token(&key, Some(r#"{"expireAfter": 7200}"#))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["expires_in"], 7200);
    let response = app
        .origoid_token(&key, Some(r#"{"expireAfter": 7201}"#))
        .await;
    assert_eq!(
        envelope(response, StatusCode::BAD_REQUEST).await["code"],
        "OUT_OF_RANGE"
    );

    let doc: Value = app
        .client
        .get(app.url("/v3/api-docs/origoid"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented =
        &doc["components"]["schemas"]["GenerateTokenRequest"]["properties"]["expireAfter"];
    assert_eq!(documented["maximum"], 7200);
    assert_eq!(documented["default"], 600);
}

#[tokio::test]
async fn bad_credentials_of_every_kind_are_unauthorized() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("nothing", vec![]),
        ("wrong key", vec![("x-api-key", "km_nope".into())]),
        (
            "basic without colon",
            vec![("Authorization", format!("Basic {}", base64_of("nocolon")))],
        ),
        (
            "basic with bad base64",
            vec![("Authorization", "Basic %%%".into())],
        ),
        (
            "basic with empty secret",
            vec![("Authorization", basic(&acme.primary.id, ""))],
        ),
        (
            "basic with another key's id",
            vec![(
                "Authorization",
                basic(&acme.secondary.id, &acme.primary.secret),
            )],
        ),
        (
            "key and basic together",
            vec![
                ("x-api-key", acme.primary.secret.clone()),
                (
                    "Authorization",
                    basic(&acme.primary.id, &acme.primary.secret),
                ),
            ],
        ),
    ];
    for (case, headers) in cases {
        let response = app.origoid_token(&headers, None).await;
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{case}"
        );
        let body = envelope(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(
            error(&body),
            json!({"result": "ERROR", "code": "UNAUTHORIZED", "message": "Missing or invalid credentials.", "data": null}),
            "{case}"
        );
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_bearer_token_cannot_chain_into_a_new_token() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let response = app
        .origoid_token(&[("Authorization", format!("Bearer {token}"))], None)
        .await;
    let body = envelope(response, StatusCode::FORBIDDEN).await;
    assert_eq!(
        error(&body),
        json!({"result": "ERROR", "code": "TOKEN_CHAINING_NOT_ALLOWED",
               "message": "Bearer tokens cannot issue new tokens (no token chaining).", "data": null})
    );
}

#[tokio::test]
async fn malformed_bodies_are_invalid_requests_with_details() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = [("x-api-key", acme.primary.secret.clone())];
    for (body, errors) in [
        (
            "{",
            json!([{"field": "body", "message": "EOF while parsing an object at line 1 column 1"}]),
        ),
        (
            "[]",
            json!([{"field": "body", "message": "invalid type: sequence, expected an object"}]),
        ),
    ] {
        let response = app.origoid_token(&key, Some(body)).await;
        let envelope = envelope(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(envelope["code"], "INVALID_REQUEST", "{body}");
        assert_eq!(envelope["errors"], errors, "{body}");
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_in_the_envelope() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/auth/token")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let body = envelope(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(
        error(&body),
        json!({"result": "ERROR", "code": "METHOD_NOT_ALLOWED", "message": "Method Not Allowed.", "data": null})
    );

    let response = app
        .client
        .post(app.url("/auth/nothing"))
        .send()
        .await
        .unwrap();
    let body = envelope(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn the_rate_limit_is_an_envelope_with_retry_after() {
    let app = spawn_app_with(|s| s.rate_limit = "1/15s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let key = [("x-api-key", acme.primary.secret.clone())];
    envelope(app.origoid_token(&key, None).await, StatusCode::OK).await;
    let response = app.origoid_token(&key, None).await;
    assert_eq!(response.headers()["retry-after"], "15");
    let body = envelope(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn the_envelopes_timestamp_is_the_servers_clock_at_mexico_citys_offset() {
    use keymint::core::clock::Clock as _;
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    app.clock.advance(chrono::Duration::days(400));
    let expected = app
        .clock
        .now()
        .with_timezone(&chrono::FixedOffset::west_opt(6 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S%.3f-06:00")
        .to_string();

    let issued = app
        .origoid_token(&[("x-api-key", acme.primary.secret.clone())], None)
        .await;
    let refused = app
        .origoid_token(&[("x-api-key", "km_nope".to_owned())], None)
        .await;

    assert_eq!(
        envelope(issued, StatusCode::OK).await["timestamp"],
        expected.as_str()
    );
    assert_eq!(
        envelope(refused, StatusCode::UNAUTHORIZED).await["timestamp"],
        expected.as_str()
    );
}
