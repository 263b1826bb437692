//! Load without loss: the real binary under a mix of valid, invalid and over-quota requests on
//! every dialect while keys rotate. Nothing may answer 5xx or panic, every rotation must be
//! honoured, and memory must stay flat. `KEYMINT_SOAK_SECONDS` sets the length (`make test`
//! runs it for two minutes; a plain `cargo test`, for ten seconds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Dialect, ServedBinary, TestKey, cli, dialects};

const ACCOUNTS: usize = 6;
/// Hammered far beyond its quota, so that 429s are part of the mix.
const HOT: &str = "hot";
const CLIENTS: usize = 12;

/// A CLI command that must succeed, and the JSON it printed.
async fn keymint(database_url: &str, args: &[&str]) -> Value {
    let output = cli(database_url, args).await;
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn primary(created: &Value) -> TestKey {
    TestKey {
        id: created["keys"][0]["id"].as_str().unwrap().to_owned(),
        secret: created["keys"][0]["secret"].as_str().unwrap().to_owned(),
    }
}

/// The real binary, as deployed: two workers, a quota that the hot account exceeds.
struct Server(ServedBinary);

impl Server {
    fn start(database_url: &str) -> Self {
        Self(ServedBinary::start(
            &[
                "--workers",
                "2",
                "--rate-limit",
                "100/1s",
                "--failed-auth-limit",
                "1000000/1s",
            ],
            database_url,
        ))
    }

    fn address(&self) -> &str {
        &self.0.address
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0.child.id()))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// SIGTERM, then the exit status and everything it logged.
    fn stop(self) -> (std::process::ExitStatus, Vec<String>) {
        self.0.stop()
    }
}

/// A token request with `key` on `dialect`, as its fixture says.
fn token_request(
    client: &reqwest::Client,
    base: &str,
    dialect: Dialect,
    key: &TestKey,
) -> reqwest::RequestBuilder {
    let request = client
        .post(format!("{base}{}", dialect.path()))
        .json(&dialect.body(key));
    match dialect.fixture().key_header {
        Some(header) => request.header(header, &key.secret),
        None => request,
    }
}

#[derive(Default)]
struct Tally {
    by_status: Mutex<HashMap<u16, u64>>,
    unexpected: Mutex<Vec<String>>,
    sent: AtomicU64,
}

