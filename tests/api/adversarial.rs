//! A hostile client against a running server, on every dialect: whatever it sends, the answer
//! is the documented status in the dialect's documented shape, no token is minted, and the
//! server keeps serving everyone else.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{
    Dialect, TestApp, TestKey, basic, bearer, dialects, spawn_app, spawn_app_with,
};

/// A valid request with `key`, as raw header lines and body.
fn request(dialect: Dialect, key: &TestKey) -> Request {
    let headers = match dialect.fixture().key_header {
        Some(header) => vec![(header.to_owned(), key.secret.clone())],
        None => Vec::new(),
    };
    Request::post(dialect.path(), headers, dialect.body(key).to_string())
}

/// The body of a dialect that carries the key in it, with the key's member written twice: first
/// `key`'s secret, then `other`'s.
fn body_naming_the_key_twice(dialect: Dialect, key: &TestKey, other: &TestKey) -> Option<String> {
    let (_, pointers) = dialect.fixture().credential_pointers();
    let pointer = pointers.first()?;
    let member = pointer
        .rsplit('/')
        .next()?
        .replace("~1", "/")
        .replace("~0", "~");
    let text = dialect.body(key).to_string();
    let once = format!("{}:{}", json!(member), json!(key.secret));
    let twice = format!("{once},{}:{}", json!(member), json!(other.secret));
    text.contains(&once)
        .then(|| text.replacen(&once, &twice, 1))
}

/// An HTTP/1.1 request written byte for byte, so nothing a client library would tidy up
/// (repeated headers, odd encodings) gets tidied.
#[derive(Debug, Clone)]
struct Request {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn post(path: &str, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        let mut request = Self {
            head: format!("POST {path} HTTP/1.1"),
            headers,
            body: body.into(),
        };
        request.set("Content-Type", "application/json");
        request
    }

    /// Replaces a header (all of its values).
    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds one more value of a header.
    fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn without(&mut self, name: &str) -> &mut Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\nHost: 127.0.0.1\r\nConnection: close\r\n", self.head);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Debug)]
struct Response {
    status: StatusCode,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{err}: {} {}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Sends raw bytes and reads the answer until the server closes the connection.
async fn send_raw(app: &TestApp, bytes: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app))).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_response(&mut stream).await
}

async fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes within 15 s")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    Response {
        status: StatusCode::from_u16(status).unwrap(),
        head,
        body: raw[split + 4..].to_vec(),
    }
}

async fn send(app: &TestApp, request: &Request) -> Response {
    send_raw(app, &request.to_bytes()).await
}

/// The server still does its job: a valid request on `dialect` gets a token, promptly.
async fn assert_responsive(app: &TestApp, dialect: Dialect, key: &TestKey) {
    let started = Instant::now();
    let response = send(app, &request(dialect, key)).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{dialect:?} after the attack"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{dialect:?} answered a valid request in {:?}",
        started.elapsed()
    );
}

/// A case: given the dialect, a valid key and another account's key, the request to send and
/// the status it must get (`None`: the case does not apply to that dialect).
type Case = fn(Dialect, &TestKey, &TestKey) -> Option<(Request, StatusCode)>;

/// Runs every case on every dialect: each must be refused with `expected` in the dialect's
/// shape, and the server must go on serving.
async fn refused_everywhere(app: &TestApp, key: &TestKey, cases: &[(&str, Case)]) {
    let other = app.create_account("globex").await.primary;
    for dialect in dialects() {
        for (name, case) in cases {
            let Some((request, expected)) = case(dialect, key, &other) else {
                continue;
            };
            let response = send(app, &request).await;
            assert_eq!(response.status, expected, "{dialect:?} / {name}");
            dialect.assert_error(response.status, &response.json(), name);
            assert!(
                !String::from_utf8_lossy(&response.body).contains("eyJ"),
                "{dialect:?} / {name}: no token in a refusal"
            );
        }
        assert_responsive(app, dialect, key).await;
    }
}

