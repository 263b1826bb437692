//! A token revoked by its own account (RFC 7009) is refused wherever it is presented, at once by
//! the instance that revoked it, and forgotten once it would have expired. There is no endpoint
//! yet: the tests revoke through the service, as the endpoint will.

use chrono::{DateTime, Utc};
use keymint::core::audit::{AuditQuery, Caller, Outcome};
use keymint::core::clock::Clock as _;
use keymint::core::service::{Credentials, Revocation};
use keymint::core::token::LEEWAY_SECS;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer, claims, spawn_app, spawn_app_with};

/// How the revoking client reaches the service.
const CALLER: Caller = Caller {
    dialect: "keymint",
    client_ip: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
};

impl TestApp {
    /// Revokes `token` as the holder of the API key `key` asks to.
    pub async fn revoke(&self, key: &str, token: &str) -> Revocation {
        let principal = self
            .tokens
            .identify(&Credentials::ApiKey(key.to_owned()))
            .await
            .expect("the key checks out");
        self.tokens
            .revoke_token(&CALLER, &principal, token)
            .await
            .expect("the store answers")
    }

    /// Every revocation the store holds, expired or not.
    async fn stored_revocations(&self) -> Vec<(uuid::Uuid, DateTime<Utc>)> {
        self.store
            .revoked_tokens(DateTime::UNIX_EPOCH)
            .await
            .unwrap()
    }

    async fn introspected(&self, key: &str, token: &str) -> Value {
        let response = self.introspect(key, token).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// What forward-auth says about `token` on a route its `calls:read` scope opens.
    pub async fn calls(&self, token: &str) -> StatusCode {
        self.forward_auth("GET", "/v1/calls", bearer(token))
            .await
            .status()
    }
}

fn jti_of(token: &str) -> uuid::Uuid {
    claims(token)["jti"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_revoked_token_is_inactive_to_introspection_at_once() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    assert_eq!(
        app.introspected(&acme.secondary.secret, &token).await["active"],
        true
    );

    let revoked = app.revoke(&acme.primary.secret, &token).await;

    assert!(
        matches!(revoked, Revocation::Revoked { jti, .. } if jti == jti_of(&token)),
        "{revoked:?}"
    );
    assert_eq!(
        app.introspected(&acme.secondary.secret, &token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_token_forward_auth_has_cached_is_refused_at_once_when_revoked() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    assert_eq!(app.calls(&token).await, StatusCode::OK);
    assert_eq!(
        app.calls(&token).await,
        StatusCode::OK,
        "now from the cache"
    );

    app.revoke(&acme.primary.secret, &token).await;

    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_one_token_leaves_the_accounts_other_tokens_alone() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let revoked = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let kept = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    app.revoke(&acme.primary.secret, &revoked).await;

    assert_eq!(app.calls(&revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.calls(&kept).await, StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_token_twice_is_fine() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    let first = app.revoke(&acme.primary.secret, &token).await;
    let again = app.revoke(&acme.secondary.secret, &token).await;

    assert_eq!(first, again);
    assert_eq!(app.stored_revocations().await.len(), 1);
    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_token_of_another_account_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    let refused = app.revoke(&globex.primary.secret, &token).await;

    assert_eq!(refused, Revocation::OtherAccount);
    assert_eq!(app.calls(&token).await, StatusCode::OK);
    assert_eq!(
        app.introspected(&acme.primary.secret, &token).await["active"],
        true
    );
    assert!(app.stored_revocations().await.is_empty());
    assert!(app.tokens.revocations().is_empty());
}

#[tokio::test]
async fn revoking_a_token_that_is_no_token_of_ours_is_a_no_op() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let tampered = format!("{}x", &token[..token.len() - 1]);

    for garbage in ["", "garbage", "a.b.c", tampered.as_str()] {
        let answer = app.revoke(&acme.primary.secret, garbage).await;
        assert_eq!(answer, Revocation::NotActive, "{garbage:?}");
    }

    assert!(app.stored_revocations().await.is_empty());
    assert_eq!(app.calls(&token).await, StatusCode::OK);
}

#[tokio::test]
async fn revoking_an_expired_token_is_a_no_op() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let exp = claims(&token)["exp"].as_i64().unwrap();
    app.clock.advance(chrono::Duration::seconds(
        exp + LEEWAY_SECS + 1 - app.clock.now().timestamp(),
    ));

    let answer = app.revoke(&acme.primary.secret, &token).await;

    assert_eq!(answer, Revocation::NotActive);
    assert!(app.stored_revocations().await.is_empty());
}

#[tokio::test]
async fn a_revocation_is_forgotten_once_its_token_would_have_expired() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    app.revoke(&acme.primary.secret, &token).await;
    let exp = claims(&token)["exp"].as_i64().unwrap();
    let until_last_accepted_second = exp + LEEWAY_SECS - app.clock.now().timestamp();

    // The token's last accepted second: it must still be refused.
    app.clock
        .advance(chrono::Duration::seconds(until_last_accepted_second));
    assert_eq!(app.tokens.prune_revoked_tokens().await, 0);
    assert!(app.tokens.reload_revocations().await);
    assert_eq!(app.stored_revocations().await.len(), 1);
    assert_eq!(app.tokens.revocations().len(), 1);
    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);

    // A second later no token with that jti is accepted anyway: the revocation goes.
    app.clock.advance(chrono::Duration::seconds(1));
    app.tokens.prune_revoked_tokens().await;
    assert!(app.tokens.reload_revocations().await);
    assert!(app.stored_revocations().await.is_empty());
    assert!(app.tokens.revocations().is_empty());
}

#[tokio::test]
async fn a_revoked_token_does_not_count_as_a_failed_authentication() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let revoked = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    let good = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    app.revoke(&acme.primary.secret, &revoked).await;

    for _ in 0..10 {
        assert_eq!(app.calls(&revoked).await, StatusCode::UNAUTHORIZED);
    }

    assert_eq!(
        app.calls(&good).await,
        StatusCode::OK,
        "the address is not held as a guesser"
    );
}

#[tokio::test]
async fn a_revocation_and_a_refused_one_are_in_the_audit_trail() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    // Read back newest first: the revocation after the issuance.
    app.clock.advance(chrono::Duration::seconds(1));
    app.revoke(&acme.secondary.secret, &token).await;
    app.revoke(&globex.primary.secret, &token).await;
    app.tokens.audit().flush().await;

    let events = |account: &str| AuditQuery {
        account: Some(account.to_owned()),
        limit: 10,
        ..AuditQuery::default()
    };
    let acme_events = app.store.audit_events(&events("acme")).await.unwrap();
    let revoked = &acme_events[0].event;
    assert_eq!(revoked.outcome, Outcome::Revoked);
    assert_eq!(revoked.jti, Some(jti_of(&token)));
    assert_eq!(
        revoked.key_id.map(|id| id.to_string()),
        Some(acme.secondary.id.clone()),
        "the key that asked"
    );
    let globex_events = app.store.audit_events(&events("globex")).await.unwrap();
    let refused = &globex_events[0].event;
    assert_eq!(refused.outcome, Outcome::Refused);
    assert_eq!(refused.reason.as_deref(), Some("token_of_another_account"));
    assert_eq!(refused.jti, Some(jti_of(&token)));
}
