//! A real gateway in front: Debian's nginx with `auth_request` pointing at keymint, in front of a
//! small upstream that echoes what it was told about the caller. The config is the documented
//! example, `tests/nginx/keymint.conf`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keymint::core::slot::KeySlot;
use reqwest::StatusCode;
use serde_json::{Value, json};

use keymint::cli::ServeArgs;

use crate::helpers::{TestApp, bearer, spawn_app_with};

/// The protected API: answers every request with the identity headers it received.
async fn echo(req: HttpRequest) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    HttpResponse::Ok().json(json!({
        "path": req.path(),
        "subject": header("x-auth-subject"),
        "scopes": header("x-auth-scopes"),
        "key_id": header("x-auth-key-id"),
    }))
}

fn spawn_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = HttpServer::new(|| App::new().default_service(web::to(echo)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    address
}

struct Nginx {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

/// nginx's master is asked to stop (SIGTERM) and waited for: it stops its workers, which a
/// SIGKILL to the master would leave running, still listening.
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> String {
    let path = std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "nginx is needed for this test: `make setup` installs it, or set NGINX"
    );
    path
}

async fn spawn_nginx(keymint: &str, upstream: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    // nginx cannot be told to pick a port, so take a free one and hand it over.
    let listen = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let template = include_str!("../nginx/keymint.conf");
    let config = template
        .replace("{{PREFIX}}", &dir.path().display().to_string())
        .replace("{{LISTEN}}", &listen)
        .replace("{{KEYMINT}}", keymint)
        .replace("{{UPSTREAM}}", upstream);
    let config_path = dir.path().join("nginx.conf");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&config_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let base = format!("http://{listen}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&listen).await.is_ok() {
            return Nginx {
                child,
                base,
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start listening on {listen}: {log}");
}

pub struct Gateway {
    pub app: TestApp,
    nginx: Nginx,
}

impl Gateway {
    /// keymint behind the shipped nginx configuration, trusting nginx (127.0.0.1) to name the
    /// client, as that configuration says to.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let app = spawn_app_with(|s| {
            s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            configure(s);
        })
        .await;
        let upstream = spawn_upstream();
        let keymint = app.address.trim_start_matches("http://").to_owned();
        let nginx = spawn_nginx(&keymint, &upstream).await;
        Self { app, nginx }
    }

    pub async fn get(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: Option<(&str, String)>,
    ) -> reqwest::Response {
        self.get_from(&self.app.client, method, path, credential)
            .await
    }

    /// A request through nginx from `client` (see [`client_at`]).
    pub async fn get_from(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        credential: Option<(&str, String)>,
    ) -> reqwest::Response {
        let mut request = client.request(method, format!("{}{path}", self.nginx.base));
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    /// A token minted through nginx, as a client behind the gateway would get it.
    pub async fn token(&self, key: &str, scopes: &[&str]) -> String {
        let response = self.token_from(&self.app.client, key, scopes).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /v1/auth/token` through nginx from `client`.
    pub async fn token_from(
        &self,
        client: &reqwest::Client,
        key: &str,
        scopes: &[&str],
    ) -> reqwest::Response {
        client
            .post(format!("{}/v1/auth/token", self.nginx.base))
            .header("X-Api-Key", key)
            .json(&json!({ "scope": scopes }))
            .send()
            .await
            .unwrap()
    }
}

/// A client whose connections come from `ip` (any 127.x.y.z reaches nginx on 127.0.0.1), so
/// several clients behind the gateway have addresses of their own.
pub fn client_at(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().unwrap()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn nginx_passes_the_right_scope_with_identity_headers_and_stops_the_rest() {
    let gateway = Gateway::start().await;
    let acme = gateway.app.create_account("acme").await;
    let token = gateway.token(&acme.primary.secret, &["calls:read"]).await;

    // Right scope: through, and the upstream learns who is calling.
    let response = gateway
        .get(
            reqwest::Method::GET,
            "/v1/calls/7/transcript",
            bearer(&token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["subject"], "acme");
    assert_eq!(seen["scopes"], "calls:read");
    assert_eq!(seen["key_id"], acme.primary.id.as_str());

    // Wrong scope: 403. No credentials: 401.
    assert_eq!(
        gateway
            .get(reqwest::Method::POST, "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gateway
            .get(reqwest::Method::GET, "/v1/calls", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A forged identity header from the client is replaced, not trusted.
    let response = gateway
        .app
        .client
        .get(format!("{}/v1/calls", gateway.nginx.base))
        .bearer_auth(&token)
        .header("X-Auth-Subject", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["subject"], "acme");
}

#[tokio::test]
async fn nginx_lets_an_api_key_through_every_listed_route() {
    let gateway = Gateway::start().await;
    let acme = gateway.app.create_account("acme").await;
    let key = || Some(("X-Api-Key", acme.primary.secret.clone()));
    for (method, path) in [
        (reqwest::Method::GET, "/v1/agents"),
        (reqwest::Method::PATCH, "/v1/agents/3"),
        (reqwest::Method::POST, "/v1/campaigns/4/status"),
        (reqwest::Method::POST, "/v1/bulk/calls"),
    ] {
        let response = gateway.get(method.clone(), path, key()).await;
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{method} {path}: {}",
            response.text().await.unwrap()
        );
    }
    assert_eq!(
        gateway
            .get(reqwest::Method::GET, "/v1/unlisted", key())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn nginx_denies_path_tricks() {
    let gateway = Gateway::start().await;
    let acme = gateway.app.create_account("acme").await;
    let token = gateway.token(&acme.primary.secret, &["calls:read"]).await;
    for path in [
        "/v1/calls/%2e%2e/agents",
        "/v1/calls/%2E%2E/agents/1",
        "/v1/calls/..%2Fagents",
        "/v1//calls/../agents",
    ] {
        let status = gateway
            .get(reqwest::Method::GET, path, bearer(&token))
            .await
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn nginx_denies_the_token_of_a_rotated_key() {
    let gateway = Gateway::start().await;
    let acme = gateway.app.create_account("acme").await;
    let token = gateway.token(&acme.primary.secret, &["agents:read"]).await;
    assert_eq!(
        gateway
            .get(reqwest::Method::GET, "/v1/agents", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );

    gateway
        .app
        .admin()
        .rotate(&"acme".parse().unwrap(), KeySlot::Primary)
        .await
        .unwrap();

    assert_eq!(
        gateway
            .get(reqwest::Method::GET, "/v1/agents", bearer(&token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
