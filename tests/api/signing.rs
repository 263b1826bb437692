//! ES256, EdDSA and RS256: tokens name their key, the JWKS publishes it, rotation never strands
//! a verifier. Each case runs for every key-pair algorithm (`SigningAlg::ASYMMETRIC`).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keymint::core::keyring::SigningAlg;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer, cli, header, spawn_app, spawn_app_beside, spawn_app_with};

async fn jwks(app: &TestApp) -> JwkSet {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    response.json().await.unwrap()
}

/// What a downstream service does: find the token's `kid` in the JWKS and verify locally.
fn verify_with_jwks(token: &str, set: &JwkSet, alg: Algorithm, issuer: &str) -> Value {
    let kid = jsonwebtoken::decode_header(token)
        .unwrap()
        .kid
        .expect("tokens name their key");
    let jwk = set.find(&kid).expect("the JWKS publishes the token's key");
    let mut validation = Validation::new(alg);
    validation.set_audience(&["keymint"]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the token verifies with the published key")
        .claims
}

#[tokio::test]
async fn key_pair_tokens_verify_with_the_published_key() {
    for &alg in SigningAlg::ASYMMETRIC {
        let app = spawn_app_with(|s| s.signing_alg = alg).await;
        let acme = app.create_account("acme").await;
        let token = app.token_for(&acme.primary.secret).await;

        assert_eq!(header(&token)["alg"], alg.as_str());
        let set = jwks(&app).await;
        assert_eq!(set.keys.len(), 1);
        let claims = verify_with_jwks(&token, &set, alg.algorithm(), &app.issuer());
        assert_eq!(claims["sub"], "acme");
        let published = serde_json::to_value(&set.keys[0]).unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(published.get(private).is_none(), "{alg}: {published}");
        }
        assert_eq!(
            app.forward_auth("GET", "/v1/calls", bearer(&token))
                .await
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn the_hs256_secret_is_never_published_only_the_standard_dialects_key_pair() {
    let app = spawn_app().await;
    let set = app.get_json("/.well-known/jwks.json").await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(
        keys[0].get("k").is_none() && keys[0].get("d").is_none(),
        "{set}"
    );
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_later_and_retires_after_its_tokens() {
    for &alg in SigningAlg::ASYMMETRIC {
        let app = spawn_app_with(|s| s.signing_alg = alg).await;
        let acme = app.create_account("acme").await;
        let old_token = app.token_for(&acme.primary.secret).await;
        let old_kid = header(&old_token)["kid"].as_str().unwrap().to_owned();
        let longest = Duration::hours(48);

        let next = app
            .admin()
            .rotate_signing_key(alg, Duration::seconds(300))
            .await
            .unwrap();
        app.tokens.reload_signing_keys(longest).await;

        // Published at once, not yet signing.
        let set = jwks(&app).await;
        assert!(
            set.find(&next.kid).is_some() && set.find(&old_kid).is_some(),
            "{alg}"
        );
        assert_eq!(
            header(&app.token_for(&acme.primary.secret).await)["kid"],
            old_kid.as_str()
        );

        app.clock.advance(Duration::seconds(300));
        let new_token = app.token_for(&acme.primary.secret).await;
        assert_eq!(header(&new_token)["kid"], next.kid.as_str());
        verify_with_jwks(
            &new_token,
            &jwks(&app).await,
            alg.algorithm(),
            &app.issuer(),
        );

        // The old key's last token could live 48 h: the key stays published that long.
        app.clock.advance(longest);
        assert!(jwks(&app).await.find(&old_kid).is_some(), "{alg}");
        app.clock.advance(Duration::seconds(10));
        let set = jwks(&app).await;
        assert!(set.find(&old_kid).is_none(), "{alg}");
        assert_eq!(set.keys.len(), 1);
    }
}

#[tokio::test]
async fn the_public_key_used_as_an_hmac_secret_is_refused() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    for &alg in SigningAlg::ASYMMETRIC {
        let app = spawn_app_with(|s| s.signing_alg = alg).await;
        let acme = app.create_account("acme").await;
        let genuine = app.token_for(&acme.primary.secret).await;
        let kid = header(&genuine)["kid"].as_str().unwrap().to_owned();
        let jwk = serde_json::to_value(&jwks(&app).await.keys[0]).unwrap();
        let payload = genuine.split('.').nth(1).unwrap();
        // `x` for EC and OKP keys, the modulus `n` for RSA.
        let raw = jwk.get("x").or(jwk.get("n")).unwrap().as_str().unwrap();

        // Classic key confusion: sign HS256 with the public key (as JWK JSON, or raw) as secret.
        for secret in [jwk.to_string().into_bytes(), raw.as_bytes().to_vec()] {
            let head = b64(json!({"alg": "HS256", "kid": kid}).to_string().as_bytes());
            let message = format!("{head}.{payload}");
            let signature = jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &jsonwebtoken::EncodingKey::from_secret(&secret),
                Algorithm::HS256,
            )
            .unwrap();
            let forged = format!("{message}.{signature}");
            let response = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{alg}");
        }
    }
}

#[tokio::test]
async fn a_token_naming_an_unknown_kid_is_refused() {
    let app = spawn_app_with(|s| s.signing_alg = SigningAlg::EdDsa).await;
    let acme = app.create_account("acme").await;
    let genuine = app.token_for(&acme.primary.secret).await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    use base64::Engine as _;
    parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"alg": "EdDSA", "kid": "../../etc/passwd"}).to_string());
    let forged = parts.join(".");
    let response = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_keys_rotate_through_the_cli() {
    let app = spawn_app().await;
    let run = |args: &'static [&'static str]| cli(&app.database_url, args);
    for &alg in SigningAlg::ASYMMETRIC {
        let name = alg.as_str();
        let output = cli(
            &app.database_url,
            &[
                "signing-keys",
                "rotate",
                "--alg",
                name,
                "--activation-delay",
                "120",
                "--json",
            ],
        )
        .await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(rotated["alg"], name);
        assert_eq!(rotated["kid"].as_str().unwrap().len(), 43);

        let listed = cli(
            &app.database_url,
            &["signing-keys", "list", "--alg", name, "--json"],
        )
        .await;
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
        // The standard dialect's first ES256 key was made at startup.
        let before = usize::from(alg == SigningAlg::Es256);
        let keys = listed["keys"].as_array().unwrap();
        assert_eq!(keys.len(), before + 1, "{name}");
        assert!(
            keys.iter().any(|key| key["kid"] == rotated["kid"]),
            "{name}"
        );
    }

    let too_soon = run(&[
        "signing-keys",
        "rotate",
        "--alg",
        "EdDSA",
        "--activation-delay",
        "10",
    ])
    .await;
    assert!(!too_soon.status.success());
    assert!(String::from_utf8_lossy(&too_soon.stderr).contains("at least 65 s"));

    let refused = run(&["signing-keys", "rotate", "--alg", "HS256"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HS256 signs with one shared secret"),
        "{stderr}"
    );

    let unknown = run(&["signing-keys", "rotate", "--alg", "PS256"]).await;
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("HS256, ES256, EdDSA or RS256"), "{stderr}");
}