impl Tally {
    fn count(&self, status: StatusCode) {
        *self
            .by_status
            .lock()
            .unwrap()
            .entry(status.as_u16())
            .or_default() += 1;
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn unexpected(&self, what: String) {
        self.unexpected.lock().unwrap().push(what);
    }
}

/// One client: valid, invalid and over-quota requests in random order.
async fn client_loop(
    base: String,
    keys: Arc<RwLock<HashMap<String, TestKey>>>,
    hot: TestKey,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let client = reqwest::Client::new();
    let dialects = dialects();
    while !stop.load(Ordering::Relaxed) {
        let (dialect, kind) = {
            let mut rng = rand::rng();
            (
                dialects[rng.random_range(0..dialects.len())],
                rng.random_range(0..10),
            )
        };
        let (request, what) = match kind {
            // A valid key of a quiet account (it may be rotated under our feet: then 401; a busy
            // account may also meet its quota).
            0..=3 => {
                let key = {
                    let keys = keys.read().unwrap();
                    let account = format!("acct{}", rand::rng().random_range(0..ACCOUNTS));
                    keys[&account].clone()
                };
                (token_request(&client, &base, dialect, &key), "valid")
            }
            4..=7 => (token_request(&client, &base, dialect, &hot), "hot"),
            8 => {
                let forged = TestKey {
                    id: "AAAAAAAAAAA".into(),
                    secret: format!("km_{}", "A".repeat(39)),
                };
                (token_request(&client, &base, dialect, &forged), "bad key")
            }
            _ => {
                let request = client
                    .post(format!("{base}{}", dialect.path()))
                    .header("X-Api-Key", &hot.secret)
                    .header("Content-Type", "application/json")
                    .body(r#"{"scope": ["calls:read"], "expireAfter": "soon", "data": 7"#);
                (request, "bad body")
            }
        };
        let status = match request.send().await {
            Ok(response) => response.status(),
            Err(err) => {
                tally.unexpected(format!("{dialect:?} {what}: {err}"));
                continue;
            }
        };
        tally.count(status);
        let fine = match what {
            "valid" => matches!(
                status,
                StatusCode::OK | StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "hot" => matches!(status, StatusCode::OK | StatusCode::TOO_MANY_REQUESTS),
            "bad key" => status == StatusCode::UNAUTHORIZED,
            _ => matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::TOO_MANY_REQUESTS
            ),
        };
        if !fine || status.is_server_error() {
            tally.unexpected(format!("{dialect:?} {what}: {status}"));
        }
    }
}

/// Rotates one quiet account's primary key through the CLI and checks, on every dialect, that
/// the old key stops working within a second and the new one works at once.
async fn rotate_and_check(
    database_url: &str,
    base: &str,
    keys: &RwLock<HashMap<String, TestKey>>,
) -> Result<Duration, String> {
    let account = format!("acct{}", rand::rng().random_range(0..ACCOUNTS));
    let old = keys.read().unwrap()[&account].clone();
    let rotated = keymint(
        database_url,
        &["keys", "rotate", &account, "--slot", "primary", "--json"],
    )
    .await;
    let fresh = TestKey {
        id: rotated["id"].as_str().unwrap().to_owned(),
        secret: rotated["secret"].as_str().unwrap().to_owned(),
    };
    let rotated_at = Instant::now();
    keys.write().unwrap().insert(account.clone(), fresh.clone());
    let client = reqwest::Client::new();
    for dialect in dialects() {
        loop {
            let status = token_request(&client, base, dialect, &old)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .status();
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            if rotated_at.elapsed() > Duration::from_secs(1) {
                return Err(format!(
                    "{account}: old key still {status} on {dialect:?} after 1 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = token_request(&client, base, dialect, &fresh)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        // Accepted: a token, or the account's quota (which is counted only once the key holds).
        if !matches!(status, StatusCode::OK | StatusCode::TOO_MANY_REQUESTS) {
            return Err(format!("{account}: new key got {status} on {dialect:?}"));
        }
    }
    Ok(rotated_at.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_mixed_load_with_rotations_nothing_fails_and_memory_stays_flat() {
    let seconds: u64 = std::env::var("KEYMINT_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("soak.db").display());
    let mut keys = HashMap::new();
    for i in 0..ACCOUNTS {
        let name = format!("acct{i}");
        let created = keymint(&database_url, &["accounts", "create", &name, "--json"]).await;
        keys.insert(name, primary(&created));
    }
    let hot = primary(&keymint(&database_url, &["accounts", "create", HOT, "--json"]).await);
    let keys = Arc::new(RwLock::new(keys));
    let server = Server::start(&database_url);
    let base = server.address().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                base.clone(),
                keys.clone(),
                hot.clone(),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut rss_after_warmup = None;
    let mut rss_peak = 0;
    let mut rotations = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = server.rss_kib();
        rss_peak = rss_peak.max(rss);
        if rss_after_warmup.is_none() && started.elapsed() >= Duration::from_secs(seconds / 5) {
            rss_after_warmup = Some(rss);
        }
        rotations.push(rotate_and_check(&database_url, &base, &keys).await);
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let rss_end = server.rss_kib();
    let (exit, log) = server.stop();

    let by_status = tally.by_status.lock().unwrap().clone();
    let sent = tally.sent.load(Ordering::Relaxed);
    let warm = rss_after_warmup.unwrap_or(rss_end);
    eprintln!(
        "soak: {seconds} s, {sent} requests {by_status:?}, {} rotations, RSS {warm} KiB after \
         warm-up, {rss_end} KiB at the end, peak {rss_peak} KiB",
        rotations.len()
    );
    let unexpected = tally.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers, e.g. {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    for status in [200, 400, 401, 429] {
        assert!(
            by_status.get(&status).copied().unwrap_or(0) > 0,
            "the mix produced no {status}: {by_status:?}"
        );
    }
    let failed: Vec<_> = rotations.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "rotations not honoured: {failed:?}");
    assert!(!rotations.is_empty());
    assert!(
        rss_end <= warm + (warm / 4).max(8 * 1024),
        "RSS grew from {warm} KiB to {rss_end} KiB"
    );
    assert!(exit.success(), "keymint exited with {exit}");
    let alarming: Vec<_> = log
        .iter()
        .filter(|l| l.contains("panicked") || l.contains("ERROR"))
        .collect();
    assert!(alarming.is_empty(), "{alarming:?}");
}
