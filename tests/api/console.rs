//! The console at `/console/`: its pages and assets served from the binary with their types,
//! its own strict content security policy and the other security headers, nothing fetched from
//! elsewhere, and nothing else under its path.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The one absolute URL a console file may hold: the SVG namespace, a name that is never fetched.
const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

impl TestApp {
    async fn console(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Every file the console loads, from its page on: stylesheets, icons, scripts, and the
    /// modules those import, each with its answer's headers and text.
    async fn console_files(&self) -> Vec<(String, HeaderMap, String)> {
        let mut pending = vec!["/console/".to_owned()];
        let mut files: Vec<(String, HeaderMap, String)> = Vec::new();
        while let Some(path) = pending.pop() {
            if files.iter().any(|(seen, _, _)| *seen == path) {
                continue;
            }
            let response = self.console(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers().clone();
            let text = response.text().await.unwrap();
            for reference in local_references(&text) {
                pending.push(format!("/console/{}", reference.trim_start_matches("./")));
            }
            files.push((path, headers, text));
        }
        files
    }
}

/// The relative addresses a console file names: `href="..."`, `src="..."`, `from './x.js'`.
fn local_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for opener in ["href=\"", "src=\"", "from '", "import '"] {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let Some(end) = rest.find(['"', '\'']) else {
                continue;
            };
            let reference = &rest[..end];
            // Fragments are the console's own pages; absolute addresses are checked apart.
            if !reference.starts_with('#') && !reference.contains(':') && !reference.is_empty() {
                found.push(reference.to_owned());
            }
        }
    }
    found
}

/// Whether markup holds an event handler attribute (` onclick=`).
fn has_inline_handler(markup: &str) -> bool {
    markup.match_indices(" on").any(|(at, _)| {
        let name: String = markup[at + 3..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        !name.is_empty() && markup[at + 3 + name.len()..].starts_with('=')
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |value| value.to_str().unwrap_or(""))
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_each_file_s_type() {
    let app = spawn_app().await;

    let files = app.console_files().await;

    let paths: Vec<_> = files.iter().map(|(path, _, _)| path.as_str()).collect();
    for expected in [
        "/console/app.js",
        "/console/console.css",
        "/console/icon.svg",
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    for (path, headers, _) in &files {
        let expected = match path.rsplit_once('.').map_or("html", |(_, ext)| ext) {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            _ => "text/html; charset=utf-8",
        };
        assert_eq!(header(headers, "content-type"), expected, "{path}");
        assert_eq!(header(headers, "cache-control"), "no-cache", "{path}");
    }
}

#[tokio::test]
async fn every_console_file_is_under_a_strict_policy_of_its_own() {
    let app = spawn_app().await;

    for (path, headers, _) in app.console_files().await {
        assert_eq!(header(&headers, "x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        let policy = header(&headers, "content-security-policy");
        for directive in [
            "default-src 'none';",
            "script-src 'self';",
            "style-src 'self';",
            "connect-src 'self';",
            "form-action 'none';",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
    }
}

#[tokio::test]
async fn no_console_file_references_another_origin_or_runs_inline_code() {
    let app = spawn_app().await;

    for (path, _, text) in app.console_files().await {
        let text = text.replace(SVG_NAMESPACE, "");
        for absolute in ["://", "//cdn", "url("] {
            assert!(!text.contains(absolute), "{path} holds {absolute}");
        }
        if path.ends_with('/') {
            // The policy would refuse them; none is written, so none is silently dropped.
            assert!(!text.contains("<script>"), "{path}: an inline script");
            assert!(!text.contains("<style"), "{path}: an inline style");
            assert!(!text.contains(" style=\""), "{path}: a style attribute");
            assert!(!has_inline_handler(&text), "{path}: an inline handler");
        }
        assert!(!text.contains("innerHTML"), "{path}: an HTML string");
        assert!(
            !text.contains("localStorage"),
            "{path}: the admin key outlives the tab"
        );
    }
}

#[tokio::test]
async fn the_console_s_address_without_its_slash_redirects_inside_it() {
    let app = spawn_app().await;

    let response = app.console("/console").await;

    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    // Relative, so a proxy's path prefix in front is kept.
    assert_eq!(header(response.headers(), "location"), "console/");
    assert_eq!(header(response.headers(), "x-frame-options"), "DENY");
}

#[tokio::test]
async fn unknown_paths_under_the_console_answer_404() {
    let app = spawn_app().await;

    for path in [
        "/console/nowhere.js",
        "/console/app.js/more",
        "/console/.env",
        "/console/%2e%2e/Cargo.toml",
        "/console/..%2fCargo.toml",
        "/console/accounts/acme",
    ] {
        let response = app.console(path).await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            header(response.headers(), "content-security-policy").starts_with("default-src 'none'"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unchanged_console_file_is_not_sent_again() {
    let app = spawn_app().await;
    let first = app.console("/console/app.js").await;
    let tag = header(first.headers(), "etag").to_owned();
    assert!(tag.starts_with('"'), "{tag}");

    let again = app
        .client
        .get(app.url("/console/app.js"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();

    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(again.headers(), "etag"), tag);
    assert!(again.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_the_admin_api_there_is_no_console() {
    let app = spawn_app_with(|settings| settings.dialects = vec!["volubile".into()]).await;

    let response = app.console("/console/").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