/// Polls until `instance`'s forward-auth answers `status` for `token`, for at most a second.
async fn within_a_second(instance: &TestApp, token: &str, status: StatusCode) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let answer = instance
            .forward_auth("GET", "/v1/calls", bearer(token))
            .await;
        if answer.status() == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} after a second",
            answer.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_revoked_signing_key_is_refused_by_every_instance_within_a_second() {
    for &alg in SigningAlg::ASYMMETRIC {
        a_revoked_key_of_alg_is_refused_by_every_instance_within_a_second(alg).await;
    }
}

async fn a_revoked_key_of_alg_is_refused_by_every_instance_within_a_second(alg: SigningAlg) {
    let app = spawn_app_with(|s| s.signing_alg = alg).await;
    let other = spawn_app_beside(&app, |s| s.signing_alg = alg).await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let kid = header(&token)["kid"].as_str().unwrap().to_owned();
    for instance in [&app, &other] {
        within_a_second(instance, &token, StatusCode::OK).await;
    }

    let output = cli(
        &app.database_url,
        &["signing-keys", "revoke", &kid, "--json"],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let revoked: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(revoked["kid"], kid.as_str());
    assert_eq!(revoked["alg"], alg.as_str());
    let replacement = revoked["replacement"]["kid"].as_str().unwrap().to_owned();

    for instance in [&app, &other] {
        within_a_second(instance, &token, StatusCode::UNAUTHORIZED).await;
        let set = jwks(instance).await;
        assert!(set.find(&kid).is_none(), "the JWKS dropped it");
        assert!(
            set.find(&replacement).is_some(),
            "and publishes its replacement"
        );
    }

    // The replacement signs from the CLI's now, on the real clock, which the instances' manual
    // clocks (set when they started) are behind by however long the test has run. The stored
    // time is no later than the printed one (PostgreSQL truncates to microseconds).
    use keymint::core::clock::Clock as _;
    let activates_at: DateTime<Utc> = revoked["replacement"]["activates_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for instance in [&app, &other] {
        let behind = activates_at - instance.clock.now();
        if behind > Duration::zero() {
            instance.clock.advance(behind);
        }
    }
    let fresh = other.token_for(&acme.primary.secret).await;
    assert_eq!(header(&fresh)["kid"], replacement.as_str());
    within_a_second(&app, &fresh, StatusCode::OK).await;
}

#[tokio::test]
async fn a_retired_key_vouches_only_for_tokens_issued_while_it_signed() {
    for &alg in SigningAlg::ASYMMETRIC {
        a_retired_key_of_alg_vouches_only_for_tokens_issued_while_it_signed(alg).await;
    }
}

async fn a_retired_key_of_alg_vouches_only_for_tokens_issued_while_it_signed(alg: SigningAlg) {
    use keymint::core::keyring::Keyring;
    use keymint::core::token::{TokenAuthority, TokenSigner};
    let app = spawn_app_with(|s| s.signing_alg = alg).await;
    let acme = app.create_account("acme").await;
    let genuine = app.token_for(&acme.primary.secret).await;
    let old = app.store.signing_keys(alg).await.unwrap();

    app.admin()
        .rotate_signing_key(alg, Duration::seconds(300))
        .await
        .unwrap();
    app.tokens.reload_signing_keys(Duration::hours(48)).await;
    app.clock.advance(Duration::seconds(600));

    // Someone holding the old private key mints a token now, after the key was retired.
    let leaked = TokenSigner::asymmetric(
        Keyring::new(alg, old, Duration::hours(48)).unwrap(),
        TokenAuthority::new(
            app.issuer(),
            "keymint",
            Duration::hours(48),
            app.tokens.scopes().clone(),
        ),
    );
    use keymint::core::clock::Clock as _;
    let forged = leaked
        .issue(
            "acme",
            &acme.primary.id.parse().unwrap(),
            app.tokens.scopes().all(),
            keymint::core::lifetime::Lifetime::from_secs(900),
            &serde_json::Map::new(),
            app.clock.now(),
        )
        .unwrap()
        .token;
    assert_eq!(header(&forged)["kid"], header(&genuine)["kid"]);
    let refused = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Its own tokens, issued before the rotation, still hold until they expire.
    let held = app.forward_auth("GET", "/v1/calls", bearer(&genuine)).await;
    assert_eq!(held.status(), StatusCode::OK);
}

#[tokio::test]
async fn instances_starting_together_make_one_first_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(&dir).await;
    // Migrations first (SQLite's are not meant to run concurrently); then three start at once.
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(crate::helpers::connect_store(&url).await.unwrap());
    }
    let start = |store| {
        crate::helpers::spawn_on_store(store, url.clone(), tempfile::tempdir().unwrap(), |s| {
            s.signing_alg = SigningAlg::Es256
        })
    };
    let mut stores = stores.into_iter();
    let (a, b, c) = tokio::join!(
        start(stores.next().unwrap()),
        start(stores.next().unwrap()),
        start(stores.next().unwrap()),
    );

    let mut kids = Vec::new();
    for app in [&a, &b, &c] {
        let set = jwks(app).await;
        assert_eq!(set.keys.len(), 1, "one first key, published by all");
        kids.push(set.keys[0].common.key_id.clone().unwrap());
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "{kids:?}");
}
