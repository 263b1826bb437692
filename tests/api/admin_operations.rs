//! The admin API's operations beside accounts and keys: the audit trail (listAuditEvents), a
//! page at a time and by the command line's filters; the signing keys (listSigningKeys,
//! rotateSigningKey), public facts only, a rotation published everywhere before it signs; one
//! token of any account revoked (revokeToken).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use std::borrow::Cow;
use std::sync::Arc;

use keymint::core::audit::{AuditEvent, Outcome, encode_batch};
use keymint::core::clock::Clock as _;

use crate::helpers::{TestApp, cli, spawn_app};

const PROBLEM: &str = "application/problem+json";
const CHALLENGE: &str = "Bearer realm=\"keymint-admin\"";

impl TestApp {
    /// A request to an operation of the admin API (`path` under `/admin/v1`), with `key` as a
    /// bearer credential if given.
    fn operation(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, self.url(&format!("/admin/v1{path}")));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn list_audit_events(&self, key: &str, query: &str) -> reqwest::Response {
        self.operation(Method::GET, &format!("/audit-events{query}"), Some(key))
            .send()
            .await
            .unwrap()
    }

    /// A page of the audit trail, which must be answered.
    async fn audit_page(&self, key: &str, query: &str) -> Value {
        let response = self.list_audit_events(key, query).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    /// An account made over the admin API.
    async fn account_by_api(&self, key: &str, name: &str) -> Value {
        let response = self
            .operation(Method::POST, "/accounts", Some(key))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
        response.json().await.unwrap()
    }
}

/// Asserts an RFC 9457 problem of `status`, and returns it.
async fn refusal(response: reqwest::Response, status: StatusCode, case: &str) -> Value {
    assert_eq!(response.status(), status, "{case}");
    assert_eq!(response.headers()["content-type"], PROBLEM, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{case}: {body}");
    body
}

/// The fields a problem's `errors` names.
fn fields_at_fault(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect()
}

/// Each event of a page as `outcome account`.
fn outcomes(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["outcome"].as_str().unwrap(), e["account"]))
        .collect()
}

fn cursor_of(page: &Value) -> String {
    page["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no next page after {page}"))
        .to_owned()
}

