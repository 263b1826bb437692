//! Several instances behave as one: a key rotated or a token revoked anywhere is refused
//! everywhere within 1 s.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use keymint::core::service::Revocation;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, cli, connect_store, create_account_in, fresh_postgres_schema_url, spawn_app,
    spawn_app_beside, spawn_app_with,
};

/// What every instance's forward-auth says about a key (no quota involved).
async fn verdict(app: &TestApp, key: &str) -> StatusCode {
    app.forward_auth("GET", "/v1/agents", Some(("X-Api-Key", key.to_owned())))
        .await
        .status()
}

async fn rotate_with_cli(database_url: &str, account: &str) -> String {
    let output = cli(
        database_url,
        &["keys", "rotate", account, "--slot", "primary", "--json"],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rotated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    rotated["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_rotated_by_the_cli_is_refused_by_three_instances_within_a_second() {
    // The polling below fails authentication on purpose, many times: lift the brute-force gate.
    let configure = |s: &mut keymint::cli::ServeArgs| {
        s.failed_auth_limit = "1000000/1s".parse().unwrap();
    };
    let first = spawn_app_with(configure).await;
    let second = spawn_app_beside(&first, configure).await;
    let third = spawn_app_beside(&first, configure).await;
    let instances = [&first, &second, &third];
    let trials = 25;
    let mut worst = Duration::ZERO;

    for trial in 0..trials {
        let account = format!("acme-{trial}");
        let acme = first.create_account(&account).await;
        // Every instance has the key cached.
        for app in instances {
            assert_eq!(verdict(app, &acme.primary.secret).await, StatusCode::OK);
        }

        let fresh = rotate_with_cli(&first.database_url, &account).await;
        let rotated_at = Instant::now();
        for app in instances {
            while verdict(app, &acme.primary.secret).await != StatusCode::UNAUTHORIZED {
                assert!(
                    rotated_at.elapsed() < Duration::from_secs(1),
                    "an instance still honours the rotated key after 1 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        worst = worst.max(rotated_at.elapsed());
        for app in instances {
            assert_eq!(verdict(app, &fresh).await, StatusCode::OK);
        }
    }
    let backend = std::env::var("KEYMINT_TEST_STORE").unwrap_or_else(|_| "sqlite".into());
    eprintln!(
        "rotation propagation to 3 instances ({backend}): worst of {trials} trials {worst:?}"
    );
}

#[tokio::test]
async fn a_token_revoked_through_one_instance_is_refused_by_another_within_a_second() {
    let first = spawn_app().await;
    let second = spawn_app_beside(&first, |_| {}).await;
    let acme = first.create_account("acme").await;
    let trials = 25;
    let mut worst = Duration::ZERO;

    for _ in 0..trials {
        let token = first
            .token_with(&acme.primary.secret, &["calls:read"])
            .await;
        // The second instance has the token cached.
        assert_eq!(second.calls(&token).await, StatusCode::OK);

        let revoked = first.revoke(&acme.primary.secret, &token).await;
        let revoked_at = Instant::now();
        assert!(matches!(revoked, Revocation::Revoked { .. }), "{revoked:?}");
        while second.calls(&token).await != StatusCode::UNAUTHORIZED {
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "the other instance still honours the revoked token after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst = worst.max(revoked_at.elapsed());
        let introspected = second.introspect(&acme.secondary.secret, &token).await;
        assert_eq!(
            introspected.json::<Value>().await.unwrap(),
            json!({"active": false})
        );
    }
    let backend = std::env::var("KEYMINT_TEST_STORE").unwrap_or_else(|_| "sqlite".into());
    eprintln!(
        "revocation propagation to another instance ({backend}): worst of {trials} trials {worst:?}"
    );
}

#[tokio::test]
async fn deployments_in_other_schemas_of_one_postgres_database_do_not_hear_each_others_changes() {
    // PostgreSQL's notification channels belong to the database, not to a schema.
    let ours = connect_store(&fresh_postgres_schema_url().await)
        .await
        .unwrap();
    let theirs = connect_store(&fresh_postgres_schema_url().await)
        .await
        .unwrap();
    let mut feed = ours.watch().await.unwrap();

    create_account_in(&theirs, "theirs").await;
    // Notifications arrive within milliseconds; a change of theirs must never arrive at all.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), feed.changed())
            .await
            .is_err(),
        "a change in another schema emptied our key cache"
    );

    create_account_in(&ours, "ours").await;
    assert!(
        matches!(
            tokio::time::timeout(Duration::from_secs(5), feed.changed()).await,
            Ok(Ok(()))
        ),
        "a change in our own schema went unannounced"
    );
}
