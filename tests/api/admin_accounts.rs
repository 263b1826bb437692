//! Accounts' settings and their end: the scopes, quota, longest token lifetime and disabled flag
//! set per account (createAccount, updateAccount, the CLI), obeyed by every dialect and by every
//! instance within a second; deleteAccount revoking every key for good.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestKey, claims, cli, dialects, forged_key_for, spawn_app, spawn_app_beside,
    spawn_app_with,
};

const PROBLEM: &str = "application/problem+json";

impl TestApp {
    /// A request to `/admin/v1{path}` with `admin_key` as its bearer credential.
    fn accounts_api(&self, method: Method, path: &str, admin_key: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(admin_key)
    }

    async fn accounts_update(
        &self,
        admin_key: &str,
        name: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.accounts_api(Method::PATCH, &format!("/accounts/{name}"), admin_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn accounts_delete(&self, admin_key: &str, name: &str) -> reqwest::Response {
        self.accounts_api(Method::DELETE, &format!("/accounts/{name}"), admin_key)
            .send()
            .await
            .unwrap()
    }

    /// Creates an account over the admin API; answers its keys.
    async fn accounts_create(&self, admin_key: &str, body: &Value) -> (Value, TestKey, TestKey) {
        let response = self
            .accounts_api(Method::POST, "/accounts", admin_key)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        let key = |slot: usize| TestKey {
            id: created["keys"][slot]["id"].as_str().unwrap().to_owned(),
            secret: created["keys"][slot]["secret"].as_str().unwrap().to_owned(),
        };
        let (primary, secondary) = (key(0), key(1));
        (created, primary, secondary)
    }

    async fn accounts_get(&self, admin_key: &str, name: &str) -> reqwest::Response {
        self.accounts_api(Method::GET, &format!("/accounts/{name}"), admin_key)
            .send()
            .await
            .unwrap()
    }

    /// What forward-auth says about a key.
    async fn accounts_key_verdict(&self, key: &str) -> StatusCode {
        self.forward_auth("GET", "/v1/agents", Some(("X-Api-Key", key.to_owned())))
            .await
            .status()
    }
}

/// Asserts a problem of `status` naming `fields` (in any order), and returns it.
async fn problem(
    response: reqwest::Response,
    status: StatusCode,
    fields: &[&str],
    case: &str,
) -> Value {
    assert_eq!(response.status(), status, "{case}");
    assert_eq!(response.headers()["content-type"], PROBLEM, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{case}: {body}");
    if !fields.is_empty() {
        let mut named: Vec<&str> = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: no errors in {body}"))
            .iter()
            .map(|error| error["field"].as_str().unwrap())
            .collect();
        named.sort_unstable();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(named, expected, "{case}: {body}");
    }
    body
}

/// A Volubile token request any key may make.
fn reads() -> Value {
    json!({"scope": ["calls:read"]})
}

fn json_out(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

async fn audit_trail(app: &TestApp) -> Vec<Value> {
    app.tokens.audit().flush().await;
    let events = json_out(&cli(&app.database_url, &["audit", "--json", "--limit", "1000"]).await);
    events["events"].as_array().unwrap().clone()
}

/// A token request's answer with what varies between two identical requests (timestamps,
/// request ids) left out.
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    content_type: Option<String>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let (challenge, content_type) = (header("www-authenticate"), header("content-type"));
    Answer {
        status: response.status(),
        challenge,
        content_type,
        body: response.json().await.unwrap_or(Value::Null),
    }
}

/// `body` without the members in which `a` and `b` differ (they vary by request).
fn steady(body: &Value, a: &Value, b: &Value) -> Value {
    let mut body = body.clone();
    if let (Some(object), Some(a), Some(b)) = (body.as_object_mut(), a.as_object(), b.as_object()) {
        object.retain(|name, _| a.get(name) == b.get(name));
    }
    body
}

#[tokio::test]
async fn settings_are_set_at_creation_shown_changed_one_by_one_and_cleared_by_null() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;

    let (created, _, _) = app
        .accounts_create(
            &ops.secret,
            &json!({"name": "acme", "scopes": ["calls:read"], "rate_limit": "5/10s",
                    "max_token_lifetime": 600}),
        )
        .await;
    assert_eq!(
        created["settings"],
        json!({"scopes": ["calls:read"], "rate_limit": "5/10s", "max_token_lifetime": 600,
               "disabled": false})
    );

    let updated = app
        .accounts_update(
            &ops.secret,
            "ACME",
            &json!({"rate_limit": "100/15", "disabled": true}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(updated.headers()["cache-control"], "no-store");
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["name"], "acme");
    assert_eq!(
        updated["settings"],
        json!({"scopes": ["calls:read"], "rate_limit": "100/15s", "max_token_lifetime": 600,
               "disabled": true})
    );
    assert_eq!(updated["keys"].as_array().unwrap().len(), 2);

    let cleared = app
        .accounts_update(
            &ops.secret,
            "acme",
            &json!({"scopes": null, "rate_limit": null, "max_token_lifetime": null, "disabled": null}),
        )
        .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let defaults = json!({"scopes": null, "rate_limit": null, "max_token_lifetime": null,
                          "disabled": false});
    assert_eq!(cleared.json::<Value>().await.unwrap()["settings"], defaults);

    let read: Value = app
        .accounts_get(&ops.secret, "acme")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["settings"], defaults);
    let listed: Value = app
        .accounts_api(Method::GET, "/accounts", &ops.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["accounts"][0]["settings"], defaults);

    let untouched = app.accounts_update(&ops.secret, "acme", &json!({})).await;
    assert_eq!(
        untouched.json::<Value>().await.unwrap()["settings"],
        defaults
    );
}

#[tokio::test]
async fn settings_out_of_range_are_refused_with_every_field_named() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.create_account("acme").await;
    let cases = [
        (json!({"rate_limit": "0/1s"}), vec!["rate_limit"]),
        (json!({"rate_limit": "01/5s"}), vec!["rate_limit"]),
        (json!({"rate_limit": 5}), vec!["rate_limit"]),
        (json!({"max_token_lifetime": 0}), vec!["max_token_lifetime"]),
        (
            json!({"max_token_lifetime": 31_536_001}),
            vec!["max_token_lifetime"],
        ),
        (
            json!({"max_token_lifetime": "60"}),
            vec!["max_token_lifetime"],
        ),
        (
            json!({"max_token_lifetime": 1.5}),
            vec!["max_token_lifetime"],
        ),
        (json!({"disabled": "yes"}), vec!["disabled"]),
        (
            json!({"scopes": ["calls:read", "calls:delete"]}),
            vec!["scopes[1]"],
        ),
        (
            json!({"rate_limit": "x", "max_token_lifetime": -1, "disabled": 0}),
            vec!["rate_limit", "max_token_lifetime", "disabled"],
        ),
    ];
    for (body, fields) in cases {
        let refused = app.accounts_update(&ops.secret, "acme", &body).await;
        problem(refused, StatusCode::BAD_REQUEST, &fields, &body.to_string()).await;
    }

    // At creation, a setting is left out for the default, never null.
    let refused = app
        .accounts_api(Method::POST, "/accounts", &ops.secret)
        .json(&json!({"name": "globex", "rate_limit": null, "max_token_lifetime": 0}))
        .send()
        .await
        .unwrap();
    problem(
        refused,
        StatusCode::BAD_REQUEST,
        &["rate_limit", "max_token_lifetime"],
        "create",
    )
    .await;
    let unknown = app
        .accounts_update(&ops.secret, "acme", &json!({"quota": "1/1s"}))
        .await;
    problem(unknown, StatusCode::BAD_REQUEST, &[], "an unknown member").await;
}

#[tokio::test]
async fn updating_or_deleting_needs_a_writing_admin_key_and_an_account() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let auditor = app.create_admin_key("auditor", true).await;
    app.create_account("acme").await;

