use std::sync::Arc;

use chrono::Duration;
use keymint::core::apikey::ApiKeySecret;
use keymint::core::slot::KeySlot;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    SIGNING_SECRET, TestApp, claims, header, spawn_app, spawn_app_with, spawn_on_store,
    without_timestamp,
};

const SCOPES: &[&str] = &[
    "calls:read",
    "calls:write",
    "campaigns:read",
    "campaigns:write",
    "agents:read",
    "agents:write",
    "integrations:read",
    "integrations:write",
];

async fn error_body(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    without_timestamp(response.json().await.unwrap())
}

/// A key in the right format, with the right id, whose secret part is wrong.
#[tokio::test]
async fn a_valid_key_gets_a_900_second_bearer_token() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-ratelimit-limit"], "100");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "99");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert!(
        body["token"]
            .as_str()
            .unwrap()
            .starts_with("eyJhbGciOiJIUzI1NiJ9.")
    );
}

#[tokio::test]
async fn the_token_carries_the_documented_claims_and_verifies() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app
        .volubile_token(
            &acme.secondary.secret,
            &json!({"scope": ["agents:read", "calls:read", "agents:read"]}),
        )
        .await;
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(header(&token), json!({"alg": "HS256"}));
    let claims = claims(&token);
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["aud"], "keymint");
    assert_eq!(claims["sub"], "acme");
    assert_eq!(claims["key_id"], acme.secondary.id.as_str());
    assert_eq!(claims["scope"], "calls:read agents:read");
    assert_eq!(claims["iat"], app.clock_now());
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["keymint"]);
    validation.set_issuer(&[app.issuer()]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(SIGNING_SECRET),
        &validation,
    )
    .expect("the token verifies with the signing secret");
}