/// An app whose brute-force gate will not get in the way of many refused requests.
async fn target() -> (TestApp, TestKey) {
    let app = spawn_app_with(|s| {
        s.failed_auth_limit = "1000000/1s".parse().unwrap();
        s.body_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let acme = app.create_account("acme").await;
    (app, acme.primary)
}

#[tokio::test]
async fn oversized_nested_and_compressed_bodies_are_refused_in_each_dialects_shape() {
    let (app, key) = target().await;
    refused_everywhere(
        &app,
        &key,
        &[
            ("oversized", |d, k, _| {
                let mut request = request(d, k);
                request.body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(40_000)).into_bytes();
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("nested 10,000 deep", |d, k, _| {
                let mut request = request(d, k);
                request.body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into();
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("nested objects", |d, k, _| {
                let mut request = request(d, k);
                request.body = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)).into();
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("gzip", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Encoding", "gzip");
                request.body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0];
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("deflate, br and chained", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Encoding", "identity, br");
                Some((request, StatusCode::BAD_REQUEST))
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() {
    let (app, key) = target().await;
    for dialect in dialects() {
        let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Api-Key: {}\r\nContent-Length: 100000000\r\n\r\n",
            dialect.path(),
            key.secret
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let response = read_response(&mut stream).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{dialect:?}");
        dialect.assert_error(response.status, &response.json(), "declared 100 MB");
        assert!(started.elapsed() < Duration::from_secs(2), "{dialect:?}");
    }
}

#[tokio::test]
async fn wrong_content_types_are_refused_in_each_dialects_shape() {
    let (app, key) = target().await;
    refused_everywhere(
        &app,
        &key,
        &[
            ("text/plain", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Type", "text/plain");
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("form", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Type", "application/x-www-form-urlencoded");
                request.body = b"api_key=x&scope=calls:read".to_vec();
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("multipart", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Type", "multipart/form-data; boundary=b");
                request.body =
                    b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{}\r\n--b--\r\n"
                        .to_vec();
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("JSON sent as XML", |d, k, _| {
                let mut request = request(d, k);
                request.set("Content-Type", "application/xml");
                Some((request, StatusCode::BAD_REQUEST))
            }),
            ("no content type", |d, k, _| {
                let mut request = request(d, k);
                request.without("Content-Type");
                // OrigoID's body is optional, but a body without a type is still refused.
                Some((request, StatusCode::BAD_REQUEST))
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn repeated_and_conflicting_credentials_are_refused() {
    let (app, key) = target().await;
    refused_everywhere(
        &app,
        &key,
        &[
            ("the key header twice, two accounts", |d, k, other| {
                if !d.carries_key_in_header() {
                    return None;
                }
                let mut request = request(d, k);
                request.add("X-Api-Key", &other.secret);
                Some((request, StatusCode::UNAUTHORIZED))
            }),
            ("the same key header twice", |d, k, _| {
                if !d.carries_key_in_header() {
                    return None;
                }
                let mut request = request(d, k);
                request.add("x-api-key", &k.secret);
                Some((request, StatusCode::UNAUTHORIZED))
            }),
            ("a key header and HTTP Basic", |d, k, other| {
                if !d.fixture().basic {
                    return None;
                }
                let mut request = request(d, k);
                request.add("Authorization", &basic(&other.id, &other.secret));
                Some((request, StatusCode::UNAUTHORIZED))
            }),
            ("HTTP Basic twice", |d, k, other| {
                if !d.fixture().basic {
                    return None;
                }
                let mut request = Request::post(d.path(), Vec::new(), "{}");
                request.add("Authorization", &basic(&k.id, &k.secret));
                request.add("Authorization", &basic(&other.id, &other.secret));
                Some((request, StatusCode::UNAUTHORIZED))
            }),
            ("the body credential named twice", |d, k, other| {
                let body = body_naming_the_key_twice(d, k, other)?;
                Some((
                    Request::post(d.path(), Vec::new(), body),
                    StatusCode::BAD_REQUEST,
                ))
            }),
        ],
    )
    .await;
}

/// `km_…` with one character swapped for something that looks or reads the same to a person.
fn look_alikes(secret: &str) -> Vec<String> {
    let at = secret.len() - 10;
    let swap = |with: &str| format!("{}{with}{}", &secret[..at], &secret[at + 1..]);
    vec![
        swap("\u{0430}"),                                   // Cyrillic а
        swap("\u{FF41}"),                                   // fullwidth ａ
        format!("{secret}\u{200B}"),                        // zero-width space
        format!("{}\u{00A0}", &secret[..secret.len() - 1]), // no-break space for the last char
        format!("{} {}", &secret[..at], &secret[at..]),     // a space inside
        secret.to_uppercase(),
        secret.replacen("km_", "KM_", 1),
        format!("{secret}\t"),
    ]
}

#[tokio::test]
async fn keys_with_whitespace_or_look_alike_characters_are_not_keys() {
    let (app, key) = target().await;
    for dialect in dialects() {
        for bad in look_alikes(&key.secret) {
            let request = if dialect.carries_key_in_header() {
                // Header values are bytes: a non-ASCII value is sent as UTF-8 bytes.
                request(
                    dialect,
                    &TestKey {
                        id: key.id.clone(),
                        secret: bad.clone(),
                    },
                )
            } else {
                let body = dialect.body(&TestKey {
                    id: key.id.clone(),
                    secret: bad.clone(),
                });
                Request::post(dialect.path(), Vec::new(), body.to_string())
            };
            let response = send(&app, &request).await;
            // Trailing whitespace in a header value is not part of the value (RFC 9110 §5.5):
            // that one key is the real key, sent with optional whitespace.
            if dialect.carries_key_in_header() && bad == format!("{}\t", key.secret) {
                assert_eq!(response.status, StatusCode::OK, "{dialect:?} {bad:?}");
                continue;
            }
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{dialect:?} {bad:?}"
            );
            dialect.assert_error(response.status, &response.json(), &format!("{bad:?}"));
        }
        assert_responsive(&app, dialect, &key).await;
    }
}

#[tokio::test]
async fn credentials_in_the_query_string_are_never_read() {
    let (app, key) = target().await;
    for dialect in dialects() {
        let query = format!(
            "?api_key={s}&apiKey={id}&authToken={s}&X-Api-Key={s}&x-api-key={s}&access_token={s}",
            s = key.secret,
            id = key.id
        );
        let body = dialect.body(&TestKey {
            id: String::new(),
            secret: String::new(),
        });
        let mut request = Request::post(dialect.path(), Vec::new(), body.to_string());
        request.head = format!("POST {}{query} HTTP/1.1", dialect.path());
        let response = send(&app, &request).await;
        // No key in a header, or an empty one in the body: refused as missing or malformed.
        assert!(
            matches!(
                response.status,
                StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
            ),
            "{dialect:?}: {}",
            response.status
        );
        dialect.assert_error(response.status, &response.json(), "query string");
    }
}

#[tokio::test]
async fn header_floods_are_cut_off_and_the_server_carries_on() {
    let (app, key) = target().await;
    for dialect in dialects() {
        let mut flood = request(dialect, &key);
        for i in 0..200 {
            flood.add(&format!("X-Flood-{i}"), "x");
        }
        // Refused by the HTTP layer before any route is chosen, so no dialect's shape applies:
        // the documented answer is the status alone.
        let response = send(&app, &flood).await;
        assert_eq!(
            response.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{dialect:?}"
        );
        // Past the 128 KiB the HTTP layer buffers, the server answers and hangs up while the
        // client is still writing: whatever of the answer survives the reset must be a 431.
        let mut huge = request(dialect, &key);
        huge.add("X-Huge", &"a".repeat(256 * 1024));
        let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
        let _ = stream.write_all(&huge.to_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        if !answer.is_empty() {
            let head = String::from_utf8_lossy(&answer);
            assert!(
                head.starts_with("HTTP/1.1 431 "),
                "{dialect:?}: {}",
                head.lines().next().unwrap_or_default()
            );
        }
        assert_responsive(&app, dialect, &key).await;
    }
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_its_answer_and_holds_up_no_one() {
    let (app, key) = target().await;
    let mut stalled = Vec::new();
    for dialect in dialects() {
        let request = request(dialect, &key).to_bytes();
        // Everything but the body's last byte, then silence.
        let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
        stream
            .write_all(&request[..request.len() - 1])
            .await
            .unwrap();
        stalled.push((dialect, stream));
    }
    // Meanwhile everyone else is served at once.
    for dialect in dialects() {
        assert_responsive(&app, dialect, &key).await;
    }
    for (dialect, mut stream) in stalled {
        let response = read_response(&mut stream).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{dialect:?}");
        dialect.assert_error(response.status, &response.json(), "stalled body");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_let_go() {
    let (app, key) = target().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    stream
        .write_all(b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nX-Api-")
        .await
        .unwrap();
    for dialect in dialects() {
        assert_responsive(&app, dialect, &key).await;
    }
    // The server gives up on it (actix's request timeout) rather than holding it forever.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the stalled connection is closed by the server"
    );
}

/// A token with its payload replaced, its signature kept.
fn with_payload(token: &str, change: impl FnOnce(&mut Value)) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    change(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    )
}

fn with_header(token: &str, header: Value) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rest = token.split_once('.').unwrap().1;
    format!(
        "{}.{rest}",
        b64.encode(serde_json::to_vec(&header).unwrap())
    )
}

/// Tokens an attacker could make from a real one, without the secret.
fn forgeries(token: &str) -> Vec<(&'static str, String)> {
    let unsigned = |header: Value| {
        let forged = with_header(token, header);
        format!("{}.", forged.rsplit_once('.').unwrap().0)
    };
    let foreign = {
        let other = jsonwebtoken::EncodingKey::from_secret(b"not-the-signing-secret-of-32-bytes");
        let claims: Value = crate::helpers::claims(token);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = None;
        jsonwebtoken::encode(&header, &claims, &other).unwrap()
    };
    vec![
        ("alg none", unsigned(json!({"alg": "none"}))),
        (
            "alg none, signature kept",
            with_header(token, json!({"alg": "none"})),
        ),
        ("HS512 header", with_header(token, json!({"alg": "HS512"}))),
        (
            "kid pointing at a file",
            with_header(token, json!({"alg": "HS256", "kid": "../../dev/null"})),
        ),
        (
            "jku to the attacker",
            with_header(
                token,
                json!({"alg": "HS256", "jku": "http://127.0.0.1:1/jwks"}),
            ),
        ),
        (
            "every scope added",
            with_payload(token, |p| p["scope"] = json!("calls:write agents:write")),
        ),
        (
            "another account",
            with_payload(token, |p| p["sub"] = json!("globex")),
        ),
        (
            "expiry pushed out",
            with_payload(token, |p| p["exp"] = json!(4_102_444_800_i64)),
        ),
        ("signed with another secret", foreign),
        (
            "signature of another token",
            format!("{}.{}", token.rsplit_once('.').unwrap().0, "A".repeat(43)),
        ),
        ("truncated", token[..token.len() - 5].to_owned()),
        ("two tokens glued", format!("{token}.{token}")),
    ]
}

#[tokio::test]
async fn forged_and_tampered_tokens_open_nothing() {
    let (app, key) = target().await;
    let token = app.token_with(&key.secret, &["calls:read"]).await;
    // The genuine token works at forward-auth, so the refusals below are the tampering's doing.
    let genuine = app.forward_auth("GET", "/v1/calls", bearer(&token)).await;
    assert_eq!(genuine.status(), StatusCode::OK);

    for (name, forged) in forgeries(&token) {
        let response = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "forward-auth / {name}"
        );
        assert!(
            response.headers().contains_key("www-authenticate"),
            "forward-auth / {name}"
        );
        for dialect in dialects() {
            let mut request = request(dialect, &key);
            request.add("Authorization", &format!("Bearer {forged}"));
            let response = send(&app, &request).await;
            // A bearer token is never a credential for minting; a forged one is not even that.
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{dialect:?} / {name}"
            );
            dialect.assert_error(response.status, &response.json(), name);
        }
    }
    for dialect in dialects() {
        assert_responsive(&app, dialect, &key).await;
    }
}

#[tokio::test]
async fn the_token_of_a_rotated_key_is_dead_everywhere_it_is_replayed() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let token = app.token_with(&acme.primary.secret, &["calls:read"]).await;
    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::OK
    );

    app.rotate_primary("acme").await;

    for _ in 0..3 {
        assert_eq!(
            app.forward_auth("GET", "/v1/calls", bearer(&token))
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "replayed at forward-auth"
        );
    }
    let introspected = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .header("X-Api-Key", &acme.secondary.secret)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), StatusCode::OK);
    assert_eq!(
        introspected.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    // Offered to mint, it is refused as every bearer token is (tokens cannot mint tokens).
    for dialect in dialects() {
        let mut request = request(dialect, &acme.secondary);
        request.add("Authorization", &format!("Bearer {token}"));
        let response = send(&app, &request).await;
        assert!(
            matches!(
                response.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
            "{dialect:?}: {}",
            response.status
        );
        dialect.assert_error(response.status, &response.json(), "replayed token");
    }
}

/// Reads one response off a kept-alive connection (the body by its `Content-Length`).
async fn read_one(stream: &mut TcpStream) -> (StatusCode, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        raw.extend_from_slice(&buf[..n]);
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if raw.len() >= split + 4 + length {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (StatusCode::from_u16(status).unwrap(), head);
        }
    }
}

#[tokio::test]
async fn a_refused_client_keeps_its_connection() {
    let (app, key) = target().await;
    for dialect in dialects() {
        let bad = TestKey {
            id: key.id.clone(),
            secret: format!("{}x", key.secret),
        };
        let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
        for (request, expected) in [
            (request(dialect, &bad), StatusCode::UNAUTHORIZED),
            (request(dialect, &key), StatusCode::OK),
        ] {
            let bytes = request.to_bytes();
            let text = String::from_utf8(bytes).unwrap();
            stream
                .write_all(text.replace("Connection: close\r\n", "").as_bytes())
                .await
                .unwrap();
            let (status, head) = read_one(&mut stream).await;
            assert_eq!(status, expected, "{dialect:?}");
            assert!(!head.contains("connection: close"), "{dialect:?}: {head}");
        }
    }
}

/// Behind the shipped nginx configuration, two clients at once: one floods forward-auth and the
/// token endpoint with junk, the other holds only expired tokens for a while. Neither throttles
/// the other, and expired tokens are not brute force: the patient client is never locked out.
#[tokio::test]
async fn behind_nginx_one_clients_failures_and_expired_tokens_leave_the_other_untouched() {
    use crate::nginx::{Gateway, client_at};
    let gateway = Gateway::start_with(|s| s.failed_auth_limit = "5/60s".parse().unwrap()).await;
    let victim = gateway.app.create_account("victim").await;
    let (attacker, honest) = (client_at("127.0.0.2"), client_at("127.0.0.3"));
    let junk = || bearer("x.y.z");

    // The attacker spends its quota of failures several times over, on both endpoints.
    for _ in 0..10 {
        let refused = gateway
            .get_from(&attacker, reqwest::Method::GET, "/v1/calls", junk())
            .await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        gateway
            .token_from(&attacker, "km_guess", &["calls:read"])
            .await;
    }
    let attackers_own = gateway
        .token_from(&attacker, &victim.secondary.secret, &["calls:read"])
        .await;
    assert_eq!(
        attackers_own.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's own address is the one throttled"
    );

    // The honest client, meanwhile, mints and uses tokens as usual.
    let minted = gateway
        .token_from(&honest, &victim.primary.secret, &["calls:read"])
        .await;
    assert_eq!(minted.status(), StatusCode::OK);
    let token = minted.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let through = gateway
        .get_from(&honest, reqwest::Method::GET, "/v1/calls", bearer(&token))
        .await;
    assert_eq!(through.status(), StatusCode::OK);

    // Its token expires and it keeps presenting it, far more often than the limit allows.
    gateway
        .app
        .clock
        .advance(chrono::Duration::seconds(900 + 10));
    for _ in 0..10 {
        let expired = gateway
            .get_from(&honest, reqwest::Method::GET, "/v1/calls", bearer(&token))
            .await;
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    }
    let renewed = gateway
        .token_from(&honest, &victim.primary.secret, &["calls:read"])
        .await;
    assert_eq!(
        renewed.status(),
        StatusCode::OK,
        "expiry is not brute force"
    );
}

/// Without --trusted-proxies, `X-Forwarded-For` is the client's own word: a client cannot escape
/// its failure quota by naming a new address on every request.
#[tokio::test]
async fn a_client_cannot_pick_its_address_by_forwarded_headers() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    for i in 0..5 {
        app.client
            .post(app.url("/v1/auth/token"))
            .header("X-Api-Key", "km_guess")
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .header("X-Real-IP", format!("198.51.100.{i}"))
            .json(&json!({"scope": []}))
            .send()
            .await
            .unwrap();
    }
    let blocked = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("X-Api-Key", &acme.primary.secret)
        .header("X-Forwarded-For", "203.0.113.77")
        .json(&json!({"scope": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The standard dialect's refusal: `{"error", "error_description"}` with `code`.
async fn oauth_refusal(response: reqwest::Response, status: StatusCode, code: &str, case: &str) {
    assert_eq!(response.status(), status, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{case}: {body}");
    assert!(body["error_description"].is_string(), "{case}: {body}");
    assert!(body.get("access_token").is_none(), "{case}: {body}");
}

#[tokio::test]
async fn the_oauth_endpoint_grants_no_more_than_the_key_and_the_allow_list_say() {
    let app = spawn_app_with(|s| s.resources = vec!["https://api.example.com".into()]).await;
    let limited = app
        .create_account_with_scopes("limited", Some("calls:read"))
        .await;
    let key = &limited.primary;
    let grant = ("grant_type", "client_credentials");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: [Case; 8] = [
        (
            "a scope beyond the key",
            vec![grant, ("scope", "calls:read calls:write")],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "a scope smuggled twice",
            vec![grant, ("scope", "calls:read"), ("scope", "calls:write")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a scope with a comma",
            vec![grant, ("scope", "calls:read,calls:write")],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "a resource outside the allow-list",
            vec![grant, ("resource", "https://api.example.com.evil.io")],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "a resource with a fragment",
            vec![grant, ("resource", "https://api.example.com#x")],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "a grant type twice",
            vec![grant, grant],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a refresh token grant",
            vec![("grant_type", "refresh_token"), ("refresh_token", "x")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "another id in the body beside Basic",
            vec![grant, ("client_id", &limited.secondary.id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (case, form, status, code) in cases {
        let response = app.oauth_token(Some(key), &form).await;
        oauth_refusal(response, status, code, case).await;
    }
}

#[tokio::test]
async fn malformed_oauth_client_authentication_is_invalid_client_and_wrong_secrets_are_guesses() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "2/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let raw = |value: &str| {
        app.client
            .post(app.url("/oauth2/token"))
            .header("Authorization", value.to_owned())
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    use base64::Engine as _;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let basic_of = |id: &str, secret: &str| format!("Basic {}", encode(&format!("{id}:{secret}")));
    let cases = [
        // Not credentials at all: refused, and not counted (as in every dialect).
        ("not base64", "Basic %%%".to_owned()),
        ("no colon", format!("Basic {}", encode(&acme.primary.id))),
        ("Digest", "Digest username=\"x\"".to_owned()),
        // Guesses: each counts against the address.
        (
            "the id of one key and the secret of another",
            basic_of(&acme.primary.id, &acme.secondary.secret),
        ),
        ("a wrong secret", basic_of(&acme.primary.id, "km_wrong")),
        ("a made-up id", basic_of("AAAAAAAAAAA", "km_wrong")),
    ];
    for (case, value) in &cases {
        let response = raw(value).await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"keymint\", error=\"invalid_client\"",
            "{case}"
        );
        oauth_refusal(response, StatusCode::UNAUTHORIZED, "invalid_client", case).await;
    }
    // Three guesses overspent a quota of two: even the right key now waits.
    let right = app
        .oauth_token(Some(&acme.primary), &[("grant_type", "client_credentials")])
        .await;
    oauth_refusal(
        right,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        "after the guesses",
    )
    .await;
}

#[tokio::test]
async fn oauth_tokens_of_a_rotated_key_or_revoked_are_dead_at_forward_auth() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let of_primary = app.access_token(&acme.primary, &[]).await;
    let of_secondary = app.access_token(&acme.secondary, &[]).await;
    for token in [&of_primary, &of_secondary] {
        let through = app.forward_auth("GET", "/v1/calls", bearer(token)).await;
        assert_eq!(through.status(), StatusCode::OK);
    }

    app.rotate_primary("acme").await;
    let revoked = app
        .post_form_as(
            &acme.secondary,
            "/oauth2/revoke",
            &[("token", &of_secondary)],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);

    for (case, token) in [("rotated", &of_primary), ("revoked", &of_secondary)] {
        let replayed = app.forward_auth("GET", "/v1/calls", bearer(token)).await;
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "{case}");
        let offered = app
            .client
            .post(app.url("/oauth2/token"))
            .bearer_auth(token)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        oauth_refusal(offered, StatusCode::UNAUTHORIZED, "invalid_client", case).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_the_published_key_as_an_hmac_secret_opens_nothing() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let genuine = app.access_token(&acme.primary, &[]).await;
    let jwks = app.get_json("/.well-known/jwks.json").await;
    // The classic confusion: the public key, as published, used as an HS256 secret.
    let secret = jwks["keys"][0].to_string();
    let mut payload = crate::helpers::claims(&genuine);
    payload["scope"] = json!("calls:read calls:write agents:write");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(
        &header,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();

    let response = app.forward_auth("GET", "/v1/calls", bearer(&forged)).await;
    let introspected = app
        .post_form_as(&acme.primary, "/oauth2/introspect", &[("token", &forged)])
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        introspected.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
}

/// The admin API's challenge.
const ADMIN_CHALLENGE: &str = "Bearer realm=\"keymint-admin\"";

/// A request to the admin API (`path` under `/admin/v1`) with `authorization` as written, if
/// any: a write gets a JSON body.
fn admin_request(method: &str, path: &str, authorization: Option<&str>) -> Request {
    let mut request = Request {
        head: format!("{method} /admin/v1{path} HTTP/1.1"),
        headers: Vec::new(),
        body: Vec::new(),
    };
    if method != "GET" {
        request.body = b"{}".to_vec();
        request.set("Content-Type", "application/json");
    }
    if let Some(value) = authorization {
        request.set("Authorization", value);
    }
    request
}

/// Asserts an admin API problem of `status` that names none of `secrets`.
fn assert_admin_problem(response: &Response, status: StatusCode, secrets: &[&str], case: &str) {
    assert_eq!(response.status, status, "{case}: {}", response.head);
    let head = response.head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{case}: {}",
        response.head
    );
    let problem = response.json();
    assert_eq!(problem["status"], status.as_u16(), "{case}: {problem}");
    let text = format!(
        "{}{}",
        response.head,
        String::from_utf8_lossy(&response.body)
    );
    for secret in secrets {
        assert!(!text.contains(secret), "{case}: a secret in the refusal");
    }
}

/// Every operation the served admin document lists, as (method, path under `/admin/v1`), its
/// path parameters filled in with `fill`.
async fn admin_operations(app: &TestApp, fill: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let document = app.get_json("/v3/api-docs/admin").await;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let path = path
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(name) => fill(name.trim_end_matches('}')),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() >= 8, "{operations:?}");
    operations
}

#[tokio::test]
async fn the_admin_api_opens_to_nothing_but_a_live_admin_key_on_every_operation() {
    let (app, key) = target().await;
    let token = app.token_with(&key.secret, &["calls:read"]).await;
    let revoked = app.create_admin_key("gone", false).await;
    let output =
        crate::helpers::cli(&app.database_url, &["admin-keys", "revoke", &revoked.id]).await;
    assert!(output.status.success());
    let live = app.create_admin_key("ops", false).await;
    let bearer_of = |credential: &str| format!("Bearer {credential}");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        (
            "an account's API key as a bearer",
            Some(bearer_of(&key.secret)),
        ),
        ("a token as a bearer", Some(bearer_of(&token))),
        ("a revoked admin key", Some(bearer_of(&revoked.secret))),
        ("a scheme alone", Some("Bearer".to_owned())),
        ("an empty credential", Some("Bearer ".to_owned())),
        (
            "two credentials",
            Some(format!("Bearer {} {}", live.secret, live.secret)),
        ),
        ("an unknown scheme", Some(format!("Token {}", live.secret))),
        (
            "the admin key as Basic",
            Some(basic(&live.id, &live.secret)),
        ),
        (
            "a tab for a space",
            Some(format!("Bearer\t{}", live.secret)),
        ),
        (
            "Latin-1 bytes",
            Some(format!("Bearer {}\u{e9}", live.secret)),
        ),
        (
            "an oversized credential",
            Some(bearer_of(&format!("kma_{}", "A".repeat(6000)))),
        ),
    ];
    let secrets = [
        key.secret.as_str(),
        token.as_str(),
        revoked.secret.as_str(),
        live.secret.as_str(),
    ];
    let operations = admin_operations(&app, |_| "acme".to_owned()).await;

    for (method, path) in &operations {
        for (case, authorization) in &cases {
            let request = admin_request(method, path, authorization.as_deref());
            let response = send(&app, &request).await;
            let case = format!("{method} {path} / {case}");
            assert_admin_problem(&response, StatusCode::UNAUTHORIZED, &secrets, &case);
            let challenge = response
                .head
                .lines()
                .find_map(|line| line.strip_prefix("www-authenticate: "));
            assert_eq!(challenge, Some(ADMIN_CHALLENGE), "{case}");
        }
    }
    let genuine = send(
        &app,
        &admin_request("GET", "/accounts", Some(&bearer_of(&live.secret))),
    )
    .await;
    assert_eq!(genuine.status, StatusCode::OK, "the live key opens it");
}

#[tokio::test]
async fn failed_admin_authentications_spend_the_addresss_quota_for_every_dialect() {
    let app = spawn_app_with(|s| s.failed_auth_limit = "3/60s".parse().unwrap()).await;
    let acme = app.create_account("acme").await;
    let ops = app.create_admin_key("ops", false).await;
    // Well-formed, the live key's id, not its secret: an attack on that admin key.
    let head = format!("kma_{}{}", ops.id, "0".repeat(22));
    let checksum = format!("{:0>6}", base62::encode(crc32fast::hash(head.as_bytes())));
    let guesses = [
        format!("Bearer {}", acme.primary.secret),
        "Bearer kma_guess".to_owned(),
        format!("Bearer {head}{checksum}"),
        "Bearer kma_another_guess".to_owned(),
    ];

    for guess in &guesses {
        let response = send(&app, &admin_request("GET", "/audit-events", Some(guess))).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&response.status),
            "{guess}: {}",
            response.head
        );
    }

    let blocked = send(
        &app,
        &admin_request(
            "GET",
            "/audit-events",
            Some(&format!("Bearer {}", ops.secret)),
        ),
    )
    .await;
    assert_admin_problem(
        &blocked,
        StatusCode::TOO_MANY_REQUESTS,
        &[&ops.secret],
        "the live key",
    );
    assert!(
        blocked.head.to_ascii_lowercase().contains("retry-after: "),
        "{}",
        blocked.head
    );
    // One quota per address, whichever API the guesses went to.
    for dialect in dialects() {
        let response = send(&app, &request(dialect, &acme.primary)).await;
        assert_eq!(
            response.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{dialect:?}"
        );
        dialect.assert_error(response.status, &response.json(), "after admin guesses");
    }
}

#[tokio::test]
async fn a_read_only_admin_key_is_refused_every_write_and_changes_nothing() {
    let (app, key) = target().await;
    let auditor = app.create_admin_key("auditor", true).await;
    let token = app.token_with(&key.secret, &["calls:read"]).await;
    let fill = |name: &str| match name {
        "id" => key.id.clone(),
        "alg" => "ES256".to_owned(),
        "slot" => "primary".to_owned(),
        _ => "acme".to_owned(),
    };
    let operations = admin_operations(&app, fill).await;
    let writes: Vec<_> = operations
        .iter()
        .filter(|(method, _)| method != "GET")
        .collect();
    assert!(writes.len() >= 4, "{writes:?}");
    let authorization = format!("Bearer {}", auditor.secret);

    for (method, path) in &writes {
        let mut request = admin_request(method, path, Some(&authorization));
        if path == "/token-revocations" {
            request.body = json!({ "token": token }).to_string().into_bytes();
        }
        let response = send(&app, &request).await;
        let case = format!("{method} {path}");
        assert_admin_problem(
            &response,
            StatusCode::FORBIDDEN,
            &[&auditor.secret, &token],
            &case,
        );
    }
    for (method, path) in operations.iter().filter(|(method, _)| method == "GET") {
        let response = send(&app, &admin_request(method, path, Some(&authorization))).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{method} {path}: reading is allowed"
        );
    }

    assert_eq!(
        app.forward_auth("GET", "/v1/calls", bearer(&token))
            .await
            .status(),
        StatusCode::OK,
        "the token is not revoked"
    );
    for dialect in dialects() {
        assert_responsive(&app, dialect, &key).await;
    }
    let signing_keys = app.get_json("/.well-known/jwks.json").await;
    assert_eq!(
        signing_keys["keys"].as_array().unwrap().len(),
        1,
        "no key was made"
    );
}
