//! Finding credentials in requests. Where each dialect takes them from is this one table:
//!
//! | dialect  | credentials                                            | keymint's key as |
//! |----------|--------------------------------------------------------|------------------|
//! | Volubile | `X-Api-Key: <secret>` header                           | secret           |
//! | OrigoID  | `x-api-key: <secret>` header, or `Authorization: Basic base64(<id>:<secret>)` | secret, or id and secret |
//! | Velt     | body `data.apiKey = <id>`, `data.authToken = <secret>` | id and secret    |
//! | Memoram  | body `api_key = <secret>`                              | secret           |
//!
//! `<id>` and `<secret>` are what `keymint accounts create --json` prints. In every dialect, a
//! valid `Authorization: Bearer` token is refused: tokens cannot mint tokens. The parsing rules
//! (one value only, visible ASCII, scheme names case-insensitive) are shared.

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, AsHeaderName, HeaderName};

use crate::core::service::Credentials;

/// The API-key header every header-carried dialect uses (`X-Api-Key`, in any case).
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The single value of a header, or `None` if it is absent, repeated or not visible ASCII.
/// A repeated credential header is ambiguous, and ambiguity is refused rather than guessed.
pub fn single_header(req: &HttpRequest, name: impl AsHeaderName) -> Option<Result<&str, ()>> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    Some(first.to_str().map_err(drop))
}

/// The token of an `Authorization: Bearer <token>` header, if that is the scheme used.
pub fn bearer(req: &HttpRequest) -> Option<Result<&str, ()>> {
    single_header(req, AUTHORIZATION).and_then(|value| match value {
        Ok(value) => {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| Ok(token.trim()))
        }
        Err(()) => Some(Err(())),
    })
}

/// A presented bearer token (or an unreadable `Authorization` header), which takes precedence
/// over any other credential so that a token can never slip through to minting.
pub fn presented_bearer(req: &HttpRequest) -> Option<Credentials> {
    match bearer(req)? {
        Ok(token) => Some(Credentials::Bearer(token.to_owned())),
        Err(()) => Some(Credentials::Missing),
    }
}

/// For dialects whose credentials travel in the body: refuses any `Authorization: Bearer`
/// (tokens cannot mint tokens), before the body is read.
pub fn refuse_any_bearer(
    req: &HttpRequest,
    tokens: &crate::core::service::TokenService,
    caller: &crate::core::audit::Caller,
) -> Result<(), crate::core::CoreError> {
    match presented_bearer(req) {
        None => Ok(()),
        Some(Credentials::Bearer(token)) => Err(tokens.refuse_bearer(caller, &token)),
        Some(_) => Err(crate::core::CoreError::InvalidCredentials(
            crate::core::Attempt::Absent,
        )),
    }
}

/// Credentials carried by an API-key header, unless a bearer token is presented.
pub fn from_api_key_header(req: &HttpRequest, header: &HeaderName) -> Credentials {
    if let Some(bearer) = presented_bearer(req) {
        return bearer;
    }
    match single_header(req, header) {
        Some(Ok(key)) => Credentials::ApiKey(key.to_owned()),
        Some(Err(())) | None => Credentials::Missing,
    }
}

/// `Authorization: Basic base64(<id>:<key>)`, if that is the scheme used. Anything malformed
/// (bad base64, no colon, an empty part) counts as no credentials.
fn basic(req: &HttpRequest) -> Option<Credentials> {
    use base64::Engine as _;
    let value = single_header(req, AUTHORIZATION)?.ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let malformed = Some(Credentials::Missing);
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return malformed;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return malformed;
    };
    match decoded.split_once(':') {
        Some((id, key)) if !id.is_empty() && !key.is_empty() => Some(Credentials::IdAndKey {
            id: id.to_owned(),
            key: key.to_owned(),
        }),
        _ => malformed,
    }
}

/// OAuth 2.0 `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic whose id and secret were
/// form-urlencoded before they were joined. `None` when there is no `Authorization` header;
/// any other scheme, or a malformed one, counts as no credentials.
pub fn client_secret_basic(req: &HttpRequest) -> Option<Credentials> {
    let _present = single_header(req, AUTHORIZATION)?;
    let decode = |part: &str| {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    match basic(req) {
        Some(Credentials::IdAndKey { id, key }) => match (decode(&id), decode(&key)) {
            (Some(id), Some(key)) => Some(Credentials::IdAndKey { id, key }),
            _ => Some(Credentials::Missing),
        },
        _ => Some(Credentials::Missing),
    }
}

/// The credentials of a request that may carry them in its headers or in its body, but never in
/// both (RFC 6749 §2.3: one authentication method per request).
pub fn one_method(
    in_headers: Option<Credentials>,
    in_body: Credentials,
) -> Result<Credentials, super::body::BodyError> {
    match (in_headers, in_body) {
        (Some(from_headers), Credentials::Missing) => Ok(from_headers),
        (None, from_body) => Ok(from_body),
        (Some(_), _) => Err(super::body::BodyError::CredentialsTwice),
    }
}

/// OrigoID: an API-key header or HTTP Basic, but not both (conflicting credentials are refused).
pub fn from_api_key_or_basic(req: &HttpRequest, header: &HeaderName) -> Credentials {
    match (from_api_key_header(req, header), basic(req)) {
        (Credentials::Missing, Some(basic)) => basic,
        (_, Some(_)) => Credentials::Missing,
        (from_header, None) => from_header,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn credentials(req: TestRequest) -> String {
        format!(
            "{:?}",
            from_api_key_header(&req.to_http_request(), &X_API_KEY)
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

    fn origoid(req: TestRequest) -> String {
        format!(
            "{:?}",
            from_api_key_or_basic(&req.to_http_request(), &X_API_KEY)
        )
    }

    #[test]
    fn basic_credentials_carry_id_and_key() {
        let req = TestRequest::default().insert_header(("Authorization", "Basic aWQ6a2V5"));
        assert_eq!(origoid(req), "IdAndKey([redacted])");
    }

    #[test]
    fn malformed_basic_credentials_count_as_none() {
        // no colon, bad base64, empty key, empty id
        for value in [
            "Basic aWRrZXk=",
            "Basic !!!",
            "Basic aWQ6",
            "Basic OmtleQ==",
        ] {
            let req = TestRequest::default().insert_header(("Authorization", value));
            assert_eq!(origoid(req), "Missing", "{value}");
        }
    }

    #[test]
    fn an_api_key_together_with_basic_is_refused() {
        let req = TestRequest::default()
            .insert_header(("x-api-key", "km_abc"))
            .insert_header(("Authorization", "Basic aWQ6a2V5"));
        assert_eq!(origoid(req), "Missing");
    }

    #[test]
    fn other_authorization_schemes_are_ignored_here() {
        let req = TestRequest::default().insert_header(("Authorization", "Basic Zm9vOmJhcg=="));
        assert_eq!(credentials(req), "Missing");
    }
}
