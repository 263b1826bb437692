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

#[tokio::test]
async fn after_a_redis_outage_the_shared_quota_comes_back_by_itself() {
    // One instance reaches Redis through a proxy that can be cut, as an outage would; the
    // other directly.
    let url = reqwest::Url::parse(&redis_url()).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
    let proxy = crate::faults::Proxy::start(target).await;
    let prefix = format!("keymint-test:{}:", uuid::Uuid::new_v4().simple());
    let quota = "10/600s";
    let cut_off = spawn_app_with(|s| {
        s.rate_limit = quota.parse().unwrap();
        s.redis_url = Some(format!("redis://{}/0", proxy.address));
        s.redis_prefix = prefix.clone();
    })
    .await;
    let direct = spawn_app_beside(&cut_off, |s| {
        s.rate_limit = quota.parse().unwrap();
        s.redis_url = Some(redis_url());
        s.redis_prefix = prefix.clone();
    })
    .await;
    let acme = cut_off.create_account("acme").await;
    let key = acme.primary.secret.clone();
    assert_eq!(
        status(&cut_off, &key).await,
        StatusCode::OK,
        "shared, through Redis"
    );

    // Redis out of reach: the cut-off instance limits on its own, never a 5xx; meanwhile the
    // other spends the rest of the shared quota.
    proxy.cut().await;
    assert_eq!(
        status(&cut_off, &key).await,
        StatusCode::OK,
        "local fallback"
    );
    for _ in 0..9 {
        assert_eq!(status(&direct, &key).await, StatusCode::OK);
    }
    assert_eq!(status(&direct, &key).await, StatusCode::TOO_MANY_REQUESTS);

    // Redis back: the cut-off instance reconnects by itself and sees the quota spent. Its own
    // bucket still has 9 requests, and fewer than 9 are sent here, so a 429 comes from Redis.
    // Its manual clock is not advanced: the breaker's second after a failure is real time.
    proxy.restore();
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        match status(&cut_off, &key).await {
            StatusCode::TOO_MANY_REQUESTS => return,
            other => assert!(!other.is_server_error(), "{other}"),
        }
    }
    panic!("the cut-off instance never went back to the shared quota");
}

async fn status(app: &crate::helpers::TestApp, key: &str) -> StatusCode {
    app.volubile_token(key, &json!({"scope": []}))
        .await
        .status()
}
