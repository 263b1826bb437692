//! The admin API and the admin keys that open it: made, listed and revoked with the CLI;
//! accounts listed, read, created, and keys revoked over HTTP; every refusal an RFC 9457
//! problem; every change on record with its admin key.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, cli, spawn_app, spawn_app_with};

const PROBLEM: &str = "application/problem+json";
const CHALLENGE: &str = "Bearer realm=\"keymint-admin\"";

impl TestApp {
    /// A request to the admin API (`path` under `/admin/v1`), with `key` as a bearer
    /// credential if given.
    fn admin_api(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, self.url(&format!("/admin/v1{path}")));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn list_accounts(&self, key: &str, query: &str) -> reqwest::Response {
        self.admin_api(Method::GET, &format!("/accounts{query}"), Some(key))
            .send()
            .await
            .unwrap()
    }

    async fn get_account(&self, key: &str, name: &str) -> reqwest::Response {
        self.admin_api(Method::GET, &format!("/accounts/{name}"), Some(key))
            .send()
            .await
            .unwrap()
    }

    async fn create_account_by_api(&self, key: &str, body: &Value) -> reqwest::Response {
        self.admin_api(Method::POST, "/accounts", Some(key))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn revoke_key_by_api(&self, key: &str, id: &str) -> reqwest::Response {
        self.admin_api(Method::DELETE, &format!("/keys/{id}"), Some(key))
            .send()
            .await
            .unwrap()
    }
}

/// Asserts an RFC 9457 problem of `status`, and returns it.
async fn problem(response: reqwest::Response, status: StatusCode, case: &str) -> Value {
    assert_eq!(response.status(), status, "{case}");
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(media, PROBLEM, "{case}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "about:blank", "{case}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{case}: {body}");
    assert_eq!(
        body["title"],
        status.canonical_reason().unwrap(),
        "{case}: {body}"
    );
    assert!(body["detail"].is_string(), "{case}: {body}");
    body
}

/// The fields a problem's `errors` names.
fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|error| {
            assert!(error["detail"].is_string(), "{error}");
            error["field"].as_str().unwrap()
        })
        .collect()
}

