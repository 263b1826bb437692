//! The spec is a test: each served document must equal its reference in `openapi/`, field by
//! field. Only OpenAPI 3.0 vs 3.1 notation is normalised (the version string, `example` vs
//! `examples` inside schemas, `nullable` vs a `null` type); nothing else.

use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

fn reference(name: &str) -> Value {
    let path = format!("{}/openapi/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_yaml::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Rewrites 3.0 and 3.1 spellings of the same schema to one form.
fn normalise_schema(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(example) = object.remove("example") {
        object.insert("examples".into(), json!([example]));
    }
    if object.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(kind)) = object.get("type").cloned()
    {
        object.insert("type".into(), json!([kind, "null"]));
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(inner) = object.get_mut(key) {
            normalise_schema(inner);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(list)) = object.get_mut(key) {
            list.iter_mut().for_each(normalise_schema);
        }
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(normalise_schema);
    }
}

/// Finds every schema in a document (components, bodies, parameters) and normalises it.
fn normalise_document(doc: &mut Value) {
    let version = doc
        .as_object_mut()
        .and_then(|o| o.remove("openapi"))
        .expect("a document names its OpenAPI version");
    assert!(version.as_str().unwrap().starts_with("3."), "{version}");
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.values_mut().for_each(normalise_schema);
    }
    visit_schema_slots(doc);
}

fn visit_schema_slots(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if key == "schema" {
                    normalise_schema(inner);
                } else if key != "components" {
                    visit_schema_slots(inner);
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(visit_schema_slots),
        _ => {}
    }
}

/// Every difference, as `path: expected vs actual` lines.
fn differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<_> = e.keys().chain(a.keys()).collect();
            for key in keys {
                let here = format!("{path}/{key}");
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => differences(&here, ev, av, out),
                    (Some(ev), None) => out.push(format!("{here}: missing (expected {ev})")),
                    (None, Some(av)) => out.push(format!("{here}: unexpected {av}")),
                    (None, None) => unreachable!(),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                differences(&format!("{path}/{i}"), ev, av, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// The document served at `path`, by a keymint whose public URL is `https://{host}` (the
/// providers' own servers), equals `openapi/{reference_name}.yaml`.
pub async fn assert_served_document_matches(path: &str, reference_name: &str, host: &str) {
    let public_url = format!("https://{host}");
    let app = spawn_app_with(|s| s.public_url = Some(public_url.parse().unwrap())).await;
    let served: Value = app
        .client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut expected = reference(reference_name);
    let mut actual = served;
    normalise_document(&mut expected);
    normalise_document(&mut actual);
    let mut found = Vec::new();
    differences("", &expected, &actual, &mut found);
    assert!(
        found.is_empty(),
        "{path} differs from openapi/{reference_name}.yaml:\n{}",
        found.join("\n")
    );
}

#[tokio::test]
async fn the_volubile_document_equals_the_reference() {
    assert_served_document_matches("/v3/api-docs", "volubile", "api.eu.volubile.ai").await;
}

/// Every document in the registry equals `openapi/<name>.yaml`, served by a keymint whose public
/// URL is the host the reference names (the provider's own).
#[tokio::test]
async fn every_dialects_document_equals_its_reference() {
    for dialect in keymint::api::DIALECTS {
        let reference = reference(dialect.name);
        let server = reference["servers"][0]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("openapi/{}.yaml names no server", dialect.name));
        let host = server
            .strip_prefix("https://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| {
                panic!(
                    "openapi/{}.yaml: server {server} is not https://HOST",
                    dialect.name
                )
            });
        assert_served_document_matches(dialect.doc_path, dialect.name, host).await;
    }
}

#[tokio::test]
async fn without_a_public_url_the_server_is_the_documents_own_address() {
    // Relative: Swagger UI's "Try it out" resolves it against the address it fetched the
    // document from, so it calls this instance whatever Host the request named.
    let app = spawn_app().await;
    let doc = app.get_json("/v3/api-docs").await;
    assert_eq!(
        doc["servers"],
        json!([{"url": "/", "description": "Generated server url"}])
    );
}

