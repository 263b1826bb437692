//! Keys over the admin API: each key's name and expiry, listKeys, and rotateKey with a grace
//! period, a precondition and a winner among concurrent rotations; the CLI's `keys rotate`
//! does the same. An expired or retired key is refused as an unknown key is, everywhere.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestKey, cli, dialects, forged_key_for, spawn_app, spawn_app_beside, spawn_app_with,
};

const PROBLEM: &str = "application/problem+json";

impl TestApp {
    fn keys_api(&self, method: Method, path: &str, admin: &TestKey) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(&admin.secret)
    }

    async fn list_keys(&self, admin: &TestKey, account: &str) -> reqwest::Response {
        self.keys_api(Method::GET, &format!("/accounts/{account}/keys"), admin)
            .send()
            .await
            .unwrap()
    }

    /// The account's keys as listKeys shows them.
    async fn keys_of(&self, admin: &TestKey, account: &str) -> Vec<Value> {
        let response = self.list_keys(admin, account).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn rotate_key(
        &self,
        admin: &TestKey,
        account: &str,
        slot: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .keys_api(
                Method::POST,
                &format!("/accounts/{account}/slots/{slot}/rotations"),
                admin,
            )
            .json(body);
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send().await.unwrap()
    }

    /// Rotates successfully; the answer's body.
    async fn rotated(&self, admin: &TestKey, account: &str, slot: &str, body: &Value) -> Value {
        let response = self.rotate_key(admin, account, slot, body, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Whether forward-auth lets `key` through (no quota involved).
    async fn works(&self, key: &str) -> bool {
        let response = self
            .forward_auth("GET", "/v1/agents", Some(("X-Api-Key", key.to_owned())))
            .await;
        match response.status() {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("unexpected {other}"),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        use keymint::core::clock::Clock as _;
        self.clock.now()
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn new_key(rotated: &Value) -> TestKey {
    TestKey {
        id: rotated["key"]["id"].as_str().unwrap().to_owned(),
        secret: rotated["secret"].as_str().unwrap().to_owned(),
    }
}

/// A body without what differs between any two answers (times, request ids).
fn comparable(mut body: Value) -> Value {
    if let Some(members) = body.as_object_mut() {
        members.retain(|name, _| {
            !matches!(
                name.as_str(),
                "timestamp" | "requestId" | "request_id" | "traceId" | "trace_id"
            )
        });
    }
    body
}

async fn status_and_body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        comparable(serde_json::from_str(&text).unwrap_or(Value::String(text))),
    )
}

/// What a key gets: from every token dialect, OAuth's client credentials and forward-auth.
async fn answers(app: &TestApp, key: &TestKey) -> Vec<(String, StatusCode, Value)> {
    let mut out = Vec::new();
    for dialect in dialects() {
        let (status, body) = status_and_body(app.ask_token(dialect, key).await).await;
        out.push((dialect.name().to_owned(), status, body));
    }
    let oauth = app
        .oauth_token(Some(key), &[("grant_type", "client_credentials")])
        .await;
    let (status, body) = status_and_body(oauth).await;
    out.push(("oauth".to_owned(), status, body));
    let forward = app
        .forward_auth("GET", "/v1/agents", Some(("X-Api-Key", key.secret.clone())))
        .await;
    let (status, body) = status_and_body(forward).await;
    out.push(("forward-auth".to_owned(), status, body));
    out
}

#[tokio::test]
async fn an_expired_key_gets_exactly_the_answer_of_an_unknown_key_everywhere() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    app.create_account("acme").await;
    let expires_at = app.now() + chrono::Duration::seconds(60);
    let rotated = app
        .rotated(
            &admin,
            "acme",
            "primary",
            &json!({"expires_at": rfc3339(expires_at)}),
        )
        .await;
    let key = new_key(&rotated);
    let token = app.token_with(&key.secret, &["calls:read"]).await;
    for (face, status, _) in answers(&app, &key).await {
        assert!(status.is_success(), "{face}: {status} before expiry");
    }

    app.clock.advance(chrono::Duration::seconds(60));

    let unknown = TestKey {
        id: "Zz9Zz9Zz9Zz".to_owned(),
        secret: forged_key_for("Zz9Zz9Zz9Zz"),
    };
    let expired = answers(&app, &key).await;
    let never_known = answers(&app, &unknown).await;
    for ((face, status, body), (_, unknown_status, unknown_body)) in
        expired.into_iter().zip(never_known)
    {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{face}: {body}");
        assert_eq!(status, unknown_status, "{face}");
        assert_eq!(body, unknown_body, "{face}");
    }
    // Its tokens die with it, as a revoked key's do.
    assert_eq!(app.calls(&token).await, StatusCode::UNAUTHORIZED);
    // And it is no longer listed.
    let ids: Vec<_> = app
        .keys_of(&admin, "acme")
        .await
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.contains(&key.id), "{ids:?}");
}

#[tokio::test]
async fn list_keys_and_get_account_show_each_keys_name_expiry_and_state() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app
        .create_account_with_scopes("acme", Some("calls:read"))
        .await;
    let expires_at = rfc3339(app.now() + chrono::Duration::days(90));
    let rotated = app
        .rotated(
            &admin,
            "acme",
            "secondary",
            &json!({"name": "billing-prod", "expires_at": expires_at, "grace_period": 600}),
        )
        .await;

    let keys = app.keys_of(&admin, "ACME").await;

    let retiring_until = rfc3339(app.now() + chrono::Duration::seconds(600));
    let shown: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k["slot"].as_str().unwrap(),
                k["state"].as_str().unwrap(),
                k["name"].clone(),
                k["expires_at"]
                    .as_str()
                    .map(|at| rfc3339(at.parse().unwrap())),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("primary", "active", Value::Null, None),
            (
                "secondary",
                "active",
                json!("billing-prod"),
                Some(expires_at)
            ),
            ("secondary", "retiring", Value::Null, Some(retiring_until)),
        ]
    );
    assert_eq!(keys[1]["id"], rotated["key"]["id"]);
    assert_eq!(keys[2]["id"], acme.secondary.id.as_str());
    for key in &keys {
        let mut members: Vec<_> = key.as_object().unwrap().keys().cloned().collect();
        members.sort();
        assert_eq!(
            members,
            [
                "created_at",
                "expires_at",
                "id",
                "last_used_at",
                "name",
                "scopes",
                "slot",
                "state"
            ]
        );
        assert_eq!(key["scopes"], json!(["calls:read"]));
    }
    let account: Value = app
        .keys_api(Method::GET, "/accounts/acme", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["keys"], json!(keys));
}