fn json_out(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

async fn audit_events(app: &TestApp) -> Vec<Value> {
    app.tokens.audit().flush().await;
    let events = json_out(&cli(&app.database_url, &["audit", "--json", "--limit", "1000"]).await);
    events["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn admin_keys_are_created_listed_and_revoked_with_the_cli_and_open_the_api_until_revoked() {
    let app = spawn_app().await;

    let created = json_out(
        &cli(
            &app.database_url,
            &["admin-keys", "create", "ops", "--json"],
        )
        .await,
    );

    let fields: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    assert_eq!(fields, ["created_at", "id", "name", "read_only", "secret"]);
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert!(
        secret.starts_with("kma_") && secret.contains(id),
        "{secret}"
    );
    assert_eq!(
        (created["name"].clone(), created["read_only"].clone()),
        (json!("ops"), json!(false))
    );
    assert_eq!(app.list_accounts(secret, "").await.status(), StatusCode::OK);

    let listed = cli(&app.database_url, &["admin-keys", "list", "--json"]).await;
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(secret),
        "never the secret"
    );
    let listed = json_out(&listed);
    assert_eq!(listed["admin_keys"][0]["id"], id);
    assert!(listed["admin_keys"][0]["revoked_at"].is_null());

    let revoked = cli(&app.database_url, &["admin-keys", "revoke", id]).await;
    assert!(revoked.status.success());

    // Looked up on every request: refused at once, with no change feed to wait for.
    let refused = app.list_accounts(secret, "").await;
    problem(refused, StatusCode::UNAUTHORIZED, "a revoked admin key").await;
    let listed = json_out(&cli(&app.database_url, &["admin-keys", "list", "--json"]).await);
    assert!(
        listed["admin_keys"][0]["revoked_at"].is_string(),
        "{listed}"
    );
    let again = cli(&app.database_url, &["admin-keys", "revoke", id]).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no active admin key"), "{stderr}");
}

#[tokio::test]
async fn a_read_only_admin_key_is_made_with_the_cli_and_a_bad_name_is_a_usage_error() {
    let app = spawn_app().await;
    let created = json_out(
        &cli(
            &app.database_url,
            &["admin-keys", "create", "auditor", "--read-only", "--json"],
        )
        .await,
    );
    assert_eq!(created["read_only"], true);

    let bad = cli(&app.database_url, &["admin-keys", "create", "bad name"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn anything_but_a_live_admin_key_is_refused_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app.create_admin_key("gone", false).await;
    let output = cli(&app.database_url, &["admin-keys", "revoke", &revoked.id]).await;
    assert!(output.status.success());
    let live = app.create_admin_key("ops", false).await;
    let cases: [(&str, Vec<(&str, String)>); 7] = [
        ("no credentials", vec![]),
        (
            "an account's API key as a bearer",
            vec![("Authorization", format!("Bearer {}", acme.primary.secret))],
        ),
        (
            "an account's API key in X-Api-Key",
            vec![("X-Api-Key", acme.primary.secret.clone())],
        ),
        (
            "a token",
            vec![("Authorization", format!("Bearer {token}"))],
        ),
        (
            "a revoked admin key",
            vec![("Authorization", format!("Bearer {}", revoked.secret))],
        ),
        (
            "an admin key as HTTP Basic",
            vec![(
                "Authorization",
                crate::helpers::basic(&live.id, &live.secret),
            )],
        ),
        (
            "a mistyped admin key",
            vec![("Authorization", format!("Bearer {}x", live.secret))],
        ),
    ];

    for (case, headers) in cases {
        let mut request = app.admin_api(Method::GET, "/accounts", None);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some(CHALLENGE),
            "{case}"
        );
        problem(response, StatusCode::UNAUTHORIZED, case).await;
    }
}

#[tokio::test]
async fn a_read_only_admin_key_may_read_but_is_refused_every_change_on_record() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let auditor = app.create_admin_key("auditor", true).await;

    assert_eq!(
        app.list_accounts(&auditor.secret, "").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_account(&auditor.secret, "acme").await.status(),
        StatusCode::OK
    );
    let create = app
        .create_account_by_api(&auditor.secret, &json!({"name": "globex"}))
        .await;
    problem(create, StatusCode::FORBIDDEN, "createAccount").await;
    // Refused before the body is looked at: a read-only key learns nothing of what is valid.
    let invalid = app
        .create_account_by_api(&auditor.secret, &json!({"name": "bad name"}))
        .await;
    problem(invalid, StatusCode::FORBIDDEN, "createAccount, invalid").await;
    let revoke = app
        .revoke_key_by_api(&auditor.secret, &acme.primary.id)
        .await;
    problem(revoke, StatusCode::FORBIDDEN, "revokeKey").await;

    assert_eq!(
        app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
            .await
            .status(),
        StatusCode::OK,
        "nothing changed"
    );
    let refusals: Vec<_> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e["reason"] == "read_only")
        .collect();
    assert_eq!(refusals.len(), 3);
    assert!(
        refusals
            .iter()
            .all(|e| e["actor"] == auditor.id.as_str() && e["dialect"] == "admin")
    );
}

