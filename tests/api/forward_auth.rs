use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestAccount, TestApp, bearer, spawn_app, spawn_app_with};

impl TestApp {
    /// Asks forward-auth about `method uri` the way nginx does.
    pub async fn forward_auth(
        &self,
        method: &str,
        uri: &str,
        credential: Option<(&str, String)>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url("/forward-auth"))
            .header("X-Original-Method", method)
            .header("X-Original-URI", uri);
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    /// `POST /v1/auth/introspect` about `token`, authenticated with `key`.
    pub async fn introspect(&self, key: &str, token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/introspect"))
            .header("X-Api-Key", key)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }

    pub async fn token_with(&self, key: &str, scopes: &[&str]) -> String {
        let response = self.volubile_token(key, &json!({ "scope": scopes })).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn a_token_with_the_routes_scope_passes_with_identity_headers() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app
        .token_with(&acme.primary.secret, &["agents:read", "calls:read"])
        .await;

    let response = app
        .forward_auth("GET", "/v1/agents/42?expand=1", bearer(&token))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-auth-subject"], "acme");
    assert_eq!(
        response.headers()["x-auth-scopes"],
        "calls:read agents:read"
    );
    assert_eq!(
        response.headers()["x-auth-key-id"],
        acme.primary.id.as_str()
    );
}

#[tokio::test]
async fn a_token_without_the_routes_scope_is_403_insufficient_scope() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["agents:read"]).await;

    let response = app
        .forward_auth("PATCH", "/v1/agents/42", bearer(&token))
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"keymint\", error=\"insufficient_scope\", scope=\"agents:write\""
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
}

#[tokio::test]
async fn no_or_bad_credentials_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    for credential in [
        None,
        bearer("not.a.token"),
        Some(("X-Api-Key", "km_nope".to_owned())),
    ] {
        let response = app
            .forward_auth("GET", "/v1/agents", credential.clone())
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{credential:?}"
        );
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"keymint\""
        );
    }
}

