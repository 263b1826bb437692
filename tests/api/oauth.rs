//! The standard dialect: OAuth 2.0 client credentials, RFC 9068 tokens, discovery,
//! introspection and revocation, as any OAuth client and resource server expect them.

use jsonwebtoken::jwk::JwkSet;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestKey, bearer, claims, header, spawn_app, spawn_app_with};
use keymint::core::keyring::SigningAlg;

impl TestApp {
    /// `POST /oauth2/token` with a form, and HTTP Basic when `basic` names a key.
    pub async fn oauth_token(
        &self,
        basic: Option<&TestKey>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/oauth2/token")).form(form);
        if let Some(key) = basic {
            request = request.basic_auth(&key.id, Some(&key.secret));
        }
        request.send().await.unwrap()
    }

    /// An access token for `key` by the client credentials grant, with HTTP Basic.
    pub async fn access_token(&self, key: &TestKey, form: &[(&str, &str)]) -> String {
        let mut form = form.to_vec();
        form.push(("grant_type", "client_credentials"));
        let response = self.oauth_token(Some(key), &form).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST` a form to `path` with HTTP Basic as `key`.
    pub async fn post_form_as(
        &self,
        key: &TestKey,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(&key.id, Some(&key.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

const GRANT: (&str, &str) = ("grant_type", "client_credentials");

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_client_with_basic_credentials_gets_an_rfc_9068_token_signed_with_a_published_key() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app.oauth_token(Some(&acme.primary), &[GRANT]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let head = header(token);
    assert_eq!(head["typ"], "at+jwt");
    // The proprietary dialects sign with HS256 here; this one never does.
    assert_eq!(head["alg"], "ES256");
    let claims = claims(token);
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["sub"], "acme");
    assert_eq!(claims["aud"], "keymint");
    assert_eq!(claims["client_id"], acme.primary.id.as_str());
    assert_eq!(claims["scope"], body["scope"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].is_string());

    let jwks: JwkSet =
        serde_json::from_value(app.get_json("/.well-known/jwks.json").await).unwrap();
    let jwk = jwks
        .find(head["kid"].as_str().unwrap())
        .expect("the key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[app.issuer()]);
    validation.set_audience(&["keymint"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("the token verifies with the JWKS alone");
}

#[tokio::test]
async fn a_client_may_post_its_credentials_in_the_body_instead() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = &acme.secondary;

    let response = app
        .oauth_token(
            None,
            &[
                GRANT,
                ("client_id", &key.id),
                ("client_secret", &key.secret),
            ],
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_published_algorithm_follows_a_key_pair_signing_alg() {
    let app = spawn_app_with(|s| s.signing_alg = SigningAlg::EdDsa).await;
    let acme = app.create_account("acme").await;

    let token = app.access_token(&acme.primary, &[]).await;

    assert_eq!(header(&token)["alg"], "EdDSA");
}

#[tokio::test]
async fn scopes_may_be_narrowed_but_never_widened_nor_invented() {
    let app = spawn_app().await;
    let limited = app
        .create_account_with_scopes("limited", Some("calls:read,agents:read"))
        .await;
    let key = &limited.primary;

    let narrowed = app.access_token(key, &[("scope", "calls:read")]).await;
    let everything = app.access_token(key, &[]).await;
    let wider = app
        .oauth_token(Some(key), &[GRANT, ("scope", "calls:read calls:write")])
        .await;
    let invented = app
        .oauth_token(Some(key), &[GRANT, ("scope", "root")])
        .await;

    assert_eq!(claims(&narrowed)["scope"], "calls:read");
    assert_eq!(claims(&everything)["scope"], "calls:read agents:read");
    assert_eq!(
        error_of(wider).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    assert_eq!(
        error_of(invented).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
}

#[tokio::test]
async fn a_resource_picks_the_audience_from_the_allow_list_only() {
    let app = spawn_app_with(|s| {
        s.resources = vec![
            "https://calls.example.com".into(),
            "https://agents.example.com".into(),
        ]
    })
    .await;
    let acme = app.create_account("acme").await;

    let token = app
        .access_token(&acme.primary, &[("resource", "https://calls.example.com")])
        .await;
    let outside = app
        .oauth_token(
            Some(&acme.primary),
            &[GRANT, ("resource", "https://evil.example.com")],
        )
        .await;
    let two = app
        .oauth_token(
            Some(&acme.primary),
            &[
                GRANT,
                ("resource", "https://calls.example.com"),
                ("resource", "https://agents.example.com"),
            ],
        )
        .await;

    assert_eq!(claims(&token)["aud"], "https://calls.example.com");
    assert_eq!(
        error_of(outside).await,
        (StatusCode::BAD_REQUEST, "invalid_target".into())
    );
    assert_eq!(
        error_of(two).await,
        (StatusCode::BAD_REQUEST, "invalid_target".into())
    );
    // A token for another resource is still ours: forward-auth and introspection accept it.
    let through = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(through.status(), StatusCode::OK);
}

#[tokio::test]
async fn refusals_carry_rfc_6749_codes_and_statuses() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let key = &acme.primary;
    let wrong = TestKey {
        id: key.id.clone(),
        secret: acme.secondary.secret.clone(),
    };

    let cases = [
        (
            "no grant type",
            app.oauth_token(Some(key), &[]).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a password grant",
            app.oauth_token(Some(key), &[("grant_type", "password")])
                .await,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "a parameter twice",
            app.oauth_token(
                Some(key),
                &[GRANT, ("scope", "calls:read"), ("scope", "agents:read")],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "credentials in header and body",
            app.oauth_token(
                Some(key),
                &[
                    GRANT,
                    ("client_id", &key.id),
                    ("client_secret", &key.secret),
                ],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no credentials",
            app.oauth_token(None, &[GRANT]).await,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "another key's secret",
            app.oauth_token(Some(&wrong), &[GRANT]).await,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
    ];
    for (case, response, status, code) in cases {
        let challenge = response.headers().get("www-authenticate").cloned();
        assert_eq!(
            error_of(response).await,
            (status, code.to_owned()),
            "{case}"
        );
        // A challenge only where HTTP Basic failed: OAuth clients read one as the whole answer.
        match case {
            "another key's secret" => assert_eq!(
                challenge.unwrap(),
                "Basic realm=\"keymint\", error=\"invalid_client\"",
                "{case}"
            ),
            _ => assert!(challenge.is_none(), "{case}"),
        }
    }
}

#[tokio::test]
async fn a_json_body_an_oversized_form_or_a_bearer_token_are_refused() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.access_token(&acme.primary, &[]).await;

    let json_body = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&acme.primary.id, Some(&acme.primary.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let padding = "a".repeat(20_000);
    let oversized = app
        .oauth_token(Some(&acme.primary), &[GRANT, ("pad", &padding)])
        .await;
    let with_token = app
        .client
        .post(app.url("/oauth2/token"))
        .bearer_auth(&token)
        .form(&[GRANT])
        .send()
        .await
        .unwrap();

    assert_eq!(
        error_of(json_body).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_eq!(
        error_of(oversized).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_eq!(
        error_of(with_token).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

#[tokio::test]
async fn both_discovery_documents_name_this_issuer_and_working_endpoints() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata = app.get_json(path).await;
        assert_eq!(metadata["issuer"], app.issuer(), "{path}");
        assert_eq!(
            metadata["grant_types_supported"],
            json!(["client_credentials"])
        );
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(metadata["scopes_supported"].as_array().unwrap().len(), 8);
        let token_endpoint = metadata["token_endpoint"].as_str().unwrap();
        let response = app
            .client
            .post(token_endpoint)
            .basic_auth(&acme.primary.id, Some(&acme.primary.secret))
            .form(&[GRANT])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let jwks: Value = app
            .client
            .get(metadata["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
    }
}

#[tokio::test]
async fn introspection_answers_the_rfc_fields_to_the_tokens_own_client_only() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let other = app.create_account("other").await;
    let token = app
        .access_token(&acme.primary, &[("scope", "calls:read")])
        .await;

    let own = app
        .post_form_as(&acme.secondary, "/oauth2/introspect", &[("token", &token)])
        .await;
    let foreign = app
        .post_form_as(&other.primary, "/oauth2/introspect", &[("token", &token)])
        .await;

    assert_eq!(own.status(), StatusCode::OK);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["active"], true);
    assert_eq!(own["scope"], "calls:read");
    assert_eq!(own["client_id"], acme.primary.id.as_str());
    assert_eq!(own["sub"], "acme");
    assert_eq!(own["iss"], app.issuer());
    assert_eq!(own["token_type"], "Bearer");
    for field in ["aud", "exp", "iat", "nbf", "jti"] {
        assert!(!own[field].is_null(), "{field}");
    }
    assert_eq!(
        foreign.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_by_introspection_and_forward_auth() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.access_token(&acme.primary, &[]).await;
    let passed = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(passed.status(), StatusCode::OK);

    let revoked = app
        .post_form_as(
            &acme.secondary,
            "/oauth2/revoke",
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;

    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(revoked.headers()["cache-control"], "no-store");
    let introspected = app
        .post_form_as(&acme.primary, "/oauth2/introspect", &[("token", &token)])
        .await;
    assert_eq!(
        introspected.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    let refused = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The client's other tokens still hold.
    let another = app.access_token(&acme.primary, &[]).await;
    let through = app.forward_auth("GET", "/v1/calls", bearer(&another)).await;
    assert_eq!(through.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoking_another_clients_token_is_refused_and_a_garbage_token_is_no_error() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let other = app.create_account("other").await;
    let token = app.access_token(&acme.primary, &[]).await;

    let foreign = app
        .post_form_as(&other.primary, "/oauth2/revoke", &[("token", &token)])
        .await;
    let garbage = app
        .post_form_as(
            &other.primary,
            "/oauth2/revoke",
            &[("token", "not.a.token")],
        )
        .await;
    let unauthenticated = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();

    assert_eq!(
        error_of(foreign).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
    assert_eq!(garbage.status(), StatusCode::OK);
    assert_eq!(
        error_of(unauthenticated).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let still = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_issuer_with_a_path_is_served_where_rfc_8414_and_spring_look() {
    let issuer = "https://auth.example.com/tenant";
    let app = spawn_app_with(|s| s.issuer = Some(issuer.parse().unwrap())).await;
    let acme = app.create_account("acme").await;

    for path in [
        "/tenant/.well-known/openid-configuration",
        "/.well-known/openid-configuration/tenant",
        "/.well-known/oauth-authorization-server/tenant",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata = app.get_json(path).await;
        assert_eq!(metadata["issuer"], issuer, "{path}");
        assert_eq!(
            metadata["token_endpoint"],
            format!("{issuer}/oauth2/token"),
            "{path}"
        );
    }
    let other = app
        .client
        .get(app.url("/.well-known/openid-configuration/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    // A proxy that forwards the issuer's path as it is reaches the token endpoint too.
    let response = app
        .client
        .post(app.url("/tenant/oauth2/token"))
        .basic_auth(&acme.primary.id, Some(&acme.primary.secret))
        .form(&[GRANT])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(claims(&token)["iss"], issuer);
}

#[tokio::test]
async fn a_client_may_name_itself_beside_basic_credentials() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let response = app
        .oauth_token(
            Some(&acme.primary),
            &[GRANT, ("client_id", &acme.primary.id)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn rs256_may_sign_the_standard_dialects_tokens_while_the_others_keep_hs256() {
    let app = spawn_app_with(|s| s.published_signing_alg = Some(SigningAlg::Rs256)).await;
    let acme = app.create_account("acme").await;

    let token = app.access_token(&acme.primary, &[]).await;
    let proprietary = app.token_for(&acme.primary.secret).await;

    assert_eq!(header(&token)["alg"], "RS256");
    assert_eq!(header(&proprietary)["alg"], "HS256");
    let jwks: JwkSet =
        serde_json::from_value(app.get_json("/.well-known/jwks.json").await).unwrap();
    let jwk = jwks.find(header(&token)["kid"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.issuer()]);
    validation.set_audience(&["keymint"]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("an RS256 token verifies with the JWKS alone");
}

#[tokio::test]
async fn hs256_is_refused_as_the_published_algorithm() {
    let refused = keymint::api::Formats::new(SigningAlg::Hs256, Some(SigningAlg::Hs256));
    assert!(refused.unwrap_err().contains("never published"));
}

#[tokio::test]
async fn a_resource_may_introspect_with_an_access_token_of_its_own_account() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let other = app.create_account("other").await;
    let own = app.access_token(&acme.primary, &[]).await;
    let looked_at = app
        .access_token(&acme.secondary, &[("scope", "calls:read")])
        .await;
    let foreign = app.access_token(&other.primary, &[]).await;
    let introspect = |bearer: &str, token: &str| {
        app.client
            .post(app.url("/oauth2/introspect"))
            .bearer_auth(bearer)
            .form(&[("token", token)])
            .send()
    };

    let active = introspect(&own, &looked_at).await.unwrap();
    let of_another_account = introspect(&own, &foreign).await.unwrap();
    let bad_bearer = introspect("not.a.token", &looked_at).await.unwrap();

    assert_eq!(active.status(), StatusCode::OK);
    let active: Value = active.json().await.unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], acme.secondary.id.as_str());
    assert_eq!(
        of_another_account.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    assert_eq!(
        bad_bearer.headers()["www-authenticate"],
        "Bearer realm=\"keymint\", error=\"invalid_token\""
    );
    assert_eq!(
        error_of(bad_bearer).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    // Revocation still needs client credentials (RFC 7009 §2.1).
    let revoke = app
        .client
        .post(app.url("/oauth2/revoke"))
        .bearer_auth(&own)
        .form(&[("token", looked_at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(revoke).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}