#[tokio::test]
async fn guesses_at_admin_keys_spend_the_addresss_failed_auth_quota() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let ops = app.create_admin_key("ops", false).await;

    for _ in 0..4 {
        let guess = app.list_accounts("kma_guess", "").await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }

    let blocked = app.list_accounts(&ops.secret, "").await;
    assert!(blocked.headers().contains_key("retry-after"));
    problem(
        blocked,
        StatusCode::TOO_MANY_REQUESTS,
        "a real admin key, after the guesses",
    )
    .await;
    // One quota per address, whichever API the guesses went to.
    let token = app
        .volubile_token(&acme.primary.secret, &json!({"scope": []}))
        .await;
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn no_credentials_spend_no_failed_auth_quota() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "2/60s".parse().unwrap()).await;
    let ops = app.create_admin_key("ops", false).await;
    for _ in 0..5 {
        let none = app
            .admin_api(Method::GET, "/accounts", None)
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.list_accounts(&ops.secret, "").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn create_account_answers_201_with_its_address_and_keys_that_get_tokens() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;

    let response = app
        .create_account_by_api(
            &ops.secret,
            &json!({"name": "acme", "scopes": ["calls:read"]}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/admin/v1/accounts/acme");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "acme");
    let keys = created["keys"].as_array().unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| k["slot"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["primary", "secondary"]
    );
    for key in keys {
        assert_eq!(key["scopes"], json!(["calls:read"]));
        let secret = key["secret"].as_str().unwrap();
        assert!(secret.starts_with("km_") && secret.contains(key["id"].as_str().unwrap()));
        let granted = app
            .volubile_token(secret, &json!({"scope": ["calls:read"]}))
            .await;
        assert_eq!(granted.status(), StatusCode::OK);
        let beyond = app
            .volubile_token(secret, &json!({"scope": ["calls:write"]}))
            .await;
        assert_eq!(
            beyond.status(),
            StatusCode::BAD_REQUEST,
            "limited to its scopes"
        );
    }
    let read = app
        .get_account(&ops.secret, "acme")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        !read.to_string().contains("km_"),
        "a secret is shown once: {read}"
    );
}

#[tokio::test]
async fn an_account_without_scopes_may_grant_every_scope() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let created: Value = app
        .create_account_by_api(&ops.secret, &json!({"name": "acme"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(created["keys"][0]["scopes"].is_null(), "{created}");
    let secret = created["keys"][0]["secret"].as_str().unwrap();
    let granted = app
        .volubile_token(secret, &json!({"scope": ["calls:write"]}))
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_name_taken_regardless_of_case_is_a_409_problem() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    app.create_account("Acme").await;

    let response = app
        .create_account_by_api(&ops.secret, &json!({"name": "acme"}))
        .await;

    problem(response, StatusCode::CONFLICT, "a taken name").await;
}

#[tokio::test]
async fn a_body_at_fault_is_a_400_problem_naming_every_field() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let cases = [
        (json!({"name": "bad name"}), vec!["name"]),
        (
            json!({"name": "bad name", "scopes": ["calls:read", "calls:delete"]}),
            vec!["name", "scopes[1]"],
        ),
        (json!({"name": 7}), vec!["name"]),
        (json!({"name": "acme", "scopes": null}), vec!["scopes"]),
        (
            json!({"name": "acme", "scopes": "calls:read"}),
            vec!["scopes"],
        ),
        (json!({"scopes": []}), vec!["name"]),
        (json!({"name": "acme", "owner": "me"}), vec!["owner"]),
        (json!(["acme"]), vec!["body"]),
    ];

    for (body, expected) in cases {
        let response = app.create_account_by_api(&ops.secret, &body).await;
        let found = problem(response, StatusCode::BAD_REQUEST, &body.to_string()).await;
        assert_eq!(fields(&found), expected, "{body}: {found}");
    }
    let response = app
        .admin_api(Method::POST, "/accounts", Some(&ops.secret))
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        fields(&problem(response, StatusCode::BAD_REQUEST, "malformed JSON").await),
        ["body"]
    );
    let response = app
        .admin_api(Method::POST, "/accounts", Some(&ops.secret))
        .header("Content-Type", "text/plain")
        .body("name=acme")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not JSON").await;
    let nothing_made = app
        .list_accounts(&ops.secret, "")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(nothing_made["accounts"], json!([]));
}

#[tokio::test]
async fn list_accounts_pages_through_every_account_in_name_order() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    for name in ["delta", "Alpha", "echo", "charlie", "Bravo"] {
        app.create_account(name).await;
    }

    let mut pages = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page: Value = app
            .list_accounts(&ops.secret, &query)
            .await
            .json()
            .await
            .unwrap();
        let names: Vec<String> = page["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                assert!(a["created_at"].is_string(), "{a}");
                a["name"].as_str().unwrap().to_owned()
            })
            .collect();
        pages.push(names);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() < 10, "the listing ends");
    }

    assert_eq!(
        pages,
        [
            vec!["Alpha", "Bravo"],
            vec!["charlie", "delta"],
            vec!["echo"]
        ]
    );
}