#[tokio::test]
async fn every_documented_scope_can_be_requested_and_none_is_required() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    for scope in [json!(SCOPES), json!([])] {
        let response = app
            .volubile_token(&acme.primary.secret, &json!({"scope": scope}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{scope}");
        let token = response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            claims(&token)["scope"],
            scope
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

#[tokio::test]
async fn unknown_fields_in_the_body_are_ignored() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let response = app
        .volubile_token(
            &acme.primary.secret,
            &json!({"scope": ["calls:read"], "extra": {"a": 1}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_malformed_unknown_revoked_and_wrong_keys_all_get_the_same_401() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let revoked = app.create_account("revoked").await;
    app.admin()
        .revoke(&revoked.primary.id.parse().unwrap())
        .await
        .unwrap();
    let mut mistyped = acme.primary.secret.clone().into_bytes();
    mistyped[10] = if mistyped[10] == b'a' { b'b' } else { b'a' };
    let mistyped = String::from_utf8(mistyped).unwrap();
    let never_stored = ApiKeySecret::generate(&Default::default())
        .expose()
        .to_owned();

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no key", None),
        ("empty key", Some(String::new())),
        ("garbage", Some("not-a-key".into())),
        ("mistyped key", Some(mistyped)),
        ("unknown key", Some(never_stored)),
        ("revoked key", Some(revoked.primary.secret.clone())),
        (
            "right id, wrong secret",
            Some(crate::helpers::forged_key_for(&acme.primary.id)),
        ),
        (
            "whitespace inside",
            Some(format!(
                "{} {}",
                &acme.primary.secret[..10],
                &acme.primary.secret[10..]
            )),
        ),
    ];
    for (case, key) in cases {
        let mut request = app
            .client
            .post(app.url("/v1/auth/token"))
            .json(&json!({"scope": ["calls:read"]}));
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        let response = request.send().await.unwrap();

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{case}"
        );
        assert_eq!(
            error_body(response).await,
            json!({"status": 401, "message": "Missing or invalid API key", "errors": []}),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_repeated_api_key_header_is_refused() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("X-Api-Key", &acme.primary.secret)
        .header("X-Api-Key", &acme.secondary.secret)
        .json(&json!({"scope": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_bearer_token_cannot_mint_another_token() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;

    for with_key in [false, true] {
        let mut request = app
            .client
            .post(app.url("/v1/auth/token"))
            .bearer_auth(&token)
            .json(&json!({"scope": ["calls:read"]}));
        if with_key {
            request = request.header("X-Api-Key", &acme.primary.secret);
        }
        let response = request.send().await.unwrap();

        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "with key: {with_key}"
        );
        assert_eq!(
            error_body(response).await,
            json!({"status": 403, "message": "Bearer tokens cannot be used to mint another token", "errors": []})
        );
    }
}

#[tokio::test]
async fn an_invalid_or_expired_bearer_token_is_a_401() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });

    for (case, bearer) in [("garbage", "abc".to_owned()), ("tampered", tampered)] {
        let response = app
            .client
            .post(app.url("/v1/auth/token"))
            .bearer_auth(bearer)
            .json(&json!({"scope": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    }

    app.clock.advance(Duration::seconds(901 + 5));
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .bearer_auth(&token)
        .json(&json!({"scope": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "expired");
}

struct BadBody {
    case: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    message: &'static str,
    errors: Value,
}

fn bad_bodies() -> Vec<BadBody> {
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    vec![
        BadBody {
            case: "unknown scope",
            content_type: Some("application/json"),
            body: br#"{"scope": ["calls:read", "calls:delete"]}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope[1]", "message": "invalid value: string \"calls:delete\", expected one of calls:read, calls:write, campaigns:read, campaigns:write, agents:read, agents:write, integrations:read, integrations:write"}]),
        },
        BadBody {
            case: "scope item of the wrong type",
            content_type: Some("application/json"),
            body: br#"{"scope": ["calls:read", 7]}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope[1]", "message": "invalid type: integer `7`, expected one of calls:read, calls:write, campaigns:read, campaigns:write, agents:read, agents:write, integrations:read, integrations:write"}]),
        },
        BadBody {
            case: "scope not a list",
            content_type: Some("application/json"),
            body: br#"{"scope": "calls:read"}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope", "message": "invalid type: string \"calls:read\", expected a sequence"}]),
        },
        BadBody {
            case: "scope null",
            content_type: Some("application/json"),
            body: br#"{"scope": null}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope", "message": "invalid type: null, expected a sequence"}]),
        },
        BadBody {
            case: "scope an object, the one kind of value the document lets us echo",
            content_type: Some("application/json"),
            body: br#"{"scope": {"calls": "read"}}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope", "rejectedValue": {"calls": "read"}, "message": "invalid type: map, expected a sequence"}]),
        },
        BadBody {
            case: "scope missing",
            content_type: Some("application/json"),
            body: br#"{}"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "scope", "message": "is required"}]),
        },
        BadBody {
            case: "body is an array",
            content_type: Some("application/json"),
            body: br#"[["calls:read"]]"#.to_vec(),
            message: "Validation failed",
            errors: json!([{"field": "body", "message": "invalid type: sequence, expected an object"}]),
        },
        BadBody {
            case: "malformed JSON",
            content_type: Some("application/json"),
            body: br#"{"scope": ["#.to_vec(),
            message: "Malformed JSON: EOF while parsing a list at line 1 column 11",
            errors: json!([{"field": "body", "message": "EOF while parsing a list at line 1 column 11"}]),
        },
        BadBody {
            case: "empty body",
            content_type: Some("application/json"),
            body: Vec::new(),
            message: "Malformed JSON: EOF while parsing a value at line 1 column 0",
            errors: json!([{"field": "body", "message": "EOF while parsing a value at line 1 column 0"}]),
        },
        BadBody {
            case: "deep nesting",
            content_type: Some("application/json"),
            body: deep.into_bytes(),
            message: "Malformed JSON: recursion limit exceeded at line 1 column 128",
            errors: json!([{"field": "body", "message": "recursion limit exceeded at line 1 column 128"}]),
        },
        BadBody {
            case: "a member named twice",
            content_type: Some("application/json"),
            body: br#"{"scope": ["calls:read"], "scope": ["integrations:write"]}"#.to_vec(),
            message: "Malformed JSON: duplicate member `scope` at line 1 column 33",
            errors: json!([{"field": "body", "message": "duplicate member `scope` at line 1 column 33"}]),
        },
        BadBody {
            case: "wrong content type",
            content_type: Some("text/plain"),
            body: br#"{"scope": []}"#.to_vec(),
            message: "Content-Type must be application/json",
            errors: json!([]),
        },
        BadBody {
            case: "no content type",
            content_type: None,
            body: br#"{"scope": []}"#.to_vec(),
            message: "Content-Type must be application/json",
            errors: json!([]),
        },
        BadBody {
            case: "oversized body",
            content_type: Some("application/json"),
            body: format!(r#"{{"scope": [], "pad": "{}"}}"#, "x".repeat(20_000)).into_bytes(),
            message: "Request body is larger than 16384 bytes",
            errors: json!([]),
        },
    ]
}

#[tokio::test]
async fn every_bad_body_gets_a_400_naming_what_is_wrong() {
    let app = spawn_app_with(|s| s.rate_limit = "1000/1s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;

    for case in bad_bodies() {
        let mut request = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("X-Api-Key", &acme.primary.secret)
            .body(case.body);
        if let Some(content_type) = case.content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{}", case.case);
        assert_eq!(
            error_body(response).await,
            json!({"status": 400, "message": case.message, "errors": case.errors}),
            "{}",
            case.case
        );
    }
}

#[tokio::test]
async fn json_with_a_charset_or_a_json_suffix_is_accepted() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let response = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("X-Api-Key", &acme.primary.secret)
            .header("Content-Type", content_type)
            .body(r#"{"scope": []}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{content_type}");
    }
}

#[tokio::test]
async fn a_compressed_body_is_refused_rather_than_inflated() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("X-Api-Key", &acme.primary.secret)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_body(response).await["message"],
        "Content-Encoding is not supported; send the body uncompressed"
    );
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow_and_an_error_response() {
    let app = spawn_app().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url("/v1/auth/token"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(
            error_body(response).await,
            json!({"status": 405, "message": "Method Not Allowed", "errors": []})
        );
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_percent_encoded_path_is_still_405() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/auth/%74oken"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn an_unknown_path_gets_404_with_an_error_response() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/v1/auth",
        "/v1/auth/token/",
        "/v1/auth/TOKEN",
        "/v2/auth/token",
    ] {
        let response = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            error_body(response).await,
            json!({"status": 404, "message": "Not Found", "errors": []}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_account_quota_refuses_with_429_and_refills_with_time() {
    let app = spawn_app_with(|s| s.rate_limit = "3/15s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let body = json!({"scope": ["calls:read"]});

    for (remaining, reset) in [("2", "5"), ("1", "10"), ("0", "15")] {
        let response = app.volubile_token(&acme.primary.secret, &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"account\";q=3;w=15"
        );
        assert_eq!(
            response.headers()["ratelimit"].to_str().unwrap(),
            format!("\"account\";r={remaining};t={reset}")
        );
    }
    // The quota is the account's: the other key shares it, another account does not.
    let response = app.volubile_token(&acme.secondary.secret, &body).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.headers()["x-ratelimit-limit"], "3");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(response.headers()["ratelimit"], "\"account\";r=0;t=5");
    assert_eq!(
        error_body(response).await,
        json!({"status": 429, "message": "Too Many Requests", "errors": []})
    );
    assert_eq!(
        app.volubile_token(&globex.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );

    app.clock.advance(Duration::seconds(5));
    let response = app.volubile_token(&acme.primary.secret, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn the_default_quota_is_100_requests_per_15_seconds() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});
    for _ in 0..100 {
        assert_eq!(
            app.volubile_token(&acme.primary.secret, &body)
                .await
                .status(),
            StatusCode::OK
        );
    }
    let refused = app.volubile_token(&acme.primary.secret, &body).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["x-ratelimit-limit"], "100");
}

#[tokio::test]
async fn rotating_a_key_rejects_the_old_secret_and_keeps_the_other_slot() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});

    let fresh = app
        .admin()
        .rotate(&"acme".parse().unwrap(), KeySlot::Primary)
        .await
        .unwrap();

    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.volubile_token(fresh.key.expose(), &body).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.volubile_token(&acme.secondary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_database_outage_is_a_503_in_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_store(
        Arc::new(crate::helpers::BrokenStore),
        "broken".into(),
        dir,
        |_| {},
    )
    .await;
    let key = ApiKeySecret::generate(&Default::default());
    let response = app
        .volubile_token(key.expose(), &json!({"scope": []}))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error_body(response).await,
        json!({"status": 503, "message": "Service temporarily unavailable, retry shortly", "errors": []})
    );
}

impl TestApp {
    fn clock_now(&self) -> i64 {
        use keymint::core::clock::Clock;
        self.clock.now().timestamp()
    }

    pub async fn token_for(&self, key: &str) -> String {
        let response = self
            .volubile_token(key, &json!({"scope": ["calls:read"]}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn a_scope_the_key_does_not_hold_is_refused_as_unsupported() {
    let app = spawn_app().await;
    let limited = app
        .create_account_with_scopes("limited", Some("calls:read,agents:read"))
        .await;

    let allowed = app
        .volubile_token(
            &limited.primary.secret,
            &json!({"scope": ["calls:read", "agents:read"]}),
        )
        .await;
    assert_eq!(allowed.status(), StatusCode::OK);

    let refused = app
        .volubile_token(
            &limited.primary.secret,
            &json!({"scope": ["calls:read", "calls:write", "agents:write"]}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_body(refused).await,
        json!({"status": 400, "message": "Unsupported scope", "errors": [
            {"field": "scope", "message": "calls:write is not granted to this API key"},
            {"field": "scope", "message": "agents:write is not granted to this API key"},
        ]})
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_in_full_is_answered_not_waited_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(|s| {
        s.body_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let acme = app.create_account("acme").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sco",
        acme.primary.secret
    );
    stream.write_all(request.as_bytes()).await.unwrap();

    let mut answer = vec![0; 4096];
    // Answered once the body timeout has passed, well before the client gives up.
    let read = tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut answer))
        .await
        .expect("an answer comes before the client gives up")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"status\":400"), "{answer}");
}

#[tokio::test]
async fn a_weak_signing_secret_is_refused_without_being_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        crate::helpers::connect_store(&format!("sqlite://{}", dir.path().join("k.db").display()))
            .await
            .unwrap();
    let mut settings = crate::helpers::default_settings();
    settings.signing_secret = Some(keymint::core::token::SigningSecret::unchecked(
        b"hunter2-weak".to_vec(),
    ));
    let clock = Arc::new(keymint::core::clock::SystemClock);
    let err = keymint::startup::Application::with_store(settings, store, clock)
        .await
        .err()
        .expect("startup fails");
    let message = format!("{err:#}");
    assert!(message.contains("at least 32 bytes"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn repeated_failed_authentications_block_that_client_address_for_a_while() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});

    // The quota of failures is spent by the third; the fourth failure closes the gate.
    for _ in 0..4 {
        assert_eq!(
            app.volubile_token("km_guess", &body).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = app.volubile_token(&acme.primary.secret, &body).await;
    assert_eq!(
        blocked.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even a good key waits"
    );
    assert_eq!(
        blocked.headers()["ratelimit-policy"],
        "\"failed-auth\";q=3;w=60"
    );
    assert_eq!(blocked.headers()["retry-after"], "20");

    // Another client address is not affected.
    let elsewhere = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let response = elsewhere
        .post(app.url("/v1/auth/token"))
        .header("X-Api-Key", &acme.primary.secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    app.clock.advance(Duration::seconds(20));
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_errors_timestamp_is_the_servers_clock_not_the_wall_clock() {
    use keymint::core::clock::Clock as _;
    let app = spawn_app().await;
    app.clock.advance(Duration::days(400));
    let expected = app
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let refused = app.volubile_token("km_nope", &json!({"scope": []})).await;
    let not_found = app.client.get(app.url("/v1/nowhere")).send().await.unwrap();

    for body in [
        refused.json::<Value>().await.unwrap(),
        not_found.json().await.unwrap(),
    ] {
        assert_eq!(body["timestamp"], expected.as_str(), "{body}");
    }
}