    let read_only = app
        .accounts_update(&auditor.secret, "acme", &json!({"disabled": true}))
        .await;
    problem(read_only, StatusCode::FORBIDDEN, &[], "read-only update").await;
    let read_only = app.accounts_delete(&auditor.secret, "acme").await;
    problem(read_only, StatusCode::FORBIDDEN, &[], "read-only delete").await;
    for name in ["globex", "bad%20name"] {
        let unknown = app
            .accounts_update(&ops.secret, name, &json!({"disabled": true}))
            .await;
        problem(unknown, StatusCode::NOT_FOUND, &[], name).await;
        let unknown = app.accounts_delete(&ops.secret, name).await;
        problem(unknown, StatusCode::NOT_FOUND, &[], name).await;
    }
    let no_key = app
        .client
        .patch(app.url("/admin/v1/accounts/acme"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    problem(no_key, StatusCode::UNAUTHORIZED, &[], "no admin key").await;

    let read: Value = app
        .accounts_get(&ops.secret, "acme")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["settings"]["disabled"], false, "nothing changed");
}

#[tokio::test]
async fn a_disabled_accounts_keys_get_exactly_the_401_of_an_unknown_key_in_every_dialect() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "1000000/1s".parse().unwrap()).await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let unknown = TestKey {
        id: "AbCdEfGhIjK".to_owned(),
        secret: forged_key_for("AbCdEfGhIjK"),
    };

    let disabled = app
        .accounts_update(&ops.secret, "acme", &json!({"disabled": true}))
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);

    for dialect in dialects() {
        let first = answer(app.ask_token(dialect, &unknown).await).await;
        let second = answer(app.ask_token(dialect, &unknown).await).await;
        let refused = answer(app.ask_token(dialect, &acme.primary).await).await;
        let case = dialect.name();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(refused.status, first.status, "{case}");
        assert_eq!(refused.challenge, first.challenge, "{case}");
        assert_eq!(refused.content_type, first.content_type, "{case}");
        assert_eq!(
            steady(&refused.body, &first.body, &second.body),
            steady(&first.body, &first.body, &second.body),
            "{case}"
        );
    }
    assert_eq!(
        app.accounts_key_verdict(&acme.secondary.secret).await,
        StatusCode::UNAUTHORIZED
    );

    let enabled = app
        .accounts_update(&ops.secret, "acme", &json!({"disabled": false}))
        .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    for dialect in dialects() {
        let issued = app.ask_token(dialect, &acme.primary).await;
        assert_eq!(issued.status(), StatusCode::OK, "{}", dialect.name());
    }
}