#[tokio::test]
async fn list_accounts_filters_by_prefix_regardless_of_case() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    for name in ["beta-1", "Beta-2", "gamma", "alpha.beta"] {
        app.create_account(name).await;
    }
    let page: Value = app
        .list_accounts(&ops.secret, "?prefix=BETA")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<_> = page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("beta-1"), json!("Beta-2")]);
    assert!(page["next_cursor"].is_null());
    // `_` and `.` are themselves in a prefix, never wildcards.
    let page: Value = app
        .list_accounts(&ops.secret, "?prefix=alpha_")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["accounts"], json!([]));
}

#[tokio::test]
async fn a_bad_query_is_a_400_problem_naming_each_parameter() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let cases = [
        ("?limit=0", vec!["limit"]),
        ("?limit=101", vec!["limit"]),
        ("?limit=ten&cursor=Not%20One", vec!["limit", "cursor"]),
        ("?prefix=a%20b", vec!["prefix"]),
        ("?limit=1&limit=2", vec!["limit"]),
    ];
    for (query, expected) in cases {
        let response = app.list_accounts(&ops.secret, query).await;
        let found = problem(response, StatusCode::BAD_REQUEST, query).await;
        assert_eq!(fields(&found), expected, "{query}");
    }
    let ignored = app.list_accounts(&ops.secret, "?sort=name").await;
    assert_eq!(
        ignored.status(),
        StatusCode::OK,
        "unknown parameters are ignored"
    );
}

#[tokio::test]
async fn get_account_shows_its_keys_public_facts_and_404_for_none() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app
        .create_account_with_scopes("acme", Some("calls:read,agents:read"))
        .await;
    app.volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    app.tokens.usage().flush().await;

    let response = app.get_account(&ops.secret, "ACME").await;

    assert_eq!(response.status(), StatusCode::OK);
    let account: Value = response.json().await.unwrap();
    assert_eq!(account["name"], "acme");
    let keys = account["keys"].as_array().unwrap();
    assert_eq!(keys[0]["id"], acme.primary.id.as_str());
    assert_eq!(keys[0]["slot"], "primary");
    assert!(keys[0]["last_used_at"].is_string(), "{account}");
    assert_eq!(keys[1]["id"], acme.secondary.id.as_str());
    assert!(keys[1]["last_used_at"].is_null(), "{account}");
    for key in keys {
        assert_eq!(key["scopes"], json!(["calls:read", "agents:read"]));
        let facts: Vec<_> = key.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            facts,
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
    }
    for name in ["nobody", "not%20a%20name"] {
        problem(
            app.get_account(&ops.secret, name).await,
            StatusCode::NOT_FOUND,
            name,
        )
        .await;
    }
}

#[tokio::test]
async fn revoke_key_answers_204_and_that_key_gets_no_more_tokens() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});

    let response = app.revoke_key_by_api(&ops.secret, &acme.secondary.id).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(
        app.volubile_token(&acme.secondary.secret, &body)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::OK,
        "the other key is untouched"
    );
    for id in [acme.secondary.id.as_str(), "AbCdEfGhIjK", "short"] {
        problem(
            app.revoke_key_by_api(&ops.secret, id).await,
            StatusCode::NOT_FOUND,
            id,
        )
        .await;
    }
    let account: Value = app
        .get_account(&ops.secret, "acme")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["keys"].as_array().unwrap().len(), 1, "{account}");
}

