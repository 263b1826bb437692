//! The admin API's operations beside accounts and keys: the audit trail (listAuditEvents), a
//! page at a time and by the command line's filters.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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

#[tokio::test]
async fn an_event_written_late_with_an_older_time_is_on_a_later_page_not_lost() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    // A token event waits in the buffer while a later change is written at once.
    app.volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    app.clock.advance(chrono::Duration::seconds(1));
    app.account_by_api(&ops.secret, "globex").await;

    let first = app.audit_page(&ops.secret, "?limit=1").await;
    app.tokens.audit().flush().await;
    let second = app
        .audit_page(
            &ops.secret,
            &format!("?limit=1&cursor={}", cursor_of(&first)),
        )
        .await;

    assert_eq!(outcomes(&first), [r#"account_created "globex""#]);
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
            "?account=bad%20name&since=yesterday&cursor=nope&limit=0",
            vec!["account", "since", "cursor", "limit"],
        ),
        ("?limit=101", vec!["limit"]),
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