#[tokio::test]
async fn a_disabled_accounts_tokens_stop_passing_forward_auth() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    assert_eq!(app.calls(&token).await, StatusCode::OK);

    app.accounts_update(&ops.secret, "acme", &json!({"disabled": true}))
        .await;

    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_dialect_shortens_a_token_to_the_accounts_longest_lifetime() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    app.accounts_update(&ops.secret, "acme", &json!({"max_token_lifetime": 60}))
        .await;

    for dialect in dialects() {
        let response = app.ask_token(dialect, &acme.primary).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", dialect.name());
        let body: Value = response.json().await.unwrap();
        let token = claims(&dialect.token_in(&body));
        let lifetime = token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap();
        let expected = i64::from(dialect.default_lifetime().default.as_secs().min(60));
        assert_eq!(lifetime, expected, "{}", dialect.name());
        // Where the answer states the lifetime, it states the shortened one.
        if let Some(expires_in) = body.get("expires_in") {
            assert_eq!(
                expires_in.as_i64(),
                Some(expected),
                "{}: {body}",
                dialect.name()
            );
        }
    }
}

#[tokio::test]
async fn an_accounts_scopes_bound_what_its_keys_grant() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let writes = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:write"]}))
        .await;
    assert_eq!(writes.status(), StatusCode::OK);

    let updated: Value = app
        .accounts_update(&ops.secret, "acme", &json!({"scopes": ["calls:read"]}))
        .await
        .json()
        .await
        .unwrap();

    // A key grants what both it and its account allow, and says so.
    assert_eq!(updated["keys"][0]["scopes"], json!(["calls:read"]));
    let writes = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:write"]}))
        .await;
    assert_eq!(writes.status(), StatusCode::BAD_REQUEST);
    let reads = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    assert_eq!(reads.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_accounts_rate_limit_replaces_the_deployments_for_it_alone() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    app.accounts_update(&ops.secret, "acme", &json!({"rate_limit": "2/60s"}))
        .await;

    for _ in 0..2 {
        let admitted = app.volubile_token(&acme.primary.secret, &reads()).await;
        assert_eq!(admitted.status(), StatusCode::OK);
    }
    let refused = app.volubile_token(&acme.secondary.secret, &reads()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..3 {
        let others = app.volubile_token(&globex.primary.secret, &reads()).await;
        assert_eq!(others.status(), StatusCode::OK, "the deployment's quota");
    }

    // Back to the deployment's quota, which this account has not spent.
    app.accounts_update(&ops.secret, "acme", &json!({"rate_limit": null}))
        .await;
    let admitted = app.volubile_token(&acme.primary.secret, &reads()).await;
    assert_eq!(admitted.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_change_made_through_one_instance_reaches_another_within_a_second() {
    let first = spawn_app().await;
    let second = spawn_app_beside(&first, |_| {}).await;
    let ops = first.create_admin_key("ops", false).await;
    let acme = first.create_account("acme").await;
    let trials = 10;
    let mut worst = Duration::ZERO;

    for trial in 0..trials {
        let disabled = trial % 2 == 0;
        let (before, after) = if disabled {
            (StatusCode::OK, StatusCode::UNAUTHORIZED)
        } else {
            (StatusCode::UNAUTHORIZED, StatusCode::OK)
        };
        // The other instance has the key, and its account's settings, cached.
        assert_eq!(
            second.accounts_key_verdict(&acme.primary.secret).await,
            before
        );

        let updated = first
            .accounts_update(&ops.secret, "acme", &json!({"disabled": disabled}))
            .await;
        let changed_at = Instant::now();
        assert_eq!(updated.status(), StatusCode::OK);
        while second.accounts_key_verdict(&acme.primary.secret).await != after {
            assert!(
                changed_at.elapsed() < Duration::from_secs(1),
                "the other instance still applies the old settings after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst = worst.max(changed_at.elapsed());
    }
    let backend = std::env::var("KEYMINT_TEST_STORE").unwrap_or_else(|_| "sqlite".into());
    eprintln!("account settings propagation ({backend}): worst of {trials} trials {worst:?}");
}

#[tokio::test]
async fn deleting_an_account_revokes_every_key_and_keeps_its_name_taken() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    let deleted = app.accounts_delete(&ops.secret, "Acme").await;

    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(deleted.headers()["cache-control"], "no-store");
    for key in [&acme.primary, &acme.secondary] {
        let refused = app.volubile_token(&key.secret, &reads()).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);
    let gone = app.accounts_get(&ops.secret, "acme").await;
    problem(gone, StatusCode::NOT_FOUND, &[], "read after delete").await;
    let listed: Value = app
        .accounts_api(Method::GET, "/accounts", &ops.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["accounts"], json!([]));
    let again = app.accounts_delete(&ops.secret, "acme").await;
    problem(again, StatusCode::NOT_FOUND, &[], "deleted twice").await;
    let recreated = app
        .accounts_api(Method::POST, "/accounts", &ops.secret)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    problem(recreated, StatusCode::CONFLICT, &[], "the name stays taken").await;

    let trail = audit_trail(&app).await;
    let by_ops = |outcome: &str| {
        trail
            .iter()
            .filter(|e| e["outcome"] == outcome && e["actor"] == ops.id.as_str())
            .cloned()
            .collect::<Vec<_>>()
    };
    let deletion = by_ops("account_deleted");
    assert_eq!(deletion.len(), 1);
    assert_eq!(deletion[0]["account"], "acme");
    let mut revoked: Vec<_> = by_ops("key_revoked")
        .iter()
        .map(|e| e["key_id"].as_str().unwrap().to_owned())
        .collect();
    revoked.sort();
    let mut keys = vec![acme.primary.id.clone(), acme.secondary.id.clone()];
    keys.sort();
    assert_eq!(revoked, keys);
}

#[tokio::test]
async fn updates_are_on_record_with_their_admin_key_and_what_changed() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.create_account("acme").await;

    app.accounts_update(
        &ops.secret,
        "acme",
        &json!({"scopes": ["calls:read"], "rate_limit": "5/10s", "disabled": null}),
    )
    .await;

    let trail = audit_trail(&app).await;
    let updated = trail
        .iter()
        .find(|e| e["outcome"] == "account_updated")
        .expect("the update is on record");
    assert_eq!(updated["actor"], ops.id.as_str());
    assert_eq!(updated["dialect"], "admin");
    assert_eq!(updated["account"], "acme");
    assert_eq!(updated["scopes"], "calls:read");
    assert_eq!(
        updated["reason"],
        "scopes=set rate_limit=5/10s disabled=default"
    );
}

#[tokio::test]
async fn the_cli_updates_and_deletes_accounts_with_the_same_rules_and_record() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let url = &app.database_url;

    let updated = json_out(
        &cli(
            url,
            &[
                "accounts",
                "update",
                "acme",
                "--rate-limit",
                "7/70s",
                "--max-lifetime",
                "90",
                "--scopes",
                "calls:read,agents:read",
                "--disable",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(
        updated,
        json!({"account": "acme", "settings": {"scopes": "calls:read agents:read",
               "rate_limit": "7/70s", "max_token_lifetime": 90, "disabled": true}})
    );
    // The serving instance is told through the change feed, within a second.
    let changed_at = Instant::now();
    while app.accounts_key_verdict(&acme.primary.secret).await != StatusCode::UNAUTHORIZED {
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let cleared = json_out(
        &cli(
            url,
            &[
                "accounts",
                "update",
                "acme",
                "--rate-limit",
                "default",
                "--enable",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(cleared["settings"]["rate_limit"], Value::Null);
    assert_eq!(cleared["settings"]["disabled"], false);
    assert_eq!(cleared["settings"]["max_token_lifetime"], 90);

    for (flag, value) in [
        ("--rate-limit", "01/5s"),
        ("--max-lifetime", "0"),
        ("--scopes", "calls:delete"),
    ] {
        let output = cli(url, &["accounts", "update", "acme", flag, value]).await;
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
    }

    let deleted = json_out(&cli(url, &["accounts", "delete", "acme", "--json"]).await);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["revoked_keys"].as_array().unwrap().len(), 2);
    let missing = cli(url, &["accounts", "delete", "acme"]).await;
    assert!(!missing.status.success());

    let trail = audit_trail(&app).await;
    let outcomes: Vec<_> = trail
        .iter()
        .filter(|e| e["dialect"] == "cli" && e["actor"].is_null())
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    for outcome in ["account_updated", "account_deleted", "key_revoked"] {
        assert!(
            outcomes.iter().any(|o| o == outcome),
            "{outcome}: {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn a_whole_number_of_seconds_written_as_a_float_is_an_integer_as_json_schema_says() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.create_account("acme").await;

    let updated = app
        .accounts_update(&ops.secret, "acme", &json!({"max_token_lifetime": 600.0}))
        .await;

    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["settings"]["max_token_lifetime"], 600);
}