#[tokio::test]
async fn unknown_paths_and_methods_under_the_admin_prefix_are_problems() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let cases = [
        (
            Method::GET,
            "/admin/v1/nowhere",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::GET,
            "/admin/v2/accounts",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::GET,
            "/admin/v1/accounts/acme/keys",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::PUT,
            "/admin/v1/accounts",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("GET, POST"),
        ),
        (
            Method::PUT,
            "/admin/v1/accounts/acme",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("GET, DELETE, PATCH"),
        ),
        (
            Method::GET,
            "/admin/v1/keys/AbCdEfGhIjK",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("DELETE"),
        ),
    ];
    for (method, path, status, allow) in cases {
        let case = format!("{method} {path}");
        let response = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&ops.secret)
            .send()
            .await
            .unwrap();
        let allowed = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allowed.as_deref(), allow, "{case}");
        problem(response, status, &case).await;
    }
}

#[tokio::test]
async fn every_change_is_on_record_with_its_admin_key_as_actor() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    let created: Value = app
        .create_account_by_api(
            &ops.secret,
            &json!({"name": "acme", "scopes": ["calls:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key_id = created["keys"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.revoke_key_by_api(&ops.secret, key_id).await.status(),
        StatusCode::NO_CONTENT
    );

    let events = audit_events(&app).await;

    let of = |outcome: &str| {
        events
            .iter()
            .find(|e| e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {outcome} in {events:?}"))
            .clone()
    };
    let account_created = of("account_created");
    assert_eq!(account_created["actor"], ops.id.as_str());
    assert_eq!(account_created["dialect"], "admin");
    assert_eq!(account_created["account"], "acme");
    assert_eq!(account_created["scopes"], "calls:read");
    assert_eq!(account_created["client_ip"], "127.0.0.1");
    let key_revoked = of("key_revoked");
    assert_eq!(key_revoked["actor"], ops.id.as_str());
    assert_eq!(key_revoked["account"], "acme");
    assert_eq!(key_revoked["key_id"], key_id);
    // The operator at the command line has no admin key: the dialect says who it was.
    let admin_key_created = of("admin_key_created");
    assert_eq!(admin_key_created["dialect"], "cli");
    assert_eq!(admin_key_created["key_id"], ops.id.as_str());
    assert!(admin_key_created["actor"].is_null());
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains(&ops.secret),
        "never a secret"
    );
}

#[tokio::test]
async fn refused_admin_authentications_are_on_record() {
    let app = spawn_app().await;
    let ops = app.create_admin_key("ops", false).await;
    // Well-formed, its real id, not its secret: an attack on that admin key.
    let head = format!("kma_{}{}", ops.id, "0".repeat(22));
    let checksum = format!("{:0>6}", base62::encode(crc32fast::hash(head.as_bytes())));
    let forged = app.list_accounts(&(head + &checksum), "").await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let refused: Vec<_> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "refused" && e["dialect"] == "admin")
        .collect();

    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["reason"], "invalid_credentials");
    assert_eq!(
        refused[0]["key_id"],
        ops.id.as_str(),
        "the admin key it was tried on"
    );
}

#[tokio::test]
async fn the_account_cli_goes_through_the_same_operations_and_audit() {
    let app = spawn_app().await;
    let created =
        json_out(&cli(&app.database_url, &["accounts", "create", "acme", "--json"]).await);
    let secondary = created["keys"][1]["id"].as_str().unwrap();
    assert!(
        cli(&app.database_url, &["keys", "revoke", secondary])
            .await
            .status
            .success()
    );

    let events = audit_events(&app).await;

    let outcomes: Vec<_> = events
        .iter()
        .filter(|e| e["dialect"] == "cli")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["key_revoked", "account_created"]);
}
