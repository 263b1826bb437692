//! No token without its record, even through a crash: the real binary under load is killed with
//! SIGKILL, and the audit trail it leaves is read back with `keymint audit`. With
//! `--audit durable` every token a client received has its event; buffered audit may lose the
//! events it had not written yet (how many is reported in
//! `$CARGO_TARGET_TMPDIR/crash-report-*.txt`, which `make test` prints). Either way the trail
//! stays readable and its hash chain intact.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ServedBinary, claims, cli, fresh_database_url};

/// Tokens the clients must have received before the server is killed.
const KILL_AFTER: usize = 300;
const CLIENTS: usize = 16;
const ACCOUNT: &str = "crash";

/// What the clients saw and what the trail kept.
struct Crash {
    /// A token issued, and seen on record, before the load.
    before: String,
    /// The `jti` of every token a client received in full.
    received: HashSet<String>,
    /// The `jti` of every `issued` event in the trail after the kill.
    recorded: HashSet<String>,
}

impl Crash {
    /// Tokens that left the server with no audit event.
    fn lost(&self) -> usize {
        self.received.difference(&self.recorded).count()
    }
}

/// A CLI command that must succeed, and what it printed.
async fn keymint(database_url: &str, args: &[&str]) -> String {
    let output = cli(database_url, args).await;
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Which store the suite runs on, as `KEYMINT_TEST_STORE` says.
fn backend() -> String {
    std::env::var("KEYMINT_TEST_STORE").unwrap_or_else(|_| "sqlite".into())
}

#[derive(Default)]
struct Clients {
    received: Mutex<HashSet<String>>,
    count: AtomicUsize,
    enough: tokio::sync::Notify,
    /// Set just before the kill: from then on a failed request is expected.
    killing: AtomicBool,
    /// Anything but a token before the kill.
    unexpected: Mutex<Vec<String>>,
}

/// Asks for tokens until the server is gone; keeps every token received in full.
async fn client_loop(client: reqwest::Client, url: String, key: String, clients: Arc<Clients>) {
    loop {
        let answer = client
            .post(&url)
            .header("X-Api-Key", &key)
            .json(&json!({"scope": ["calls:read"]}))
            .send()
            .await;
        // A response cut off by the kill delivered no token.
        let body = match answer {
            Ok(response) if response.status() == StatusCode::OK => response.json::<Value>().await,
            Ok(response) => {
                let what = format!("{} before the kill", response.status());
                clients.unexpected.lock().unwrap().push(what);
                return;
            }
            Err(err) => Err(err),
        };
        let body = match body {
            Ok(body) => body,
            Err(err) => {
                if !clients.killing.load(Ordering::SeqCst) {
                    let what = format!("{err} before the kill");
                    clients.unexpected.lock().unwrap().push(what);
                }
                return;
            }
        };
        let token = body["token"].as_str().expect("a token in a 200");
        let jti = claims(token)["jti"].as_str().expect("a jti").to_owned();
        assert!(
            clients.received.lock().unwrap().insert(jti),
            "a jti issued twice"
        );
        if clients.count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
            clients.enough.notify_one();
        }
    }
}

/// Gets one token and waits until `keymint audit` shows its event: the trail is written and
/// read back as the test reads it after the kill.
async fn token_on_record(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    database_url: &str,
) -> String {
    let answer = http
        .post(url)
        .header("X-Api-Key", key)
        .json(&json!({"scope": ["calls:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    let jti = claims(body["token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !issued(database_url).await.contains(&jti) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first token's event is not on record after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    jti
}

/// The `jti` of every `issued` event in the trail, as `keymint audit` lists it.
async fn issued(database_url: &str) -> HashSet<String> {
    let trail: Value = serde_json::from_str(
        &keymint(
            database_url,
            &[
                "audit",
                "--account",
                ACCOUNT,
                "--outcome",
                "issued",
                "--limit",
                "1000000",
                "--json",
            ],
        )
        .await,
    )
    .unwrap();
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            event["jti"]
                .as_str()
                .expect("an issued event's jti")
                .to_owned()
        })
        .collect()
}

/// Serves a fresh database with `args`, drives concurrent token requests until [`KILL_AFTER`]
/// tokens were received, kills the server with SIGKILL mid-load, then reads the trail it left.
async fn crash_under_load(args: &[&str]) -> Crash {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(&dir).await;
    let created: Value = serde_json::from_str(
        &keymint(&database_url, &["accounts", "create", ACCOUNT, "--json"]).await,
    )
    .unwrap();
    let key = created["keys"][0]["secret"].as_str().unwrap().to_owned();
    let served_args: Vec<&str> = ["--workers", "2", "--rate-limit", "1000000/1s"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let mut server = ServedBinary::start(&served_args, &database_url);
    let url = format!("{}/v1/auth/token", server.address);
    let http = reqwest::Client::new();
    let before = token_on_record(&http, &url, &key, &database_url).await;

    let clients = Arc::new(Clients::default());
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                http.clone(),
                url.clone(),
                key.clone(),
                clients.clone(),
            ))
        })
        .collect();
    let enough = tokio::time::timeout(Duration::from_secs(20), clients.enough.notified()).await;
    clients.killing.store(true, Ordering::SeqCst);
    server.child.kill().expect("SIGKILL is sent");
    let (exit, log) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let unexpected = clients.unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "{unexpected:?}\n{}", log.join("\n"));
    assert!(
        enough.is_ok(),
        "{} tokens in 20 s\n{}",
        clients.count.load(Ordering::SeqCst),
        log.join("\n")
    );
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(exit.signal(), Some(9), "killed, not exited: {exit}");

    // The trail reads back, and the kill broke none of its links.
    keymint(&database_url, &["audit", "verify"]).await;
    let recorded = issued(&database_url).await;
    let received = std::mem::take(&mut *clients.received.lock().unwrap());
    Crash {
        before,
        received,
        recorded,
    }
}

/// Says how many tokens a crash left unrecorded, in the test's output and in a file under the
/// target directory that `make test` prints (a passing test's output is not shown).
fn report(mode: &str, crash: &Crash) {
    let what = format!(
        "kill -9 after {} tokens received; {} of them have no audit event",
        crash.received.len(),
        crash.lost()
    );
    report_line(mode, &what);
}

fn report_line(mode: &str, what: &str) {
    let line = format!("crash test ({}, {mode} audit): {what}", backend());
    eprintln!("{line}");
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-report-{}-{mode}.txt", backend()));
    std::fs::write(file, line + "\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_buffered_audit_a_kill_keeps_what_was_written_and_loses_the_buffer() {
    let crash = crash_under_load(&["--audit", "buffered"]).await;

    report("buffered", &crash);
    // What was committed before the kill stays, and the chain holds: only the buffer is lost.
    assert!(crash.recorded.contains(&crash.before));
}

/// Kills in a row: each one lands at another point of the write cycle.
const DURABLE_ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_durable_audit_every_token_a_client_received_survives_a_kill_on_record() {
    let mut received = 0;
    for _ in 0..DURABLE_ROUNDS {
        let crash = crash_under_load(&["--audit", "durable"]).await;

        received += crash.received.len();
        let unrecorded: Vec<_> = crash.received.difference(&crash.recorded).collect();
        assert!(
            unrecorded.is_empty(),
            "{} of {} tokens received have no audit event, e.g. {:?}",
            unrecorded.len(),
            crash.received.len(),
            &unrecorded[..unrecorded.len().min(3)]
        );
    }
    report_line(
        "durable",
        &format!(
            "{DURABLE_ROUNDS} kills -9 after {received} tokens received in all; 0 of them have no audit event"
        ),
    );
}
