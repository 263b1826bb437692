//! A deployment with scopes of its own (the routes file's `scopes`), end to end: keys, tokens,
//! forward-auth, introspection, the documents and the CLI all speak its vocabulary; and what
//! was written under another catalogue grants only what this one knows.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    TestApp, bearer, claims, cli, spawn_app, spawn_app_beside, spawn_app_with, without_timestamp,
};

/// A reporting API's routes file: two scopes of its own, a route needing each.
const REPORTS_ROUTES: &str = r#"
scopes = ["reports:read", "reports:export"]

[[route]]
method = "GET"
path = "/reports/{id}"
scope = "reports:read"

[[route]]
method = "GET"
path = "/reports/{id}/export"
scope = "reports:export"
"#;

/// Writes a routes file into a directory of its own, kept as long as the test holds it.
fn routes_file(text: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

/// keymint serving the reporting API's scopes, and the routes file it was started with.
async fn reports_deployment() -> (TestApp, TempDir, String) {
    let (dir, path) = routes_file(REPORTS_ROUTES);
    let app = spawn_app_with(|s| s.routes.path = Some(path.clone().into())).await;
    (app, dir, path)
}

/// The account `name`, made by the CLI with `--scopes` against the routes file; its primary key.
async fn account_via_cli(app: &TestApp, routes: &str, name: &str, scopes: &str) -> String {
    let output = cli(
        &app.database_url,
        &[
            "accounts", "create", name, "--scopes", scopes, "--routes", routes, "--json",
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    created["keys"][0]["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_limited_to_the_deployments_scopes_gets_a_token_carrying_them() {
    let (app, _dir, routes) = reports_deployment().await;
    let key = account_via_cli(&app, &routes, "analyst", "reports:read").await;

    let token = app.token_with(&key, &["reports:read"]).await;

    assert_eq!(claims(&token)["scope"], "reports:read");
    let beyond = app
        .volubile_token(&key, &json!({"scope": ["reports:export"]}))
        .await;
    assert_eq!(beyond.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        without_timestamp(beyond.json().await.unwrap())["errors"],
        json!([{"field": "scope", "message": "reports:export is not granted to this API key"}])
    );
}

#[tokio::test]
async fn forward_auth_passes_the_routes_the_tokens_scopes_cover_and_no_other() {
    let (app, _dir, routes) = reports_deployment().await;
    let key = account_via_cli(&app, &routes, "analyst", "reports:read,reports:export").await;
    let token = app.token_with(&key, &["reports:read"]).await;

    let read = app.forward_auth("GET", "/reports/7", bearer(&token)).await;
    let export = app
        .forward_auth("GET", "/reports/7/export", bearer(&token))
        .await;

    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["x-auth-scopes"], "reports:read");
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        export.headers()["www-authenticate"],
        "Bearer realm=\"keymint\", error=\"insufficient_scope\", scope=\"reports:export\""
    );
}

#[tokio::test]
async fn introspection_names_the_deployments_scopes() {
    let (app, _dir, _) = reports_deployment().await;
    let acme = app.create_account("acme").await;
    let token = app
        .token_with(&acme.primary.secret, &["reports:export", "reports:read"])
        .await;

    let body: Value = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .header("X-Api-Key", &acme.secondary.secret)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "reports:read reports:export");
}

#[tokio::test]
async fn asking_for_a_scope_outside_the_catalogue_is_a_400_listing_the_deployments_scopes() {
    let (app, _dir, _) = reports_deployment().await;
    let acme = app.create_account("acme").await;

    let response = app
        .volubile_token(&acme.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        without_timestamp(response.json().await.unwrap())["errors"],
        json!([{
            "field": "scope[0]",
            "message": "invalid value: string \"calls:read\", expected one of reports:read, reports:export"
        }])
    );
}

#[tokio::test]
async fn the_volubile_document_lists_the_deployments_scopes() {
    let (app, _dir, _) = reports_deployment().await;

    let document = app.get_json("/v3/api-docs").await;

    let items =
        &document["components"]["schemas"]["AuthTokenRequest"]["properties"]["scope"]["items"];
    assert_eq!(items["enum"], json!(["reports:read", "reports:export"]));
    assert_eq!(items["examples"], json!(["reports:read"]));
}

#[tokio::test]
async fn the_cli_refuses_a_scope_outside_the_catalogue_naming_the_deployments() {
    let (app, _dir, routes) = reports_deployment().await;

    let output = cli(
        &app.database_url,
        &[
            "accounts",
            "create",
            "bad",
            "--scopes",
            "calls:read",
            "--routes",
            &routes,
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "invalid value 'calls:read' for '--scopes <SCOPES>': unknown scope; the scopes are: reports:read, reports:export"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn keys_list_names_the_scopes_of_the_routes_file() {
    let (app, _dir, routes) = reports_deployment().await;
    account_via_cli(&app, &routes, "analyst", "reports:export").await;

    let output = cli(
        &app.database_url,
        &["keys", "list", "analyst", "--routes", &routes, "--json"],
    )
    .await;

    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["keys"][0]["scopes"], "reports:export");
}

#[tokio::test]
async fn a_routes_file_whose_route_needs_an_undeclared_scope_stops_startup() {
    let (_dir, path) = routes_file(
        "scopes = [\"reports:read\"]\n\n[[route]]\nmethod = \"GET\"\npath = \"/v1/calls\"\nscope = \"calls:read\"\n",
    );
    let settings = keymint::cli::RoutesArgs {
        path: Some(path.into()),
    };

    let err = settings.load().unwrap_err().to_string();

    assert!(
        err.contains("GET /v1/calls needs scope \"calls:read\", which `scopes` does not declare"),
        "{err}"
    );
}

/// Routes whose catalogue keeps only `calls:read` of Volubile's eight.
const CALLS_ONLY_ROUTES: &str = r#"
scopes = ["calls:read"]

[[route]]
method = "GET"
path = "/v1/calls"
scope = "calls:read"
"#;

#[tokio::test]
async fn a_stored_scope_the_catalogue_dropped_is_not_granted_and_never_widens_the_key() {
    let before = spawn_app().await;
    let both = before
        .create_account_with_scopes("both", Some("calls:read,agents:read"))
        .await;
    let agents = before
        .create_account_with_scopes("agents", Some("agents:read"))
        .await;
    let (_dir, path) = routes_file(CALLS_ONLY_ROUTES);

    let after = spawn_app_beside(&before, |s| s.routes.path = Some(path.clone().into())).await;

    let token = after
        .token_with(&both.primary.secret, &["calls:read"])
        .await;
    assert_eq!(claims(&token)["scope"], "calls:read");
    // A key left with no scope this catalogue knows may grant none, not every one.
    let refused = after
        .volubile_token(&agents.primary.secret, &json!({"scope": ["calls:read"]}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_minted_under_another_catalogue_grants_only_the_scopes_this_one_knows() {
    let before = spawn_app().await;
    let acme = before.create_account("acme").await;
    let token = before
        .token_with(&acme.primary.secret, &["calls:read", "agents:read"])
        .await;
    let (_dir, path) = routes_file(CALLS_ONLY_ROUTES);

    let after = spawn_app_beside(&before, |s| s.routes.path = Some(path.clone().into())).await;
    let response = after.forward_auth("GET", "/v1/calls", bearer(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-auth-scopes"], "calls:read");
}