#[tokio::test]
async fn list_keys_of_an_unknown_account_is_a_404_problem() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    for name in ["nobody", "not%20a%20name"] {
        let response = app.list_keys(&admin, name).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
        assert_eq!(response.headers()["content-type"], PROBLEM);
    }
}

#[tokio::test]
async fn a_rotation_answers_the_new_secret_once_with_its_address_and_the_previous_key() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;

    let response = app
        .rotate_key(&admin, "acme", "primary", &json!({}), None)
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["key"]["id"].as_str().unwrap();
    assert_eq!(location, format!("/admin/v1/keys/{id}"));
    assert_eq!(etag, format!("\"{id}\""));
    assert_eq!(body["key"]["slot"], "primary");
    assert_eq!(body["key"]["state"], "active");
    assert!(body["secret"].as_str().unwrap().starts_with("km_"));
    assert_eq!(body["previous"]["id"], acme.primary.id.as_str());
    assert_eq!(
        body["previous"]["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        app.now()
    );
    // Without a grace period the old key stops at once; the other slot is untouched.
    assert!(!app.works(&acme.primary.secret).await);
    assert!(app.works(body["secret"].as_str().unwrap()).await);
    assert!(app.works(&acme.secondary.secret).await);
    let listed = serde_json::to_string(&app.keys_of(&admin, "acme").await).unwrap();
    assert!(
        !listed.contains(body["secret"].as_str().unwrap()),
        "never a secret"
    );
}

