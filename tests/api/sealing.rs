//! Envelope encryption: what a copy of the database holds, and how a master key is started
//! with, given, forgotten and rotated.

use std::sync::Arc;

use base64::Engine as _;
use keymint::cli::ServeArgs;
use keymint::core::clock::ManualClock;
use keymint::core::envelope::{MasterKey, MasterKeys};
use keymint::core::keyring::SigningAlg;
use keymint::startup::Application;
use keymint::store;
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;

use crate::helpers::{
    TestApp, bearer, default_settings, postgres_url, spawn_app_beside, spawn_app_with,
    store_options,
};

/// A new master key as the text a key file holds.
fn new_key_text() -> String {
    String::from_utf8(MasterKey::generate_text().expose_secret().to_vec()).unwrap()
}

fn keys(text: &str) -> Arc<MasterKeys> {
    Arc::new(MasterKeys::parse(text.as_bytes()).unwrap())
}

/// `bytes` as a dump could show them: raw, hex and base64 of every flavour.
fn encodings(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        bytes.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        STANDARD.encode(bytes).into_bytes(),
        STANDARD_NO_PAD.encode(bytes).into_bytes(),
        URL_SAFE.encode(bytes).into_bytes(),
        URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// What a backup of the app's database holds: the SQLite file and its WAL, or `pg_dump` of its
/// schema.
async fn database_copy(app: &TestApp) -> Vec<u8> {
    let url = app.database_url.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let mut copy = std::fs::read(path).expect("the database file");
            copy.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            return copy;
        }
        let schema = url
            .rsplit("search_path%3D")
            .next()
            .expect("a test schema in the URL")
            .to_owned();
        let base = postgres_url();
        let output = std::process::Command::new("pg_dump")
            .args(["--schema", &schema, "--dbname", &base])
            .output()
            .expect("pg_dump runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    })
    .await
    .unwrap()
}

/// The key file a CLI run is given.
fn key_file(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir
        .path()
        .join(format!("master-{}.key", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

async fn cli_with_key_file(
    database_url: &str,
    key_file: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let (url, file) = (database_url.to_owned(), key_file.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keymint"))
            .args(&args)
            .env("KEYMINT_DATABASE_URL", url)
            .env("KEYMINT_MASTER_KEY_FILE", file)
            .env_remove("KEYMINT_MASTER_KEY")
            .env_remove("RUST_LOG")
            .output()
            .expect("the keymint binary runs")
    })
    .await
    .unwrap()
}

/// Builds keymint on `app`'s database with `master_keys`, without serving: the error if any.
async fn start_beside(app: &TestApp, master_keys: Option<Arc<MasterKeys>>) -> Option<String> {
    let mut settings: ServeArgs = default_settings();
    settings.signing_secret = None;
    settings.master_keys = master_keys;
    let store = store::connect_with(&app.database_url, store_options(&settings))
        .await
        .expect("the database opens");
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    Application::with_store(settings, store, clock)
        .await
        .err()
        .map(|err| format!("{err:#}"))
}

#[tokio::test]
async fn a_copy_of_the_database_holds_nothing_that_signs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let text = new_key_text();
    let app = spawn_app_with(|s| {
        s.signing_secret = None;
        s.master_keys = Some(keys(&text));
        s.published_signing_alg = Some(SigningAlg::Rs256);
    })
    .await;
    // The command line seals what it makes too: the other two algorithms' keys.
    let file = key_file(&dir, &text);
    for alg in ["ES256", "EdDSA"] {
        let out = cli_with_key_file(
            &app.database_url,
            &file,
            &["signing-keys", "rotate", "--alg", alg],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );

    let mut secret_opener = default_settings();
    secret_opener.master_keys = Some(keys(&text));
    let opened = store::connect_with(&app.database_url, store_options(&secret_opener))
        .await
        .unwrap();
    let mut secrets = vec![
        opened
            .signing_secret(&[0; 32], chrono::Utc::now())
            .await
            .unwrap(),
    ];
    for &alg in SigningAlg::ASYMMETRIC {
        let pairs = opened.signing_keys(alg).await.unwrap();
        assert!(!pairs.is_empty(), "{alg} has a key");
        secrets.extend(
            pairs
                .iter()
                .map(|pair| pair.private_der.expose_secret().to_vec()),
        );
    }
    let copy = database_copy(&app).await;

    for (index, secret) in secrets.iter().enumerate() {
        for encoded in encodings(secret) {
            assert!(!contains(&copy, &encoded), "secret {index} is in the copy");
        }
    }
    // PKCS#8's algorithm identifiers: ecPublicKey, Ed25519, rsaEncryption.
    let oids: [&[u8]; 3] = [
        &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
        &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ],
    ];
    for oid in oids {
        for encoded in encodings(oid).into_iter().take(3) {
            assert!(!contains(&copy, &encoded), "a PKCS#8 key is in the copy");
        }
    }
}

#[tokio::test]
async fn a_sealed_database_does_not_start_without_its_master_key_or_with_another() {
    let sealing = keys(&new_key_text());
    let app = spawn_app_with(|s| {
        s.signing_secret = None;
        s.master_keys = Some(sealing.clone());
    })
    .await;
    let id = sealing.current().id();

    let without = start_beside(&app, None)
        .await
        .expect("no start without the key");
    assert!(
        without.contains(id) && without.contains("KEYMINT_MASTER_KEY"),
        "{without}"
    );
    let other = start_beside(&app, Some(keys(&new_key_text())))
        .await
        .expect("no start with another key");
    assert!(other.contains(id), "{other}");
    assert_eq!(start_beside(&app, Some(sealing.clone())).await, None);
}

#[tokio::test]
async fn secrets_kept_in_the_clear_are_sealed_on_the_first_start_with_a_key_and_tokens_stay_valid()
{
    let app = spawn_app_with(|s| s.signing_secret = None).await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;
    let secret = app
        .store
        .signing_secret(&[0; 32], chrono::Utc::now())
        .await
        .unwrap();
    let before = database_copy(&app).await;
    assert!(
        encodings(&secret)
            .iter()
            .any(|encoded| contains(&before, encoded)),
        "in the clear before"
    );

    let text = new_key_text();
    let sealed = spawn_app_beside(&app, |s| {
        s.signing_secret = None;
        s.master_keys = Some(keys(&text));
    })
    .await;

    assert_eq!(
        sealed
            .forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );
    let copy = database_copy(&sealed).await;
    for encoded in encodings(&secret) {
        assert!(!contains(&copy, &encoded), "the secret is in the copy");
    }
    assert!(start_beside(&app, None).await.is_some(), "now sealed");
}

#[tokio::test]
async fn master_key_rotate_reseals_everything_with_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (new_key_text(), new_key_text());
    let app = spawn_app_with(|s| {
        s.signing_secret = None;
        s.master_keys = Some(keys(&old));
    })
    .await;
    let acme = app.create_account("acme").await;
    let token = app.token_for(&acme.primary.secret).await;

    let both = key_file(&dir, &format!("{new}{old}"));
    let out = cli_with_key_file(&app.database_url, &both, &["master-key", "rotate"]).await;

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(keys(&new).current().id()), "{said}");
    assert!(
        start_beside(&app, Some(keys(&old))).await.is_some(),
        "the old key alone opens nothing"
    );
    let after = spawn_app_beside(&app, |s| {
        s.signing_secret = None;
        s.master_keys = Some(keys(&new));
    })
    .await;
    assert_eq!(
        after
            .forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn master_key_generate_writes_an_owner_only_file_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let target = path.to_str().unwrap().to_owned();
    let run = |target: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_keymint"))
                .args(["master-key", "generate", "--output", &target])
                .env_remove("KEYMINT_MASTER_KEY")
                .env_remove("KEYMINT_MASTER_KEY_FILE")
                .output()
                .unwrap()
        })
    };

    let first = run(target.clone()).await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read(&path).unwrap();
    assert!(MasterKeys::parse(&written).is_ok());
    assert!(
        !String::from_utf8_lossy(&first.stdout).contains(String::from_utf8_lossy(&written).trim())
    );

    let second = run(target).await.unwrap();
    assert!(!second.status.success());
    assert_eq!(std::fs::read(&path).unwrap(), written, "the key is kept");
}

#[tokio::test]
async fn a_master_key_on_the_command_line_is_refused_without_echoing_it() {
    let key = new_key_text().trim().to_owned();
    let shown = key.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keymint"))
            .args(["--master-key", &key, "master-key", "rotate"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KEYMINT_MASTER_KEY"), "{stderr}");
    assert!(!stderr.contains(&shown));
}
