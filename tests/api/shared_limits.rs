//! Quotas across instances: shared through Redis, local when Redis is gone, never an error.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app_beside, spawn_app_with};

/// The machine's Redis (CI has one at 127.0.0.1:6379); `KEYMINT_TEST_REDIS_URL` overrides.
fn redis_url() -> String {
    std::env::var("KEYMINT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

#[tokio::test]
async fn three_instances_share_one_account_quota_through_redis() {
    // Keys of this test only, so runs and tests never share a quota.
    let prefix = format!("keymint-test:{}:", uuid::Uuid::new_v4().simple());
    let configure = |s: &mut keymint::cli::ServeArgs| {
        s.rate_limit = "30/60s".parse().unwrap();
        s.redis_url = Some(redis_url());
        s.redis_prefix = prefix.clone();
    };
    let first = spawn_app_with(configure).await;
    let second = spawn_app_beside(&first, configure).await;
    let third = spawn_app_beside(&first, configure).await;
    let acme = first.create_account("acme").await;
    let started = std::time::Instant::now();

    let mut accepted = 0;
    for _ in 0..30 {
        for app in [&first, &second, &third] {
            let response = app
                .volubile_token(&acme.primary.secret, &json!({"scope": []}))
                .await;
            match response.status() {
                StatusCode::OK => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(response.headers().contains_key("retry-after"));
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    // The quota refills one request every 2 s: that much may be added while the test runs.
    let refill = (started.elapsed().as_secs() / 2) as usize;
    assert!(
        (30..=30 + refill + 1).contains(&accepted),
        "3 instances accepted {accepted} of 90 against a shared quota of 30 (+{refill} refill, +1 tolerance)"
    );
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_local_limits_without_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Dropped at once: nothing listens there now.
    let app = spawn_app_with(|s| {
        s.rate_limit = "3/60s".parse().unwrap();
        s.redis_url = Some(format!("redis://{closed}/0"));
    })
    .await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.volubile_token(&acme.primary.secret, &body)
                .await
                .status(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{statuses:?}"
    );
}
