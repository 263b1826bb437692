use std::sync::{Arc, LazyLock};

use chrono::Utc;
use keymint::cli::ServeArgs;
use keymint::core::account::AccountName;
use keymint::core::admin::KeyAdmin;
use keymint::core::administration::{Actor, Administration};
use keymint::core::apikey::KeyPrefix;
use keymint::core::clock::ManualClock;
use keymint::core::slot::KeySlot;
use keymint::core::token::SigningSecret;
use keymint::startup::Application;
use keymint::store::{self, KeyStore};
use serde_json::Value;
use tempfile::TempDir;

/// Logs stay quiet unless `TEST_LOG` is set.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        keymint::telemetry::init("debug", keymint::telemetry::LogFormat::Text);
    }
});

pub const SIGNING_SECRET: &[u8] = b"test-signing-secret-of-32-bytes!!";

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of `/metrics`, when served apart (`--metrics-bind`).
    pub metrics_address: Option<String>,
    pub tokens: Arc<keymint::core::service::TokenService>,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub database_url: String,
    pub store: Arc<dyn KeyStore>,
    _dir: TempDir,
}

/// An account's two keys, as `accounts create` shows them.
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub primary: TestKey,
    pub secondary: TestKey,
}

#[derive(Debug, Clone)]
pub struct TestKey {
    pub id: String,
    pub secret: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub fn default_settings() -> ServeArgs {
    ServeArgs {
        bind: "127.0.0.1:0".into(),
        signing_secret: Some(SigningSecret::new(SIGNING_SECRET.to_vec()).unwrap()),
        workers: Some(1),
        ..ServeArgs::default()
    }
}

/// The PostgreSQL database tests make their schemas in: `KEYMINT_TEST_POSTGRES_URL`, or the one
/// every machine of this project runs (`make test` and CI name a scratch database of their
/// own). Tests that need it fail, loudly, when it cannot be reached; none skips in silence.
pub fn postgres_url() -> String {
    std::env::var("KEYMINT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty database for one test: a SQLite file, or (with `KEYMINT_TEST_STORE=postgres`)
/// a schema of its own in [`postgres_url`]'s database.
pub async fn fresh_database_url(dir: &TempDir) -> String {
    if std::env::var("KEYMINT_TEST_STORE").as_deref() != Ok("postgres") {
        return format!("sqlite://{}", dir.path().join("keymint.db").display());
    }
    fresh_postgres_schema_url().await
}

/// A schema of its own in [`postgres_url`]'s database, whichever store the suite runs on.
pub async fn fresh_postgres_schema_url() -> String {
    let base = postgres_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL at {base} (KEYMINT_TEST_POSTGRES_URL): {err}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("a test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

/// How `serve` would open its store with these settings: their deadlines, and the scopes of
/// their routes file.
pub fn store_options(settings: &ServeArgs) -> store::StoreOptions {
    let routes = settings.routes.load().expect("the routes file loads");
    settings.store_options(routes.scopes().clone())
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = fresh_database_url(&dir).await;
    let mut settings = default_settings();
    configure(&mut settings);
    let store = store::connect_with(&database_url, store_options(&settings))
        .await
        .expect("the test database opens");
    spawn_with_settings(store, database_url, dir, settings).await
}

/// An account made in `store` before any server opens it, so no change feed announces it later
/// (tests that count key-cache lookups need the cache to see no invalidation but their own).
pub async fn create_account_in(store: &Arc<dyn KeyStore>, name: &str) -> TestAccount {
    let admin = KeyAdmin::new(
        store.clone(),
        Arc::new(ManualClock::new(Utc::now())),
        KeyPrefix::default(),
    );
    account_made_by(&admin, name, None).await
}

async fn account_made_by(
    admin: &KeyAdmin,
    name: &str,
    scopes: Option<keymint::core::scope::ScopeSet>,
) -> TestAccount {
    let keys = admin
        .create_account(&name.parse::<AccountName>().unwrap(), scopes)
        .await
        .expect("the account is created");
    let key = |slot| {
        let fresh = keys.iter().find(|k| k.slot == slot).unwrap();
        TestKey {
            id: fresh.key.id().to_string(),
            secret: fresh.key.expose().to_owned(),
        }
    };
    TestAccount {
        primary: key(KeySlot::Primary),
        secondary: key(KeySlot::Secondary),
    }
}

/// keymint on a fresh database at `database_url` (in `dir`) that held account `name` before
/// the server opened it, so no announcement of that account can empty the server's key cache
/// after the test has warmed it.
pub async fn spawn_app_with_an_account(
    dir: TempDir,
    database_url: String,
    name: &str,
    configure: impl FnOnce(&mut ServeArgs),
) -> (TestApp, TestAccount) {
    let store = connect_store(&database_url)
        .await
        .expect("the test database opens");
    let account = create_account_in(&store, name).await;
    let app = spawn_on_store(store, database_url, dir, configure).await;
    (app, account)
}

/// Another instance on the same database as `other`, as operators run several.
impl TestApp {
    /// The issuer its tokens name (`http://127.0.0.1:PORT` unless configured).
    pub fn issuer(&self) -> String {
        self.tokens.signer().authority().issuer.clone()
    }
}

pub async fn spawn_app_beside(other: &TestApp, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = default_settings();
    // Instances of one deployment share its issuer.
    settings.issuer = Some(other.issuer().parse().expect("the issuer is a URL"));
    configure(&mut settings);
    let store = store::connect_with(&other.database_url, store_options(&settings))
        .await
        .expect("the shared database opens");
    spawn_with_settings(store, other.database_url.clone(), dir, settings).await
}

pub async fn spawn_on_store(
    store: Arc<dyn KeyStore>,
    database_url: String,
    dir: TempDir,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let mut settings = default_settings();
    configure(&mut settings);
    spawn_with_settings(store, database_url, dir, settings).await
}

/// keymint on `store` with exactly these settings.
pub async fn spawn_with_settings(
    store: Arc<dyn KeyStore>,
    database_url: String,
    dir: TempDir,
    settings: ServeArgs,
) -> TestApp {
    LazyLock::force(&TRACING);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = Application::with_store(settings, store.clone(), clock.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let tokens = app.tokens();
    // The server's own (cached) store: admin changes made through it are seen at once.
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        tokens,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        database_url,
        store,
        _dir: dir,
    }
}

impl TestApp {
    pub fn admin(&self) -> KeyAdmin {
        KeyAdmin::new(self.store.clone(), self.clock.clone(), KeyPrefix::default())
    }

    /// An admin key, made as `keymint admin-keys create` makes it (in process, without the
    /// binary's start-up time).
    pub async fn create_admin_key(&self, name: &str, read_only: bool) -> TestKey {
        let admin = Administration::new(
            self.store.clone(),
            self.clock.clone(),
            KeyPrefix::default(),
            self.tokens.scopes().clone(),
        );
        let operator = admin.writer(Actor::operator()).await.unwrap();
        let fresh = admin
            .create_admin_key(&operator, name.parse().unwrap(), read_only)
            .await
            .expect("the admin key is created");
        TestKey {
            id: fresh.info.id.to_string(),
            secret: fresh.key.expose().to_owned(),
        }
    }

    pub async fn create_account(&self, name: &str) -> TestAccount {
        self.create_account_with_scopes(name, None).await
    }

    pub async fn create_account_with_scopes(
        &self,
        name: &str,
        scopes: Option<&str>,
    ) -> TestAccount {
        let scopes = scopes.map(|s| self.tokens.scopes().parse_list(s).unwrap());
        account_made_by(&self.admin(), name, scopes).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`, its body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the request is sent")
            .json()
            .await
            .expect("a JSON body")
    }

    /// `GET path`, its body as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the request is sent")
            .text()
            .await
            .expect("a text body")
    }

    /// `POST /v1/auth/token` with `X-Api-Key` and a JSON body.
    pub async fn volubile_token(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/token"))
            .header("X-Api-Key", key)
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }
}

/// Runs the keymint CLI on `database_url` off the test's runtime thread: a blocking wait there
/// would stall the in-process server sharing that thread, which may hold the database's write
/// lock the CLI then waits for.
pub async fn cli(database_url: &str, args: &[&str]) -> std::process::Output {
    let database_url = database_url.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keymint"))
            .args(&args)
            .env("KEYMINT_DATABASE_URL", &database_url)
            .env_remove("RUST_LOG")
            .output()
            .expect("the keymint binary runs")
    })
    .await
    .expect("the CLI thread finishes")
}

/// Decodes a token's payload without checking it, to look at the claims.
pub fn claims(token: &str) -> Value {
    segment(token, 1)
}

pub fn header(token: &str) -> Value {
    segment(token, 0)
}

fn segment(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The parts of an error body that do not vary with time.
pub fn without_timestamp(mut body: Value) -> Value {
    let timestamp = body
        .as_object_mut()
        .and_then(|o| o.remove("timestamp"))
        .expect("error bodies carry a timestamp");
    let timestamp = timestamp.as_str().expect("timestamp is a string");
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
            && timestamp.len() == 24,
        "timestamp {timestamp:?} is yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
    );
    body
}

/// A store whose database is gone: every call fails as an unreachable database does.
#[derive(Debug)]
pub struct BrokenStore;

fn gone() -> store::StoreError {
    store::StoreError::Unavailable(Box::new(sqlx::Error::PoolTimedOut))
}

#[async_trait::async_trait]
impl KeyStore for BrokenStore {
    async fn create_account(
        &self,
        _: &str,
        _: &keymint::core::settings::AccountSettings,
        _: &[store::NewKey],
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn update_account(
        &self,
        _: &str,
        _: &keymint::core::settings::SettingsChange,
    ) -> Result<store::AccountRecord, store::StoreError> {
        Err(gone())
    }
    async fn delete_account(
        &self,
        _: &str,
        _: chrono::DateTime<Utc>,
    ) -> Result<Vec<keymint::core::apikey::KeyId>, store::StoreError> {
        Err(gone())
    }
    async fn find_key(
        &self,
        _: &keymint::core::apikey::KeyId,
    ) -> Result<Option<store::StoredKey>, store::StoreError> {
        Err(gone())
    }
    async fn rotate_key(
        &self,
        _: &str,
        _: Option<&keymint::core::apikey::KeyId>,
        _: &store::NewKey,
        _: Option<chrono::DateTime<Utc>>,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn current_key(
        &self,
        _: &str,
        _: keymint::core::slot::KeySlot,
    ) -> Result<Option<keymint::core::apikey::KeyId>, store::StoreError> {
        Err(gone())
    }
    async fn slot_scopes(
        &self,
        _: &str,
        _: keymint::core::slot::KeySlot,
    ) -> Result<Option<keymint::core::scope::ScopeSet>, store::StoreError> {
        Err(gone())
    }
    async fn list_keys(
        &self,
        _: &str,
        _: chrono::DateTime<Utc>,
    ) -> Result<Vec<store::KeyInfo>, store::StoreError> {
        Err(gone())
    }
    async fn revoke_key(
        &self,
        _: &keymint::core::apikey::KeyId,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn find_account(
        &self,
        _: &str,
    ) -> Result<Option<store::AccountRecord>, store::StoreError> {
        Err(gone())
    }
    async fn list_accounts(
        &self,
        _: &store::AccountRange<'_>,
    ) -> Result<Vec<store::AccountRecord>, store::StoreError> {
        Err(gone())
    }
    async fn create_admin_key(
        &self,
        _: &keymint::core::adminkey::NewAdminKey,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn find_admin_key(
        &self,
        _: &keymint::core::apikey::KeyId,
    ) -> Result<Option<keymint::core::adminkey::StoredAdminKey>, store::StoreError> {
        Err(gone())
    }
    async fn list_admin_keys(
        &self,
    ) -> Result<Vec<keymint::core::adminkey::AdminKeyInfo>, store::StoreError> {
        Err(gone())
    }
    async fn revoke_admin_key(
        &self,
        _: &keymint::core::apikey::KeyId,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn record_usage(
        &self,
        _: &[(keymint::core::apikey::KeyId, chrono::DateTime<Utc>)],
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn signing_secret(
        &self,
        _: &[u8],
        _: chrono::DateTime<Utc>,
    ) -> Result<Vec<u8>, store::StoreError> {
        Err(gone())
    }
    async fn audit_chain_ends(
        &self,
    ) -> Result<
        (
            Option<keymint::core::audit_chain::ChainEnd>,
            Option<keymint::core::audit_chain::ChainEnd>,
        ),
        store::StoreError,
    > {
        Err(gone())
    }
    async fn audit_batches_after(
        &self,
        _: i64,
        _: u32,
    ) -> Result<Vec<keymint::core::audit_chain::ChainedBatch>, store::StoreError> {
        Err(gone())
    }
    async fn seal_signing_secrets(&self, _: bool) -> Result<u64, store::StoreError> {
        Err(gone())
    }
    async fn signing_keys(
        &self,
        _: keymint::core::keyring::SigningAlg,
    ) -> Result<Vec<keymint::core::keyring::KeyPairRecord>, store::StoreError> {
        Err(gone())
    }
    async fn add_signing_key(
        &self,
        _: &keymint::core::keyring::KeyPairRecord,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn prune_audit(&self, _: chrono::DateTime<Utc>) -> Result<u64, store::StoreError> {
        Err(gone())
    }
    async fn add_first_signing_key(
        &self,
        _: &keymint::core::keyring::KeyPairRecord,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn revoke_signing_key(
        &self,
        _: &str,
        _: chrono::DateTime<Utc>,
        _: Option<&keymint::core::keyring::KeyPairRecord>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn record_audit(
        &self,
        _: &[keymint::core::audit::AuditBatch],
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn audit_events(
        &self,
        _: &keymint::core::audit::AuditQuery,
    ) -> Result<Vec<keymint::core::audit::AuditEntry>, store::StoreError> {
        Err(gone())
    }
    async fn revoke_token(
        &self,
        _: uuid::Uuid,
        _: &str,
        _: chrono::DateTime<Utc>,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn revoked_tokens(
        &self,
        _: chrono::DateTime<Utc>,
    ) -> Result<Vec<(uuid::Uuid, chrono::DateTime<Utc>)>, store::StoreError> {
        Err(gone())
    }
    async fn prune_revoked_tokens(
        &self,
        _: chrono::DateTime<Utc>,
    ) -> Result<u64, store::StoreError> {
        Err(gone())
    }
    async fn ping(&self) -> Result<(), store::StoreError> {
        Err(gone())
    }
    async fn watch(&self) -> Result<Box<dyn store::ChangeWatch>, store::StoreError> {
        Err(gone())
    }
}

impl TestApp {
    /// `POST /auth/token` (OrigoID) with the given headers and optional raw JSON body.
    pub async fn origoid_token(
        &self,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/auth/token"));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.expect("the request is sent")
    }

    /// `POST /v1/auth/token/get` (Velt) with a JSON body.
    pub async fn velt_token(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/token/get"))
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }

    /// `POST /api/v1/auth/token` (Memoram) with a JSON body.
    pub async fn memoram_token(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }
}

/// A token dialect of keymint's registry, for tests that go through all of them: what it takes
/// and answers comes from its own fixture (`src/api/<dialect>/fixture.rs`), never from here.
#[derive(Clone, Copy)]
pub struct Dialect(pub &'static keymint::api::Dialect);

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl PartialEq for Dialect {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

/// Every dialect in the registry that issues tokens.
pub fn dialects() -> Vec<Dialect> {
    keymint::api::DIALECTS
        .iter()
        .filter(|d| d.fixture.is_some())
        .map(|d| Dialect(d))
        .collect()
}

impl Dialect {
    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn fixture(self) -> &'static keymint::api::fixture::Fixture {
        self.0.fixture.expect("a token dialect has a fixture")
    }

    /// The token endpoint.
    pub fn path(self) -> &'static str {
        self.fixture().path
    }

    /// Whether the key travels in a header (else in the body).
    pub fn carries_key_in_header(self) -> bool {
        self.fixture().key_header.is_some()
    }

    /// A valid body; `key` goes into it where the dialect carries credentials there.
    pub fn body(self, key: &TestKey) -> Value {
        (self.fixture().body)(&key.id, &key.secret)
    }

    /// Panics unless `body` is this dialect's documented error for `status`.
    pub fn assert_error(self, status: reqwest::StatusCode, body: &Value, case: &str) {
        if let Err(off) = (self.fixture().error_shape)(status.as_u16(), body) {
            panic!("{self:?} / {case}: {status}: not the documented error: {off}");
        }
    }

    /// The token in a successful answer.
    pub fn token_in(self, body: &Value) -> String {
        body.pointer(self.fixture().token)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{self:?}: no token in {body}"))
            .to_owned()
    }

    /// The lifetime policy `keymint serve` gives it with no flags.
    pub fn default_lifetime(self) -> keymint::core::lifetime::LifetimePolicy {
        keymint::api::Lifetimes::default().of(self.0)
    }
}

impl TestApp {
    /// A valid token request with `key` on `dialect`, as its fixture says.
    pub async fn ask_token(&self, dialect: Dialect, key: &TestKey) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(dialect.path()))
            .json(&dialect.body(key));
        if let Some(header) = dialect.fixture().key_header {
            request = request.header(header, &key.secret);
        }
        request.send().await.expect("the request is sent")
    }
}

impl TestApp {
    /// Rotates an account's primary key through the (cached) store, as the CLI would.
    pub async fn rotate_primary(&self, account: &str) {
        self.admin()
            .rotate(&account.parse().unwrap(), KeySlot::Primary)
            .await
            .unwrap();
    }
}

/// Opens a store as the default deployment would (the shipped routes file's scopes).
pub async fn connect_store(url: &str) -> Result<Arc<dyn KeyStore>, store::StoreError> {
    store::connect(url, keymint::api::volubile::routes().scopes().clone()).await
}

/// Velt's minimal body for a key.
pub fn velt_body(key: &TestKey) -> Value {
    serde_json::json!({"data": {
        "apiKey": key.id, "authToken": key.secret, "userId": "user-1",
        "userProperties": {"organizationId": "org-1"}
    }})
}

/// The `Authorization: Bearer` header for a token.
pub fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("Authorization", format!("Bearer {token}")))
}

/// The `Authorization: Basic` value for a key id and key.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// The real keymint binary serving on port 0 (`keymint serve --bind 127.0.0.1:0 ARGS`), with
/// everything it logs kept; killed if a test ends without [`stop`](Self::stop).
pub struct ServedBinary {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, as it logged.
    pub address: String,
    /// The lines logged up to and including the address.
    pub startup_log: Vec<String>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ServedBinary {
    pub fn start(args: &[&str], database_url: &str) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keymint"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("KEYMINT_DATABASE_URL", database_url)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut startup_log = Vec::new();
        let address = loop {
            let line = lines.next().expect("keymint logs before exiting").unwrap();
            startup_log.push(line.clone());
            if let Some(at) = line.find("http://127.0.0.1:") {
                let rest = &line[at..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || ":/.".contains(c)))
                    .unwrap_or(rest.len());
                break rest[..end].to_owned();
            }
        };
        let log = Arc::new(std::sync::Mutex::new(startup_log.clone()));
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            address,
            startup_log,
            log,
            reader: Some(reader),
        }
    }

    /// Sends SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status and everything it logged.
    pub fn stop(self) -> (std::process::ExitStatus, Vec<String>) {
        self.terminate();
        self.wait()
    }

    /// Waits for the process to exit: its status and everything it logged.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for ServedBinary {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A well-formed key (valid checksum) for a real key id, with a secret that is not its own.
pub fn forged_key_for(id: &str) -> String {
    let head = format!("km_{id}{}", "0".repeat(22));
    let checksum = format!("{:0>6}", base62::encode(crc32fast::hash(head.as_bytes())));
    let forged = head + &checksum;
    assert!(
        keymint::core::apikey::ApiKeySecret::parse(&forged).is_ok(),
        "the forged key is well-formed"
    );
    forged
}
