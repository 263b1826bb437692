//! The spec is a test: each served document must equal its reference in `openapi/`, field by
//! field. Only OpenAPI 3.0 vs 3.1 notation is normalised (the version string, `example` vs
//! `examples` inside schemas, `nullable` vs a `null` type); nothing else.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

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

pub async fn assert_served_document_matches(path: &str, reference_name: &str, host: &str) {
    let app = spawn_app().await;
    let served: Value = app
        .client
        .get(app.url(path))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
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

#[tokio::test]
async fn the_volubile_document_is_also_served_under_its_dialect_name() {
    assert_served_document_matches("/v3/api-docs/volubile", "volubile", "api.eu.volubile.ai").await;
}

#[tokio::test]
async fn the_server_url_follows_the_request_so_try_it_out_hits_this_instance() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/v3/api-docs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["servers"],
        json!([{"url": app.address, "description": "Generated server url"}])
    );
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

#[tokio::test]
async fn the_origoid_document_equals_the_reference() {
    assert_served_document_matches("/v3/api-docs/origoid", "origoid", "api.origoid.example").await;
}

#[tokio::test]
async fn the_velt_document_equals_the_reference() {
    assert_served_document_matches("/v3/api-docs/velt", "velt", "api.velt.dev").await;
}

#[tokio::test]
async fn the_memoram_document_equals_the_reference() {
    assert_served_document_matches("/v3/api-docs/memoram", "memoram", "api.memoram.app").await;
}

#[tokio::test]
async fn the_keymint_document_equals_the_reference() {
    assert_served_document_matches("/v3/api-docs/keymint", "keymint", "keymint.example").await;
}
