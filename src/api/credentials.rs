//! Finding credentials in request headers. Which headers a dialect reads is its own business;
//! the parsing rules (one value only, visible ASCII, `Bearer` scheme) are shared.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use crate::core::service::Credentials;

/// The single value of a header, or `None` if it is absent, repeated or not visible ASCII.
/// A repeated credential header is ambiguous, and ambiguity is refused rather than guessed.
pub fn single_header<'r>(req: &'r HttpRequest, name: &str) -> Option<Result<&'r str, ()>> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    Some(first.to_str().map_err(drop))
}

/// The token of an `Authorization: Bearer <token>` header, if that is the scheme used.
pub fn bearer(req: &HttpRequest) -> Option<Result<&str, ()>> {
    single_header(req, AUTHORIZATION.as_str()).and_then(|value| match value {
        Ok(value) => {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| Ok(token.trim()))
        }
        Err(()) => Some(Err(())),
    })
}

/// Credentials carried by an API-key header, with a bearer token taking precedence so that a
/// token can never slip through to minting.
pub fn from_api_key_header(req: &HttpRequest, header: &str) -> Credentials {
    match bearer(req) {
        Some(Ok(token)) => return Credentials::Bearer(token.to_owned()),
        Some(Err(())) => return Credentials::Missing,
        None => {}
    }
    match single_header(req, header) {
        Some(Ok(key)) => Credentials::ApiKey(key.to_owned()),
        Some(Err(())) | None => Credentials::Missing,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn credentials(req: TestRequest) -> String {
        format!(
            "{:?}",
            from_api_key_header(&req.to_http_request(), "x-api-key")
        )
    }

    #[test]
    fn an_api_key_header_is_read() {
        let req = TestRequest::default().insert_header(("X-Api-Key", "km_abc"));
        assert_eq!(credentials(req), "ApiKey([redacted])");
    }

    #[test]
    fn a_bearer_token_wins_over_an_api_key() {
        let req = TestRequest::default()
            .insert_header(("X-Api-Key", "km_abc"))
            .insert_header(("Authorization", "bearer eyJ"));
        assert_eq!(credentials(req), "Bearer([redacted])");
    }

    #[test]
    fn a_repeated_api_key_header_counts_as_none() {
        let req = TestRequest::default()
            .append_header(("X-Api-Key", "km_abc"))
            .append_header(("X-Api-Key", "km_def"));
        assert_eq!(credentials(req), "Missing");
    }

    #[test]
    fn other_authorization_schemes_are_ignored_here() {
        let req = TestRequest::default().insert_header(("Authorization", "Basic Zm9vOmJhcg=="));
        assert_eq!(credentials(req), "Missing");
    }
}
