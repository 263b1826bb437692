//! The CLI is a contract: these tests run the real binary against the test's database.

use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn keymint(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keymint"))
        .args(args)
        .env("KEYMINT_DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("the keymint binary runs")
}

fn json_out(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one JSON object: {stdout}"
    );
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "the command should fail");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    stderr
}

#[tokio::test]
async fn accounts_create_json_prints_both_keys_once_and_they_work() {
    let app = spawn_app().await;

    let created = json_out(&keymint(
        &app.database_url,
        &["accounts", "create", "acme", "--json"],
    ));

    assert_eq!(created["account"], "acme");
    let keys = created["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["slot"], "primary");
    assert_eq!(keys[1]["slot"], "secondary");
    for key in keys {
        assert_eq!(key.as_object().unwrap().len(), 3, "{key}");
        let secret = key["secret"].as_str().unwrap();
        assert!(secret.starts_with("km_"));
        assert!(secret.contains(key["id"].as_str().unwrap()));
        let response = app
            .volubile_token(secret, &json!({"scope": ["calls:read"]}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_duplicate_account_name_is_one_clear_error() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let stderr = one_line_error(&keymint(&app.database_url, &["accounts", "create", "acme"]));
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[tokio::test]
async fn names_that_differ_only_in_case_are_one_name() {
    let app = spawn_app().await;
    app.create_account("Acme").await;
    let stderr = one_line_error(&keymint(&app.database_url, &["accounts", "create", "acme"]));
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[tokio::test]
async fn a_name_a_command_line_would_read_as_an_option_is_refused() {
    let app = spawn_app().await;
    for name in ["--help", "-x", ".hidden"] {
        let output = keymint(&app.database_url, &["accounts", "create", "--", name]);
        let stderr = one_line_error(&output);
        assert!(
            stderr.contains("starting with a letter or digit"),
            "{name}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_signing_secret_is_refused_on_the_command_line_where_ps_would_show_it() {
    let app = spawn_app().await;
    let secret = "a-secret-of-at-least-thirty-two-bytes!";
    let output = keymint(&app.database_url, &["serve", "--signing-secret", secret]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = one_line_error(&output);
    assert!(stderr.contains("KEYMINT_SIGNING_SECRET"), "{stderr}");
    assert!(stderr.contains("--signing-secret-file"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

#[tokio::test]
async fn rotating_through_the_cli_takes_effect_in_the_running_server_at_once() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});

    let rotated = json_out(&keymint(
        &app.database_url,
        &["keys", "rotate", "acme", "--slot", "primary", "--json"],
    ));

    assert_eq!(rotated["slot"], "primary");
    assert_ne!(rotated["id"], acme.primary.id.as_str());
    let mut members: Vec<_> = rotated.as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(
        members,
        ["expires_at", "id", "name", "previous", "secret", "slot"]
    );
    assert_eq!(rotated["previous"]["id"], acme.primary.id.as_str());
    assert_eq!(
        app.volubile_token(&acme.primary.secret, &body)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_eq!(
        app.volubile_token(new_secret, &body).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.volubile_token(&acme.secondary.secret, &body)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn keys_list_shows_ids_slots_and_times_but_never_secrets() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    app.volubile_token(&acme.primary.secret, &json!({"scope": []}))
        .await;
    app.tokens.usage().flush().await;

    let output = keymint(&app.database_url, &["keys", "list", "acme", "--json"]);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let listed = json_out(&output);

    assert!(!text.contains(&acme.primary.secret) && !text.contains(&acme.secondary.secret));
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys[0]["id"], acme.primary.id.as_str());
    assert_eq!(keys[0]["slot"], "primary");
    assert!(
        keys[0]["last_used_at"].is_string(),
        "usage is recorded: {listed}"
    );
    assert_eq!(keys[1]["id"], acme.secondary.id.as_str());
    assert!(keys[1]["last_used_at"].is_null());
    assert!(keys[1]["created_at"].is_string());
}

#[tokio::test]
async fn revoking_through_the_cli_stops_that_key_only() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let body = json!({"scope": []});

    let output = keymint(&app.database_url, &["keys", "revoke", &acme.secondary.id]);
    assert!(output.status.success());

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
        StatusCode::OK
    );
    let again = one_line_error(&keymint(
        &app.database_url,
        &["keys", "revoke", &acme.secondary.id],
    ));
    assert!(again.contains("no active key"), "{again}");
}

#[tokio::test]
async fn unknown_accounts_and_bad_urls_are_one_clear_error_each() {
    let app = spawn_app().await;
    for args in [
        vec!["keys", "rotate", "nobody", "--slot", "primary"],
        vec!["keys", "list", "nobody"],
    ] {
        let stderr = one_line_error(&keymint(&app.database_url, &args));
        assert!(stderr.contains("no account named \"nobody\""), "{stderr}");
    }
    let stderr = one_line_error(&keymint("mysql://nowhere", &["keys", "list", "acme"]));
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

#[tokio::test]
async fn scopes_given_at_creation_limit_both_keys_and_survive_rotation() {
    let app = spawn_app().await;
    json_out(&keymint(
        &app.database_url,
        &[
            "accounts",
            "create",
            "limited",
            "--scopes",
            "calls:read,agents:read",
            "--json",
        ],
    ));
    let rotated = json_out(&keymint(
        &app.database_url,
        &["keys", "rotate", "limited", "--slot", "primary", "--json"],
    ));

    let listed = json_out(&keymint(
        &app.database_url,
        &["keys", "list", "limited", "--json"],
    ));
    for key in listed["keys"].as_array().unwrap() {
        assert_eq!(key["scopes"], "calls:read agents:read", "{key}");
    }
    let secret = rotated["secret"].as_str().unwrap();
    let refused = app
        .volubile_token(secret, &json!({"scope": ["calls:write"]}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    // A usage error: clap's message, naming the accepted scopes, and exit code 2.
    let output = keymint(
        &app.database_url,
        &["accounts", "create", "bad", "--scopes", "calls:delete"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .next()
            .unwrap()
            .contains("unknown scope; the scopes are: calls:read"),
        "{stderr}"
    );
}

#[tokio::test]
async fn usage_errors_are_one_line_too() {
    let app = spawn_app().await;
    for args in [
        vec!["accounts", "create", "bad name"],
        vec!["keys", "rotate", "acme", "--slot", "tertiary"],
        vec!["keys", "revoke", "short"],
    ] {
        let output = keymint(&app.database_url, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn rotating_a_revoked_slot_keeps_its_scopes() {
    let app = spawn_app().await;
    let created = json_out(&keymint(
        &app.database_url,
        &[
            "accounts",
            "create",
            "scoped",
            "--scopes",
            "calls:read",
            "--json",
        ],
    ));
    let secondary = created["keys"][1]["id"].as_str().unwrap();
    assert!(
        keymint(&app.database_url, &["keys", "revoke", secondary])
            .status
            .success()
    );

    let rotated = json_out(&keymint(
        &app.database_url,
        &["keys", "rotate", "scoped", "--slot", "secondary", "--json"],
    ));

    let secret = rotated["secret"].as_str().unwrap();
    let refused = app
        .volubile_token(secret, &json!({"scope": ["agents:write"]}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let listed = json_out(&keymint(
        &app.database_url,
        &["keys", "list", "scoped", "--json"],
    ));
    assert!(
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["scopes"] == "calls:read"),
        "{listed}"
    );
}

#[tokio::test]
async fn the_signing_secret_can_come_from_a_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keymint.db").display());
    let secret = "a-secret-of-at-least-thirty-two-bytes!";
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let created = json_out(&keymint(&url, &["accounts", "create", "acme", "--json"]));
    let key = created["keys"][0]["secret"].as_str().unwrap().to_owned();

    let served = crate::helpers::ServedBinary::start(
        &["--signing-secret-file", file.to_str().unwrap()],
        &url,
    );
    let response = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", served.address))
        .header("X-Api-Key", key)
        .json(&json!({"scope": ["calls:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, log) = served.stop();

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["keymint"]);
    let verified = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    );
    assert!(
        verified.is_ok(),
        "signed with the file's secret: {verified:?}"
    );
    assert!(!log.join("\n").contains(secret), "never logged");
}

#[tokio::test]
async fn an_age_beyond_time_itself_is_one_line_and_exit_2() {
    let app = spawn_app().await;
    let output = keymint(&app.database_url, &["audit", "--since", "99999999999999d"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = one_line_error(&output);
    assert!(stderr.contains("99999999999999d"), "{stderr}");
}

#[tokio::test]
async fn serve_raises_its_open_files_limit_to_what_the_host_allows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keymint.db").display());
    let hard = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec {} serve --bind 127.0.0.1:0",
            env!("CARGO_BIN_EXE_keymint")
        ))
        .env("KEYMINT_DATABASE_URL", &url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    assert!(lines.any(|l| l.unwrap().contains("listening on")));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .unwrap();
    assert_eq!(soft, hard, "{limits}");
}
