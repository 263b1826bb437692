//! Headers every answer carries, so that no page keymint serves can be framed, sniffed into
//! another type, or made to load and run what it does not ship: Swagger UI handles API keys,
//! the console admin keys.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CONTENT_SECURITY_POLICY, HeaderMap, HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use actix_web::middleware::Next;

use super::docs::PublicUrl;

/// JSON answers load nothing and are never framed.
const API_POLICY: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");

/// Where Swagger UI lives, with its own policy.
const SWAGGER_UI: &str = "/swagger-ui";

/// The console: its own scripts and styles only (no inline ones, no `style` attributes), calls
/// to this origin only (it reaches the admin API by relative addresses), and DOM sinks that
/// take no strings (it builds its pages node by node), so nothing an account is named can run.
const CONSOLE_POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'",
);

/// The policies, fixed at startup.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Swagger UI: its own scripts and styles (React sets inline styles, icons are `data:`
    /// images), requests to this origin, and to the public URL for "Try it out".
    swagger_ui: HeaderValue,
}

impl SecurityHeaders {
    pub fn new(public_url: Option<&PublicUrl>) -> Self {
        let connect = public_url.map_or_else(String::new, |url| format!(" {}", url.as_str()));
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'{connect}; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        );
        Self {
            swagger_ui: HeaderValue::try_from(policy)
                .expect("a public URL is a valid header value"),
        }
    }

    fn policy(&self, path: &str) -> HeaderValue {
        if path.starts_with(SWAGGER_UI) {
            self.swagger_ui.clone()
        } else if path
            .strip_prefix(super::console::PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            CONSOLE_POLICY
        } else {
            API_POLICY
        }
    }

    #[cfg(test)]
    fn apply(&self, path: &str, headers: &mut HeaderMap) {
        apply(self.policy(path), headers);
    }
}

fn apply(policy: HeaderValue, headers: &mut HeaderMap) {
    insert_if_absent(headers, CONTENT_SECURITY_POLICY, policy);
    insert_if_absent(headers, X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    insert_if_absent(headers, X_FRAME_OPTIONS, DENY);
}

fn insert_if_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}

/// Adds the headers to every response, errors and preflights included.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = req
        .app_data::<actix_web::web::Data<SecurityHeaders>>()
        .map_or(API_POLICY, |headers| headers.policy(req.path()));
    let mut response = next.call(req).await?;
    apply(policy, response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swagger_ui_may_call_the_public_url_and_nothing_else_outside() {
        let url: PublicUrl = "https://auth.example.com".parse().unwrap();
        let mut headers = HeaderMap::new();
        SecurityHeaders::new(Some(&url)).apply("/swagger-ui/index.html", &mut headers);
        let policy = headers
            .get(CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            policy.contains("connect-src 'self' https://auth.example.com;"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
    }

    #[test]
    fn the_console_runs_its_own_scripts_and_styles_and_calls_this_origin_only() {
        let mut headers = HeaderMap::new();
        SecurityHeaders::new(None).apply("/console/app.js", &mut headers);
        let policy = headers
            .get(CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        for directive in [
            "default-src 'none';",
            "script-src 'self';",
            "style-src 'self';",
            "connect-src 'self';",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        let mut elsewhere = HeaderMap::new();
        SecurityHeaders::new(None).apply("/consoles", &mut elsewhere);
        assert_eq!(elsewhere.get(CONTENT_SECURITY_POLICY), Some(&API_POLICY));
    }

    #[test]
    fn api_answers_load_nothing() {
        let mut headers = HeaderMap::new();
        SecurityHeaders::new(None).apply("/v1/auth/token", &mut headers);
        assert_eq!(headers.get(CONTENT_SECURITY_POLICY), Some(&API_POLICY));
        assert_eq!(headers.get(X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(headers.get(X_FRAME_OPTIONS).unwrap(), "DENY");
    }
}