#[tokio::test]
async fn the_old_key_and_its_tokens_keep_working_for_the_grace_period_then_are_refused_like_unknown_ones()
 {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let old_token = app.token_with(&acme.primary.secret, &["calls:read"]).await;

    let rotated = app
        .rotated(&admin, "acme", "primary", &json!({"grace_period": 300}))
        .await;

    let ends = app.now() + chrono::Duration::seconds(300);
    assert_eq!(
        rotated["previous"]["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        ends
    );
    let fresh = new_key(&rotated);
    assert!(app.works(&acme.primary.secret).await);
    assert!(app.works(&fresh.secret).await);
    assert_eq!(app.calls(&old_token).await, StatusCode::OK);

    app.clock.advance(chrono::Duration::seconds(299));
    assert!(app.works(&acme.primary.secret).await, "within the period");

    app.clock.advance(chrono::Duration::seconds(1));
    assert!(!app.works(&acme.primary.secret).await, "after the period");
    assert_eq!(app.calls(&old_token).await, StatusCode::UNAUTHORIZED);
    assert!(app.works(&fresh.secret).await);
    let states: Vec<_> = app
        .keys_of(&admin, "acme")
        .await
        .iter()
        .map(|k| (k["id"].as_str().unwrap().to_owned(), k["state"].clone()))
        .collect();
    assert_eq!(
        states,
        [
            (fresh.id.clone(), json!("active")),
            (acme.secondary.id.clone(), json!("active")),
        ]
    );
}

#[tokio::test]
async fn a_second_rotation_ends_the_slots_retiring_key_no_later_than_the_one_it_replaces() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let first = app
        .rotated(&admin, "acme", "primary", &json!({"grace_period": 3600}))
        .await;

    // A leak: rotate again at once, without a grace period.
    let second = app.rotated(&admin, "acme", "primary", &json!({})).await;

    assert_eq!(second["previous"]["id"], first["key"]["id"]);
    assert!(!app.works(&acme.primary.secret).await);
    assert!(!app.works(first["secret"].as_str().unwrap()).await);
    assert!(app.works(second["secret"].as_str().unwrap()).await);
    assert_eq!(app.keys_of(&admin, "acme").await.len(), 2);
}

#[tokio::test]
async fn a_rotation_whose_if_match_names_another_key_is_refused_with_412_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let stale = format!("\"{}\"", acme.primary.id);
    app.rotated(&admin, "acme", "primary", &json!({})).await;
    let before = app.keys_of(&admin, "acme").await;

    for tag in [stale.as_str(), "W/\"whatever\"", "\"not-a-key-id\""] {
        let response = app
            .rotate_key(&admin, "acme", "primary", &json!({}), Some(tag))
            .await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED, "{tag}");
        assert_eq!(response.headers()["content-type"], PROBLEM);
    }
    assert_eq!(app.keys_of(&admin, "acme").await, before);

    let current = format!("\"{}\"", before[0]["id"].as_str().unwrap());
    let response = app
        .rotate_key(&admin, "acme", "primary", &json!({}), Some(&current))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The slot's keys that still work, by id.