async fn servers_of(
    app: &crate::helpers::TestApp,
    headers: &[(&str, &str)],
) -> (Value, reqwest::header::HeaderMap) {
    let mut request = app.client.get(app.url("/v3/api-docs/memoram"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    (
        response.json::<Value>().await.unwrap()["servers"].clone(),
        headers,
    )
}

#[tokio::test]
async fn forwarded_headers_from_a_client_never_reach_the_documents_servers() {
    let app = spawn_app().await;
    let forged = [
        ("Host", "evil.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    let (servers, headers) = servers_of(&app, &forged).await;
    assert_eq!(servers[0]["url"], "/api/v1");
    // A cache in front keeps each Host's copy apart, and revalidates.
    let vary = headers["vary"].to_str().unwrap();
    assert!(
        vary.starts_with("Host, X-Forwarded-Host, X-Forwarded-Proto, Forwarded"),
        "{vary}"
    );
    assert_eq!(headers["cache-control"], "no-cache");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_public_host_and_scheme() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let (servers, _) = servers_of(
        &app,
        &[
            ("X-Forwarded-Host", "auth.example.com"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert_eq!(servers[0]["url"], "https://auth.example.com/api/v1");
    let (servers, _) = servers_of(&app, &[("Forwarded", "proto=https;host=id.example.com")]).await;
    assert_eq!(servers[0]["url"], "https://id.example.com/api/v1");
}

#[tokio::test]
async fn a_configured_public_url_is_the_only_server_named() {
    let app = spawn_app_with(|s| {
        s.public_url = Some("https://auth.example.com/keys/".parse().unwrap());
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (servers, headers) = servers_of(&app, &[("X-Forwarded-Host", "evil.example")]).await;
    assert_eq!(servers[0]["url"], "https://auth.example.com/keys/api/v1");
    let vary = headers.get("vary").map(|v| v.to_str().unwrap().to_owned());
    assert!(
        !vary.unwrap_or_default().contains("Host"),
        "nothing to vary on"
    );
}

#[tokio::test]
async fn every_page_refuses_framing_sniffing_and_foreign_scripts() {
    let app = spawn_app().await;
    for path in ["/swagger-ui/", "/v3/api-docs", "/nowhere", "/healthz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
    }
    let ui = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    let policy = ui.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self';"), "{policy}");
}

#[tokio::test]
async fn swagger_ui_is_served_offline_and_lists_the_documents() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no asset comes from a CDN");

    let init = app
        .client
        .get(app.url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let script = init.text().await.unwrap();
    assert!(script.contains("/v3/api-docs/volubile"), "{script}");

    let bundle = app
        .client
        .get(app.url("/swagger-ui/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

#[test]
fn the_comparison_notices_a_changed_description() {
    let expected = json!({"a": {"description": "x"}});
    let actual = json!({"a": {"description": "y"}});
    let mut found = Vec::new();
    differences("", &expected, &actual, &mut found);
    assert_eq!(
        found,
        vec!["/a/description: expected \"x\", got \"y\"".to_owned()]
    );
}

/// The providers' documents as they publish them: each is the YAML block of its seed page, byte
/// for byte. The conformance stage runs schemathesis with these files, not with our copies.
struct Published {
    file: &'static str,
    seed_prefix: &'static str,
    sha256: &'static str,
}

const PUBLISHED: [Published; 2] = [
    Published {
        file: "volubile.yaml",
        seed_prefix: "000_",
        sha256: "c14f97db91afa21af9accd002cb7c346b7b5c95d6451b51ac1a47d8271c1432c",
    },
    Published {
        file: "memoram.yaml",
        seed_prefix: "004_",
        sha256: "3f35ebc7363b009cec7136cc452a24ad191563c78384ebe6516001872407c46c",
    },
];

fn published_text(file: &str) -> String {
    let path = format!("{}/openapi/published/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The seed pages (`shared/seeds/`), where this checkout sits beside them; `KEYMINT_SEEDS` names
/// another place.
fn seeds_dir() -> Option<std::path::PathBuf> {
    if let Ok(dir) = std::env::var("KEYMINT_SEEDS") {
        return Some(dir.into());
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/seeds"))
        .find(|dir| dir.is_dir())
}

/// The text between a seed page's "````yaml" line and its closing "````".
fn yaml_block(page: &str) -> &str {
    let start = page
        .find("````yaml")
        .expect("a seed page holds a YAML block");
    let body = &page[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("````").expect("the YAML block is closed")]
}

#[test]
fn the_published_documents_are_unedited() {
    for published in PUBLISHED {
        assert_eq!(
            sha256_hex(&published_text(published.file)),
            published.sha256,
            "openapi/published/{} is not the text its provider published",
            published.file
        );
    }
}

#[test]
fn the_published_documents_equal_the_seed_pages_text() {
    let Some(dir) = seeds_dir() else {
        eprintln!("no shared/seeds beside this checkout: the pinned hashes stand in for them");
        return;
    };
    for published in PUBLISHED {
        let page = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(published.seed_prefix))
            })
            .unwrap_or_else(|| panic!("no {}* page in {}", published.seed_prefix, dir.display()));
        let page = std::fs::read_to_string(page).unwrap();
        assert_eq!(
            published_text(published.file),
            yaml_block(&page),
            "{}",
            published.file
        );
    }
}

#[test]
fn keymints_volubile_reference_is_the_published_document() {
    let ours: Value = serde_yaml::from_str(&published_text("volubile.yaml")).unwrap();
    assert_eq!(reference("volubile"), ours);
}