#[tokio::test]
async fn an_api_key_passes_every_listed_route_and_nothing_else() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = || Some(("X-Api-Key", acme.primary.secret.clone()));
    for (method, uri) in [
        ("GET", "/v1/calls/1/transcript"),
        ("POST", "/v1/bulk/calls"),
        ("PATCH", "/v1/agents/9"),
    ] {
        assert_eq!(
            app.forward_auth(method, uri, key()).await.status(),
            StatusCode::OK,
            "{method} {uri}"
        );
    }
    for (method, uri) in [
        ("DELETE", "/v1/agents/9"),
        ("GET", "/v1/secrets"),
        ("GET", "/admin"),
    ] {
        assert_eq!(
            app.forward_auth(method, uri, key()).await.status(),
            StatusCode::FORBIDDEN,
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn path_tricks_do_not_reach_a_route_the_scope_does_not_cover() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    // calls:read must not open agents routes however the path is spelled.
    for uri in [
        "/v1/calls/../agents",
        "/v1/calls/%2e%2e/agents",
        "/v1/calls/%2E%2E/agents/",
        "//v1//agents",
        "/V1/AGENTS",
        "/v1/calls%2F..%2Fagents",
        "/v1/calls/1%2Frecording",
        "/v1/calls/..%5cagents",
    ] {
        let response = app.forward_auth("GET", uri, bearer(&token)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{uri}");
    }
    assert_eq!(
        app.forward_auth("GET", "/v1//calls/7/", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_of_a_rotated_or_revoked_key_is_refused() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let primary_token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let secondary_token = app
        .token_with(&acme.secondary.secret, &["calls:read"])
        .await;
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&primary_token))
            .await
            .status(),
        StatusCode::OK
    );

    app.rotate_primary("acme").await;
    app.admin()
        .revoke(&acme.secondary.id.parse().unwrap())
        .await
        .unwrap();

    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&primary_token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&secondary_token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_token_that_passed_before_is_refused_once_it_expires() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let status = || async {
        app.forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status()
    };
    assert_eq!(status().await, StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(900));
    assert_eq!(status().await, StatusCode::OK, "within the leeway");
    app.clock.advance(chrono::Duration::seconds(6));
    assert_eq!(status().await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_the_token_cache_off_a_rotated_keys_token_is_refused_too() {
    let app = spawn_app_with(|s| s.token_cache = 0).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let status = || async {
        app.forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status()
    };
    assert_eq!(status().await, StatusCode::OK);
    assert_eq!(status().await, StatusCode::OK);
    app.rotate_primary("acme").await;
    assert_eq!(status().await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn behind_traefik_its_forwarded_headers_are_read_and_nginx_names_ignored() {
    let app = spawn_app_with(|s| s.forward_auth_gateway = keymint::api::Gateway::Traefik).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:write"]).await;
    let ask = |method: &'static str, uri: &'static str, forged: bool| {
        let mut request = app
            .client
            .get(app.url("/forward-auth"))
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", uri)
            .bearer_auth(&token);
        if forged {
            // nginx's names are the client's to forge behind Traefik: never read.
            request = request
                .header("X-Original-Method", "POST")
                .header("X-Original-URI", "/v1/calls");
        }
        request.send()
    };
    assert_eq!(
        ask("POST", "/v1/calls", false).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask("PATCH", "/v1/agents/1", true).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let missing = app
        .client
        .get(app.url("/forward-auth"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn behind_nginx_client_sent_forwarded_headers_are_ignored_and_unreadable_ones_denied() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let ask = |uri: reqwest::header::HeaderValue| {
        app.client
            .get(app.url("/forward-auth"))
            .header("X-Original-Method", "GET")
            .header("X-Original-URI", uri)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/v1/calls/7")
            .bearer_auth(&token)
            .send()
    };
    let agents = ask(reqwest::header::HeaderValue::from_static("/v1/agents"))
        .await
        .unwrap();
    assert_eq!(agents.status(), StatusCode::FORBIDDEN);
    // A URI nginx could not put in a readable header: denied, not replaced by the client's.
    let raw = reqwest::header::HeaderValue::from_bytes(b"/v1/agents?x=\xc3\xa9").unwrap();
    assert_eq!(ask(raw).await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_deployment_can_replace_the_route_table() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("routes.toml");
    std::fs::write(
        &table,
        "[[route]]\nmethod = \"GET\"\npath = \"/reports/{id}\"\nscope = \"integrations:read\"\n",
    )
    .unwrap();
    let app = spawn_app_with(|s| s.routes.path = Some(table.clone())).await;
    let acme = app.create_account("acme").await;
    let token = app
        .token_with(&acme.primary.secret, &["integrations:read"])
        .await;
    assert_eq!(
        app.forward_auth("GET", "/reports/5", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.forward_auth("GET", "/v1/agents", bearer(&token))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn introspection_describes_an_active_token_of_the_callers_account() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    let response = app.introspect(&acme.secondary.secret, &token).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "calls:read");
    assert_eq!(body["sub"], "acme");
    assert_eq!(body["client_id"], acme.primary.id.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
        900
    );
}

#[tokio::test]
async fn introspection_says_only_inactive_for_foreign_rotated_or_bogus_tokens() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let acme_token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    assert_eq!(
        app.introspect(&globex.primary.secret, &acme_token)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(&acme.primary.secret, "bogus")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"active": false})
    );
    app.rotate_primary("acme").await;
    assert_eq!(
        app.introspect(&acme.secondary.secret, &acme_token)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn introspection_needs_an_api_key_and_a_form() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &[]).await;

    let response = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let response = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .header("X-Api-Key", &acme.primary.secret)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn failed_authentications_at_forward_auth_and_introspection_count_against_the_address() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    for _ in 0..2 {
        let guess = Some(("X-Api-Key", "km_guess".to_owned()));
        assert_eq!(
            app.forward_auth("GET", "/v1/calls", guess).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        assert_eq!(
            app.introspect("km_guess", &token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Spent: even good credentials from this address are refused for now.
    let blocked = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(blocked.status(), StatusCode::UNAUTHORIZED);
    let blocked = app.introspect(&acme.primary.secret, &token).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers().contains_key("retry-after"));
}

/// An HS256 token signed with the test signing secret, as someone who stole it would mint one.
fn minted_with_the_secret(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256"}"#),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SIGNING_SECRET),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn a_token_living_longer_than_any_dialect_issues_or_issued_in_the_future_is_refused() {
    let app = spawn_app().await;
    use keymint::core::clock::Clock as _;
    let acme = app.create_account("acme").await;
    let now = app.clock.now().timestamp();
    let claims = |iat: i64, exp: i64| {
        json!({"iss": "keymint", "sub": "acme", "aud": "keymint", "iat": iat, "nbf": iat,
               "exp": exp, "jti": "6f1c2a9e-5b7d-4c3e-8a6f-0d9b1e2c3a4f", "scope": "calls:read", "key_id": acme.primary.id})
    };
    // The longest lifetime keymint issues by default is Velt's 48 h: that still passes.
    let longest = minted_with_the_secret(&claims(now, now + 48 * 3600));
    let response = app.forward_auth("GET", "/v1/calls", bearer(&longest)).await;
    assert_eq!(response.status(), StatusCode::OK);

    for (case, iat, exp) in [
        ("a year", now, now + 365 * 24 * 3600),
        ("48 h and a second", now, now + 48 * 3600 + 1),
        ("issued in an hour", now + 3600, now + 3600 + 900),
    ] {
        let forged = minted_with_the_secret(&claims(iat, exp));
        let response = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    }
}

#[tokio::test]
async fn a_token_whose_jti_is_not_a_uuid_is_refused_for_it_could_not_be_revoked() {
    let app = spawn_app().await;
    use keymint::core::clock::Clock as _;
    let acme = app.create_account("acme").await;
    let now = app.clock.now().timestamp();
    let claims = |jti: &str| {
        json!({"iss": "keymint", "sub": "acme", "aud": "keymint", "iat": now, "nbf": now,
               "exp": now + 900, "jti": jti, "scope": "calls:read", "key_id": acme.primary.id})
    };
    let ours = minted_with_the_secret(&claims("6f1c2a9e-5b7d-4c3e-8a6f-0d9b1e2c3a4f"));
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&ours))
            .await
            .status(),
        StatusCode::OK
    );

    let unrevocable = minted_with_the_secret(&claims("f3c1"));
    let response = app
        .forward_auth("GET", "/v1/calls", bearer(&unrevocable))
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_segment_routers_read_as_dot_dot_never_fills_a_path_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("routes.toml");
    std::fs::write(
        &table,
        "[[route]]\nmethod = \"GET\"\npath = \"/v1/agents/{id}\"\nscope = \"agents:read\"\n\
         [[route]]\nmethod = \"GET\"\npath = \"/v1/agents/{id}/calls/{call}\"\nscope = \"calls:read\"\n",
    )
    .unwrap();
    let app = spawn_app_with(|s| s.routes.path = Some(table.clone())).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let through = app
        .forward_auth("GET", "/v1/agents/7/calls/9", bearer(&token))
        .await;
    assert_eq!(through.status(), StatusCode::OK);

    // A Tomcat or Spring upstream reads each of these as /v1/agents/7 (agents:read).
    for trick in [
        "/v1/agents/7/calls/..;",
        "/v1/agents/7/calls/..;x=1",
        "/v1/agents/7/calls/%2e%2e;",
        "/v1/agents/7/calls/9%3b/..",
    ] {
        let response = app.forward_auth("GET", trick, bearer(&token)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{trick}");
    }
}

/// A token as releases before issuers were URLs minted it, with `iss: keymint`.
fn minted_before_the_upgrade(app: &TestApp, account: &TestAccount) -> String {
    use keymint::core::clock::Clock as _;
    let now = app.clock.now().timestamp();
    minted_with_the_secret(&json!({
        "iss": "keymint", "sub": "acme", "aud": "keymint", "iat": now, "nbf": now,
        "exp": now + 900, "jti": uuid::Uuid::new_v4().to_string(), "scope": "calls:read", "key_id": account.primary.id
    }))
}

#[tokio::test]
async fn tokens_minted_before_issuers_were_urls_stay_valid_through_the_upgrade() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let old = minted_before_the_upgrade(&app, &acme);

    let response = app.forward_auth("GET", "/v1/calls", bearer(&old)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        app.issuer().starts_with("http://127.0.0.1:"),
        "{}",
        app.issuer()
    );
}

#[tokio::test]
async fn once_the_previous_issuer_is_dropped_its_tokens_are_refused() {
    let app = spawn_app_with(|s| s.previous_issuers = vec![String::new()]).await;
    let acme = app.create_account("acme").await;
    let old = minted_before_the_upgrade(&app, &acme);

    let response = app.forward_auth("GET", "/v1/calls", bearer(&old)).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