async fn working_keys(app: &TestApp, admin: &TestKey, slot: &str) -> Vec<(String, String)> {
    app.keys_of(admin, "acme")
        .await
        .iter()
        .filter(|k| k["slot"] == slot)
        .map(|k| {
            (
                k["id"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn of_two_concurrent_rotations_with_the_same_if_match_exactly_one_is_made() {
    let app = spawn_app_with(|s| s.workers = Some(2)).await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let mut current = acme.primary.id.clone();

    for round in 0..20 {
        let tag = format!("\"{current}\"");
        let options = json!({});
        let (a, b) = tokio::join!(
            app.rotate_key(&admin, "acme", "primary", &options, Some(&tag)),
            app.rotate_key(&admin, "acme", "primary", &options, Some(&tag)),
        );

        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::PRECONDITION_FAILED],
            "round {round}"
        );
        let winner = if a.status() == StatusCode::CREATED {
            a
        } else {
            b
        };
        let body: Value = winner.json().await.unwrap();
        assert_eq!(body["previous"]["id"], current.as_str(), "round {round}");
        current = body["key"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            working_keys(&app, &admin, "primary").await,
            [(current.clone(), "active".to_owned())],
            "round {round}: one key in the slot"
        );
    }
}

#[tokio::test]
async fn of_two_concurrent_rotations_one_is_made_and_the_other_is_a_409_never_two_current_keys() {
    let app = spawn_app_with(|s| s.workers = Some(2)).await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let mut current = acme.primary.id.clone();
    let mut conflicts = 0;

    for round in 0..20 {
        let options = json!({});
        let (a, b) = tokio::join!(
            app.rotate_key(&admin, "acme", "primary", &options, None),
            app.rotate_key(&admin, "acme", "primary", &options, None),
        );

        let mut made = Vec::new();
        for response in [a, b] {
            match response.status() {
                StatusCode::CREATED => made.push(response.json::<Value>().await.unwrap()),
                StatusCode::CONFLICT => {
                    assert_eq!(response.headers()["content-type"], PROBLEM);
                    conflicts += 1;
                }
                other => panic!("round {round}: {other}"),
            }
        }
        // Either they overlapped (one made, one 409) or ran one after the other: then the
        // second replaced the first's key, and no rotation was lost.
        made.sort_by_key(|body| body["previous"]["id"] != current.as_str());
        assert!(!made.is_empty(), "round {round}: one rotation is made");
        assert_eq!(made[0]["previous"]["id"], current.as_str(), "round {round}");
        if let [first, second] = &made[..] {
            assert_eq!(
                second["previous"]["id"], first["key"]["id"],
                "round {round}"
            );
        }
        current = made.last().unwrap()["key"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            working_keys(&app, &admin, "primary").await,
            [(current.clone(), "active".to_owned())],
            "round {round}: one key in the slot"
        );
    }
    eprintln!("concurrent rotations: {conflicts} of 20 rounds overlapped (409)");
    assert!(
        conflicts > 0,
        "two requests sent at once overlap at least once in 20 rounds"
    );
}

#[tokio::test]
async fn a_read_only_admin_key_cannot_rotate() {
    let app = spawn_app().await;
    let reader = app.create_admin_key("auditor", true).await;
    let acme = app.create_account("acme").await;

    let response = app
        .rotate_key(&reader, "acme", "primary", &json!({}), None)
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["content-type"], PROBLEM);
    assert!(app.works(&acme.primary.secret).await);
    assert_eq!(
        app.list_keys(&reader, "acme").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rotation_requests_that_cannot_be_made_are_problems_naming_what_is_wrong() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let past = rfc3339(app.now() - chrono::Duration::seconds(1));
    let cases: Vec<(&str, &str, Value, StatusCode, Vec<&str>)> = vec![
        (
            "nobody",
            "primary",
            json!({}),
            StatusCode::NOT_FOUND,
            vec![],
        ),
        ("acme", "tertiary", json!({}), StatusCode::NOT_FOUND, vec![]),
        (
            "acme",
            "primary",
            json!({"grace_period": -1, "name": "has space", "expires_at": "tomorrow"}),
            StatusCode::BAD_REQUEST,
            vec!["expires_at", "grace_period", "name"],
        ),
        (
            "acme",
            "primary",
            json!({"grace_period": 2_592_001}),
            StatusCode::BAD_REQUEST,
            vec!["grace_period"],
        ),
        (
            "acme",
            "primary",
            json!({"grace_period": null}),
            StatusCode::BAD_REQUEST,
            vec!["grace_period"],
        ),
        (
            "acme",
            "primary",
            json!({"expires_at": past}),
            StatusCode::BAD_REQUEST,
            vec!["expires_at"],
        ),
        (
            "acme",
            "primary",
            json!({"slot": "primary"}),
            StatusCode::BAD_REQUEST,
            vec!["slot"],
        ),
    ];
    for (account, slot, body, status, fields) in cases {
        let case = format!("{account}/{slot} {body}");
        let response = app.rotate_key(&admin, account, slot, &body, None).await;
        assert_eq!(response.status(), status, "{case}");
        assert_eq!(response.headers()["content-type"], PROBLEM, "{case}");
        let problem: Value = response.json().await.unwrap();
        let mut named: Vec<_> = problem["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        named.sort();
        assert_eq!(named, fields, "{case}: {problem}");
    }
    assert!(app.works(&acme.primary.secret).await, "nothing rotated");
    // A whole number written as a float is an integer, as JSON Schema counts them.
    let response = app
        .rotate_key(
            &admin,
            "acme",
            "primary",
            &json!({"grace_period": 60.0}),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // No body at all, or `null`, is a rotation with no options.
    let response = app
        .keys_api(
            Method::POST,
            "/accounts/acme/slots/primary/rotations",
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .rotate_key(&admin, "acme", "primary", &Value::Null, None)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_rotation_is_on_record_with_its_admin_key_as_actor_and_the_cli_does_the_same() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    app.create_account("acme").await;
    let by_api = app
        .rotated(&admin, "acme", "primary", &json!({"grace_period": 60}))
        .await;
    let expires_at = "2099-01-01T00:00:00Z";

    let output = cli(
        &app.database_url,
        &[
            "keys",
            "rotate",
            "acme",
            "--slot",
            "secondary",
            "--grace",
            "60",
            "--name",
            "ci",
            "--expires-at",
            expires_at,
            "--json",
        ],
    )
    .await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let by_cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(by_cli["slot"], "secondary");
    assert_eq!(by_cli["name"], "ci");
    assert_eq!(
        by_cli["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        expires_at.parse::<DateTime<Utc>>().unwrap()
    );
    assert!(by_cli["previous"]["id"].is_string());
    let cli_key = TestKey {
        id: by_cli["id"].as_str().unwrap().to_owned(),
        secret: by_cli["secret"].as_str().unwrap().to_owned(),
    };
    assert!(app.works(&cli_key.secret).await);
    let listed = app.keys_of(&admin, "acme").await;
    let cli_listed = listed
        .iter()
        .find(|k| k["id"] == cli_key.id.as_str())
        .unwrap();
    assert_eq!(cli_listed["name"], "ci");

    app.tokens.audit().flush().await;
    let trail = cli(&app.database_url, &["audit", "--json", "--limit", "1000"]).await;
    let trail: Value = serde_json::from_slice(&trail.stdout).unwrap();
    let rotations: Vec<_> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "key_rotated")
        .collect();
    assert_eq!(rotations.len(), 2, "{rotations:?}");
    let (cli_event, api_event) = (rotations[0], rotations[1]);
    assert_eq!(api_event["actor"], admin.id.as_str());
    assert_eq!(api_event["dialect"], "admin");
    assert_eq!(api_event["account"], "acme");
    assert_eq!(api_event["key_id"], by_api["key"]["id"]);
    assert!(cli_event["actor"].is_null());
    assert_eq!(cli_event["dialect"], "cli");
    assert_eq!(cli_event["key_id"], cli_key.id.as_str());
    let text = trail.to_string();
    assert!(
        !text.contains(by_api["secret"].as_str().unwrap()),
        "never a secret"
    );
}

#[tokio::test]
async fn the_cli_refuses_an_expiry_that_is_not_later_than_now() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;

    let output = cli(
        &app.database_url,
        &[
            "keys",
            "rotate",
            "acme",
            "--slot",
            "primary",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
    )
    .await;

    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("later than now"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(app.works(&acme.primary.secret).await);
}

#[tokio::test]
async fn a_key_rotated_through_the_admin_api_is_refused_by_another_instance_within_a_second() {
    let configure = |s: &mut keymint::cli::ServeArgs| {
        s.failed_auth_limit = "1000000/1s".parse().unwrap();
    };
    let first = spawn_app_with(configure).await;
    let second = spawn_app_beside(&first, configure).await;
    let admin = first.create_admin_key("ops", false).await;
    let mut worst = Duration::ZERO;

    for trial in 0..10 {
        let account = format!("acme-{trial}");
        let acme = first.create_account(&account).await;
        // The other instance has the key cached.
        assert!(second.works(&acme.primary.secret).await);

        let rotated = first.rotated(&admin, &account, "primary", &json!({})).await;
        let rotated_at = Instant::now();
        while second.works(&acme.primary.secret).await {
            assert!(
                rotated_at.elapsed() < Duration::from_secs(1),
                "the other instance still honours the rotated key after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst = worst.max(rotated_at.elapsed());
        assert!(second.works(rotated["secret"].as_str().unwrap()).await);
    }
    eprintln!("admin API rotation reaching another instance: worst of 10 trials {worst:?}");
}

#[tokio::test]
async fn revoking_a_retiring_key_ends_its_grace_period_at_once() {
    let app = spawn_app().await;
    let admin = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let rotated = app
        .rotated(&admin, "acme", "primary", &json!({"grace_period": 3600}))
        .await;
    assert!(app.works(&acme.primary.secret).await);

    let response = app
        .keys_api(
            Method::DELETE,
            &format!("/keys/{}", acme.primary.id),
            &admin,
        )
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!app.works(&acme.primary.secret).await);
    assert!(app.works(rotated["secret"].as_str().unwrap()).await);
    assert_eq!(
        working_keys(&app, &admin, "primary").await,
        [(new_key(&rotated).id, "active".to_owned())]
    );
}
