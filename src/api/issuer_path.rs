//! An issuer with a path (`https://auth.example.com/tenant`). Clients build every address from
//! it: the token endpoint at `{issuer}/oauth2/token`, OpenID Connect's
//! `{issuer}/.well-known/openid-configuration`, RFC 8414 §3.1's
//! `/.well-known/oauth-authorization-server/tenant`, and Spring's fallback
//! `/.well-known/openid-configuration/tenant`. keymint answers each of them whether a proxy in
//! front strips the path or forwards it as is: the request is routed as if it had no prefix.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::web;

use super::AppState;

/// The path of the issuer's URL, without its trailing slash; empty for an issuer at the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerPath(String);

/// Where the discovery documents are, for an issuer at the root.
const WELL_KNOWN: [&str; 2] = [
    super::oauth::AUTHORIZATION_SERVER_METADATA,
    super::oauth::OPENID_CONFIGURATION,
];

impl IssuerPath {
    /// The path of `issuer`, an http(s) URL.
    pub fn of(issuer: &str) -> Self {
        let path = issuer
            .parse::<Uri>()
            .map(|uri| uri.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Self(path)
    }

    /// The path a request for `path` is routed as: without the issuer's path in front, and a
    /// discovery document named after the issuer's path as the plain one. `None` when it is
    /// routed as it is.
    pub fn route(&self, path: &str) -> Option<String> {
        let prefix = self.0.as_str();
        if prefix.is_empty() {
            return None;
        }
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some(if rest.is_empty() {
                "/".to_owned()
            } else {
                rest.to_owned()
            });
        }
        WELL_KNOWN
            .iter()
            .find(|known| path.strip_prefix(**known) == Some(prefix))
            .map(|known| (*known).to_owned())
    }
}

/// Routes a request under the issuer's path as the same request without it.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let routed = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.issuer_path.route(req.path()));
    if let Some(path) = routed {
        let target = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(uri) = target.parse::<Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_at_the_root_routes_nothing_anew() {
        let root = IssuerPath::of("https://auth.example.com");
        assert_eq!(root.route("/oauth2/token"), None);
        assert_eq!(root.route("/.well-known/openid-configuration"), None);
    }

    #[test]
    fn an_issuers_path_is_routed_away_wherever_clients_put_it() {
        let tenant = IssuerPath::of("https://auth.example.com/tenant/");
        for (asked, routed) in [
            ("/tenant/oauth2/token", Some("/oauth2/token")),
            (
                "/tenant/.well-known/openid-configuration",
                Some("/.well-known/openid-configuration"),
            ),
            (
                "/.well-known/openid-configuration/tenant",
                Some("/.well-known/openid-configuration"),
            ),
            (
                "/.well-known/oauth-authorization-server/tenant",
                Some("/.well-known/oauth-authorization-server"),
            ),
            ("/tenant", Some("/")),
            ("/tenantx/oauth2/token", None),
            ("/.well-known/openid-configuration/other", None),
            ("/oauth2/token", None),
        ] {
            assert_eq!(tenant.route(asked).as_deref(), routed, "{asked}");
        }
    }
}