#[tokio::test]
async fn audit_events_come_newest_first_a_page_at_a_time_and_new_events_shift_no_page() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    for name in ["a0", "a1", "a2", "a3", "a4"] {
        app.account_by_api(&ops.secret, name).await;
    }

    let first = app.audit_page(&ops.secret, "?limit=2").await;
    // Written while the listing goes on: it belongs before the first page, not in a later one.
    app.account_by_api(&ops.secret, "late").await;
    let second = app
        .audit_page(
            &ops.secret,
            &format!("?limit=2&cursor={}", cursor_of(&first)),
        )
        .await;
    let third = app
        .audit_page(
            &ops.secret,
            &format!("?limit=2&cursor={}", cursor_of(&second)),
        )
        .await;

    assert_eq!(
        outcomes(&first),
        [r#"account_created "a4""#, r#"account_created "a3""#]
    );
    assert_eq!(
        outcomes(&second),
        [r#"account_created "a2""#, r#"account_created "a1""#]
    );
    assert_eq!(
        outcomes(&third),
        [r#"account_created "a0""#, "admin_key_created null"]
    );
    assert!(third["next_cursor"].is_null(), "the last page: {third}");
    let afresh = app.audit_page(&ops.secret, "?limit=1").await;
    assert_eq!(outcomes(&afresh), [r#"account_created "late""#]);
}

/// A token issued to `account` at `at`, as the trail records it.
fn issued(at: chrono::DateTime<chrono::Utc>, account: &str) -> AuditEvent {
    AuditEvent {
        at,
        dialect: Cow::Borrowed("volubile"),
        outcome: Outcome::Issued,
        reason: None,
        account: Some(Arc::from(account)),
        key_id: None,
        scopes: None,
        jti: None,
        client_ip: None,
        count: 1,
        actor: None,
    }
}

/// Writes one batch of the event, as another instance would.
async fn write_batch_of(app: &TestApp, event: AuditEvent) {
    let batch = encode_batch([&event], app.tokens.scopes());
    app.store.record_audit(&[batch]).await.unwrap();
}

#[tokio::test]
async fn an_event_written_late_with_an_older_time_is_on_a_later_page_not_lost() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let earlier = app.clock.now();
    app.clock.advance(chrono::Duration::seconds(1));
    app.account_by_api(&ops.secret, "globex").await;

    let first = app.audit_page(&ops.secret, "?limit=1").await;
    // Another instance's batch, written only now, holds an event older than the first page.
    write_batch_of(&app, issued(earlier, "acme")).await;
    let second = app
        .audit_page(
            &ops.secret,
            &format!("?limit=1&cursor={}", cursor_of(&first)),
        )
        .await;
    let third = app
        .audit_page(
            &ops.secret,
            &format!("?limit=1&cursor={}", cursor_of(&second)),
        )
        .await;

    assert_eq!(outcomes(&first), [r#"account_created "globex""#]);
    assert_eq!(outcomes(&second), [r#"issued "acme""#]);
    assert_eq!(outcomes(&third), ["admin_key_created null"]);
    assert!(third["next_cursor"].is_null());
}

#[tokio::test]
async fn events_of_the_same_microsecond_in_two_batches_are_each_on_a_page() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.clock.advance(chrono::Duration::seconds(1));
    for account in ["acme", "globex"] {
        write_batch_of(&app, issued(app.clock.now(), account)).await;
    }

    let first = app.audit_page(&ops.secret, "?limit=1").await;
    // The cursor's time is the oldest event of the batch written first: that batch is read.
    let second = app
        .audit_page(
            &ops.secret,
            &format!("?limit=1&cursor={}", cursor_of(&first)),
        )
        .await;

    assert_eq!(outcomes(&first), [r#"issued "globex""#]);
    assert_eq!(outcomes(&second), [r#"issued "acme""#]);
}

#[tokio::test]
async fn audit_events_are_filtered_by_account_and_since_as_the_cli_filters_them() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.clock.advance(chrono::Duration::seconds(1));
    app.account_by_api(&ops.secret, "acme").await;
    let acme_created_at = app.clock.now();
    app.clock.advance(chrono::Duration::hours(2));
    app.account_by_api(&ops.secret, "globex").await;

    let acme = app.audit_page(&ops.secret, "?account=acme").await;
    let last_hour = app.audit_page(&ops.secret, "?since=1h").await;
    let since_acme = app
        .audit_page(
            &ops.secret,
            &format!(
                "?since={}",
                urlencoding(&acme_created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            ),
        )
        .await;

    assert_eq!(outcomes(&acme), [r#"account_created "acme""#]);
    assert_eq!(outcomes(&last_hour), [r#"account_created "globex""#]);
    assert_eq!(
        outcomes(&since_acme),
        [r#"account_created "globex""#, r#"account_created "acme""#]
    );
    let event = &acme["events"][0];
    assert_eq!(event["actor"], ops.id.as_str());
    assert_eq!(event["dialect"], "admin");
    assert_eq!(event["count"], 1);
    assert_eq!(event["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn audit_events_are_filtered_by_outcome_a_page_at_a_time_in_the_api_and_the_cli() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    for name in ["acme", "globex"] {
        app.account_by_api(&ops.secret, name).await;
    }

    let first = app
        .audit_page(&ops.secret, "?outcome=account_created&limit=1")
        .await;
    let next = app
        .audit_page(
            &ops.secret,
            &format!(
                "?outcome=account_created&limit=1&cursor={}",
                cursor_of(&first)
            ),
        )
        .await;
    let admin_keys = app
        .audit_page(&ops.secret, "?outcome=admin_key_created")
        .await;
    let output = cli(
        &app.database_url,
        &["audit", "--json", "--outcome", "admin_key_created"],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let by_cli: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(outcomes(&first), [r#"account_created "globex""#]);
    assert_eq!(outcomes(&next), [r#"account_created "acme""#]);
    assert!(next["next_cursor"].is_null(), "{next}");
    assert_eq!(outcomes(&admin_keys), ["admin_key_created null"]);
    assert_eq!(outcomes(&by_cli), outcomes(&admin_keys));
}

#[tokio::test]
async fn the_cli_refuses_an_unknown_outcome_and_lists_the_known_ones() {
    let app = spawn_app().await;

    let output = cli(&app.database_url, &["audit", "--outcome", "minted"]).await;

    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("issued refused revoked account_created"),
        "{stderr}"
    );
}

fn urlencoding(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test]
async fn the_cli_and_the_api_read_the_same_pages_through_one_query() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    for name in ["acme", "globex", "initech"] {
        app.account_by_api(&ops.secret, name).await;
    }

    let api = app.audit_page(&ops.secret, "?limit=2").await;
    let by_cli = |args: Vec<String>| {
        let database_url = app.database_url.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = cli(&database_url, &args).await;
            assert!(output.status.success(), "{output:?}");
            serde_json::from_slice::<Value>(&output.stdout).unwrap()
        }
    };
    let cli_first = by_cli(vec![
        "audit".into(),
        "--json".into(),
        "--limit".into(),
        "2".into(),
    ])
    .await;
    let cli_next = by_cli(vec![
        "audit".into(),
        "--json".into(),
        "--limit".into(),
        "2".into(),
        "--cursor".into(),
        cursor_of(&api),
    ])
    .await;
    let api_next = app
        .audit_page(&ops.secret, &format!("?limit=2&cursor={}", cursor_of(&api)))
        .await;

    assert_eq!(outcomes(&cli_first), outcomes(&api));
    assert_eq!(cli_first["next_cursor"], api["next_cursor"]);
    assert_eq!(outcomes(&cli_next), outcomes(&api_next));
    assert_eq!(
        outcomes(&api_next),
        [r#"account_created "acme""#, "admin_key_created null"]
    );
    assert!(cli_next["next_cursor"].is_null());
}

#[tokio::test]
async fn a_bad_audit_query_is_a_400_problem_naming_each_parameter() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let cases = [
        (
            "?account=bad%20name&outcome=minted&since=yesterday&cursor=nope&limit=0",
            vec!["account", "outcome", "since", "cursor", "limit"],
        ),
        ("?outcome=Issued", vec!["outcome"]),
        ("?limit=101", vec!["limit"]),
        // A character wider than a byte where an age's unit goes.
        ("?since=%C2%80", vec!["since"]),
        ("?since=-1h", vec!["since"]),
        ("?cursor=1-2-3-4", vec!["cursor"]),
        ("?limit=1&limit=2", vec!["limit"]),
    ];

    for (query, expected) in cases {
        let response = app.list_audit_events(&ops.secret, query).await;
        let problem = refusal(response, StatusCode::BAD_REQUEST, query).await;
        assert_eq!(fields_at_fault(&problem), expected, "{query}");
    }
}

#[tokio::test]
async fn a_read_only_admin_key_reads_the_audit_trail_and_nothing_else_opens_it() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let auditor = app.create_admin_key("auditor", true).await;

    let page = app.audit_page(&auditor.secret, "").await;
    assert_eq!(outcomes(&page), ["admin_key_created null"]);

    for (case, key) in [
        ("no credentials", None),
        ("an account's API key", Some(acme.primary.secret.as_str())),
    ] {
        let response = app
            .operation(Method::GET, "/audit-events", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["www-authenticate"], CHALLENGE, "{case}");
        refusal(response, StatusCode::UNAUTHORIZED, case).await;
    }
}

/// The `kid`s `instance`'s JWKS publishes.
async fn published_kids(instance: &TestApp) -> Vec<String> {
    let set = instance.get_json("/.well-known/jwks.json").await;
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

impl TestApp {
    async fn list_signing_keys(&self, key: &str, query: &str) -> reqwest::Response {
        self.operation(Method::GET, &format!("/signing-keys{query}"), Some(key))
            .send()
            .await
            .unwrap()
    }

    async fn rotate_signing_key_by_api(
        &self,
        key: &str,
        alg: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let request = self.operation(
            Method::POST,
            &format!("/signing-keys/{alg}/rotations"),
            Some(key),
        );
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn list_signing_keys_shows_each_keys_public_facts_only() {
    let app = spawn_app().await;
    let auditor = app.create_admin_key("auditor", true).await;

    let response = app.list_signing_keys(&auditor.secret, "").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let listed: Value = response.json().await.unwrap();
    let keys = listed["keys"].as_array().unwrap();
    // The standard dialect's first ES256 key, made at startup, is the one it publishes.
    assert_eq!(keys.len(), 1, "{listed}");
    let members: Vec<_> = keys[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        members,
        ["activates_at", "alg", "created_at", "kid", "revoked_at"],
        "public facts only"
    );
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0]["revoked_at"].is_null());
    assert_eq!(
        published_kids(&app).await,
        [keys[0]["kid"].as_str().unwrap()]
    );
    let eddsa: Value = app
        .list_signing_keys(&auditor.secret, "?alg=EdDSA")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(eddsa["keys"], json!([]));
    for query in ["?alg=HS256", "?alg=es256", "?alg=ES256&alg=RS256"] {
        let response = app.list_signing_keys(&auditor.secret, query).await;
        let problem = refusal(response, StatusCode::BAD_REQUEST, query).await;
        assert_eq!(fields_at_fault(&problem), ["alg"], "{query}");
    }
}

#[tokio::test]
async fn rotate_signing_key_publishes_the_next_key_everywhere_before_it_signs_on_record() {
    let app = spawn_app().await;
    let other = crate::helpers::spawn_app_beside(&app, |_| {}).await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let signing_kid = published_kids(&app).await[0].clone();

    let response = app
        .rotate_signing_key_by_api(&ops.secret, "ES256", Some(json!({"activation_delay": 120})))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: Value = response.json().await.unwrap();
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid.len(), 43, "an RFC 7638 thumbprint");
    assert_eq!(rotated["alg"], "ES256");
    let at = |member: &str| {
        chrono::DateTime::parse_from_rfc3339(rotated[member].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        at("activates_at") - at("created_at"),
        chrono::Duration::seconds(120)
    );
    // Every instance publishes it within a second, through the change feed.
    for instance in [&app, &other] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !published_kids(instance).await.contains(&kid) {
            assert!(
                std::time::Instant::now() < deadline,
                "not published after a second"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Not signing yet: the standard dialect's tokens still name the old key.
    let token: Value = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&acme.primary.id, Some(&acme.primary.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(crate::helpers::header(token)["kid"], signing_kid.as_str());
    let listed: Value = app
        .list_signing_keys(&ops.secret, "?alg=ES256")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"][1]["kid"], kid.as_str(), "oldest first");

    let events = app.audit_page(&ops.secret, "").await;
    let event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "signing_key_rotated")
        .unwrap_or_else(|| panic!("not on record: {events}"));
    assert_eq!(event["actor"], ops.id.as_str());
    assert_eq!(event["dialect"], "admin");
    assert_eq!(event["reason"], format!("ES256 {kid}"));
}

#[tokio::test]
async fn rotate_signing_key_refuses_what_is_not_a_key_pair_too_short_a_delay_and_read_only_keys() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let auditor = app.create_admin_key("auditor", true).await;

    for alg in ["HS256", "PS256", "es256"] {
        let response = app.rotate_signing_key_by_api(&ops.secret, alg, None).await;
        refusal(response, StatusCode::NOT_FOUND, alg).await;
    }
    for (case, body) in [
        ("too soon", json!({"activation_delay": 64})),
        ("a string", json!({"activation_delay": "300"})),
        (
            "an unknown member",
            json!({"activation_delay": 300, "kid": "mine"}),
        ),
    ] {
        let response = app
            .rotate_signing_key_by_api(&ops.secret, "EdDSA", Some(body))
            .await;
        let problem = refusal(response, StatusCode::BAD_REQUEST, case).await;
        assert_eq!(fields_at_fault(&problem).len(), 1, "{case}: {problem}");
    }
    let read_only = app
        .rotate_signing_key_by_api(&auditor.secret, "EdDSA", None)
        .await;
    refusal(read_only, StatusCode::FORBIDDEN, "a read-only key").await;
    let listed: Value = app
        .list_signing_keys(&ops.secret, "?alg=EdDSA")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"], json!([]), "nothing was made");

    let null_body = app
        .rotate_signing_key_by_api(&ops.secret, "EdDSA", Some(Value::Null))
        .await;
    assert_eq!(null_body.status(), StatusCode::CREATED, "null: no terms");
    let without_body = app
        .rotate_signing_key_by_api(&ops.secret, "EdDSA", None)
        .await;
    assert_eq!(without_body.status(), StatusCode::CREATED);
    let rotated: Value = without_body.json().await.unwrap();
    let at = |member: &str| {
        chrono::DateTime::parse_from_rfc3339(rotated[member].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        at("activates_at") - at("created_at"),
        chrono::Duration::seconds(300)
    );
}

#[tokio::test]
async fn the_cli_rotates_signing_keys_through_the_same_operation_on_record() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;

    let output = cli(
        &app.database_url,
        &["signing-keys", "rotate", "--alg", "RS256", "--json"],
    )
    .await;

    assert!(output.status.success(), "{output:?}");
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let events = app.audit_page(&ops.secret, "?limit=1").await;
    let event = &events["events"][0];
    assert_eq!(event["outcome"], "signing_key_rotated");
    assert_eq!(event["dialect"], "cli");
    assert!(event["actor"].is_null());
    assert_eq!(
        event["reason"],
        format!("RS256 {}", rotated["kid"].as_str().unwrap())
    );
}

impl TestApp {
    async fn revoke_token_by_api(&self, key: &str, body: &Value) -> reqwest::Response {
        self.operation(Method::POST, "/token-revocations", Some(key))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Polls until `instance`'s forward-auth answers `status` for `token`, for at most a second.
async fn forward_auth_within_a_second(instance: &TestApp, token: &str, status: StatusCode) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let answer = instance
            .forward_auth("GET", "/v1/calls", crate::helpers::bearer(token))
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
async fn revoke_token_revokes_any_accounts_token_on_every_instance_on_record() {
    let app = spawn_app().await;
    let other = crate::helpers::spawn_app_beside(&app, |_| {}).await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    for instance in [&app, &other] {
        forward_auth_within_a_second(instance, &token, StatusCode::OK).await;
    }

    let response = app
        .revoke_token_by_api(&ops.secret, &json!({ "token": token }))
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.bytes().await.unwrap().is_empty());
    for instance in [&app, &other] {
        forward_auth_within_a_second(instance, &token, StatusCode::UNAUTHORIZED).await;
    }
    let fresh = app.token_for(&acme.primary.secret).await;
    forward_auth_within_a_second(&app, &fresh, StatusCode::OK).await;
    let events = app.audit_page(&ops.secret, "").await;
    let revoked = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "revoked")
        .unwrap_or_else(|| panic!("not on record: {events}"));
    assert_eq!(revoked["actor"], ops.id.as_str());
    assert_eq!(revoked["dialect"], "admin");
    assert_eq!(revoked["account"], "acme");
    assert_eq!(
        revoked["key_id"],
        acme.primary.id.as_str(),
        "the key that minted it"
    );
    assert_eq!(revoked["jti"], crate::helpers::claims(&token)["jti"]);
    assert!(
        !events.to_string().contains(&token),
        "never the token itself"
    );
}

#[tokio::test]
async fn revoke_token_answers_204_for_what_is_no_live_token_and_records_nothing() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let last = if token.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);

    for not_live in ["not-a-token", forged.as_str()] {
        let response = app
            .revoke_token_by_api(&ops.secret, &json!({ "token": not_live }))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{not_live}");
    }

    forward_auth_within_a_second(&app, &token, StatusCode::OK).await;
    let events = app.audit_page(&ops.secret, "").await;
    assert!(
        !outcomes(&events).iter().any(|e| e.starts_with("revoked")),
        "{events}"
    );
}

#[tokio::test]
async fn revoke_token_refuses_a_bad_body_and_a_read_only_key() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let auditor = app.create_admin_key("auditor", true).await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;

    for (case, body) in [
        ("no token", json!({})),
        ("an empty token", json!({"token": ""})),
        ("a number", json!({"token": 5})),
        ("not a compact JWS", json!({"token": "eyJ hbG.ci\u{e9}.x"})),
        (
            "an unknown member",
            json!({"token": token, "hint": "access_token"}),
        ),
    ] {
        let response = app.revoke_token_by_api(&ops.secret, &body).await;
        let problem = refusal(response, StatusCode::BAD_REQUEST, case).await;
        assert_eq!(fields_at_fault(&problem).len(), 1, "{case}: {problem}");
    }
    let as_text = app
        .operation(Method::POST, "/token-revocations", Some(&ops.secret))
        .header("content-type", "text/plain")
        .body(format!(r#"{{"token":"{token}"}}"#))
        .send()
        .await
        .unwrap();
    refusal(as_text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain").await;
    let read_only = app
        .revoke_token_by_api(&auditor.secret, &json!({ "token": token }))
        .await;
    refusal(read_only, StatusCode::FORBIDDEN, "a read-only key").await;

    forward_auth_within_a_second(&app, &token, StatusCode::OK).await;
}
