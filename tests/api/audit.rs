//! Every issuance and every refusal is on record, without secrets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{claims, cli, spawn_app_with};

async fn audit(database_url: &str, args: &[&str]) -> Value {
    let args: Vec<&str> = ["audit"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--json"])
        .collect();
    let output = cli(database_url, &args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn issuances_and_refusals_are_recorded_and_read_back_by_the_cli() {
    let app = spawn_app_with(|s| s.rate_limit = "1/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;

    let issued = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    let jti = claims(
        issued.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap(),
    )["jti"]
        .clone();
    let limited = app
        .volubile_token(&acme.primary.secret, &json!({"scope": []}))
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let forged = app
        .memoram_token(&json!({"api_key": crate::helpers::forged_key_for(&acme.secondary.id)}))
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    app.origoid_token(&[("x-api-key", globex.primary.secret.clone())], None)
        .await;
    app.tokens.audit().flush().await;

    let events = audit(&app.database_url, &["--account", "acme"]).await["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 3, "{events:?}");
    // The attempt on acme's secondary key id is acme's business too.
    let (attacked, newest, oldest) = (&events[0], &events[1], &events[2]);
    assert_eq!(attacked["reason"], "invalid_credentials");
    assert_eq!(attacked["key_id"], acme.secondary.id.as_str());
    assert_eq!(oldest["outcome"], "issued");
    assert_eq!(oldest["dialect"], "volubile");
    assert_eq!(oldest["jti"], jti);
    assert_eq!(oldest["scopes"], "calls:read");
    assert_eq!(oldest["key_id"], acme.primary.id.as_str());
    assert_eq!(oldest["client_ip"], "127.0.0.1");
    assert_eq!(newest["outcome"], "refused");
    assert_eq!(newest["reason"], "rate_limited");

    let everything = audit(&app.database_url, &["--since", "1h"]).await;
    let text = everything.to_string();
    assert_eq!(everything["events"].as_array().unwrap().len(), 4, "{text}");
    assert!(
        text.contains("\"invalid_credentials\"") && text.contains("\"origoid\""),
        "{text}"
    );
    for secret in [
        &acme.primary.secret,
        &acme.secondary.secret,
        &globex.primary.secret,
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "no secret in the audit trail"
        );
    }
    assert!(
        audit(&app.database_url, &["--since", "2099-01-01T00:00:00Z"]).await["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_client_refused_at_its_limit_is_one_event_and_one_summary_a_window() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    for _ in 0..4 {
        app.volubile_token("km_guess", &json!({"scope": []})).await;
    }
    for _ in 0..50 {
        let refused = app
            .volubile_token(&acme.primary.secret, &json!({"scope": []}))
            .await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    app.tokens.audit().flush().await;
    let at_the_limit = |events: &Value| -> Vec<u64> {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == "too_many_failures")
            .map(|e| e["count"].as_u64().unwrap())
            .collect()
    };
    let events = audit(&app.database_url, &["--limit", "1000"]).await;
    assert_eq!(
        at_the_limit(&events),
        [1],
        "the first refusal, as it happened"
    );

    // Once the window has passed, the rest are one event that says how many.
    app.clock.advance(chrono::Duration::seconds(61));
    app.tokens.audit().flush().await;
    let events = audit(&app.database_url, &["--limit", "1000"]).await;
    assert_eq!(at_the_limit(&events), [49, 1]);
    assert!(events["events"].as_array().unwrap().len() < 10, "{events}");
}

#[tokio::test]
async fn events_older_than_the_retention_period_are_deleted() {
    let app = spawn_app_with(|s| s.audit_retention = "1h".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": ["calls:read"]});
    app.volubile_token(&acme.primary.secret, &body).await;
    app.tokens.audit().flush().await;

    app.clock.advance(chrono::Duration::minutes(90));
    app.volubile_token(&acme.primary.secret, &body).await;
    app.tokens.audit().flush().await;
    assert_eq!(
        audit(&app.database_url, &[]).await["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    app.tokens.audit().prune().await;

    let kept = audit(&app.database_url, &[]).await;
    assert_eq!(kept["events"].as_array().unwrap().len(), 1, "{kept}");
}
