use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who the gateway let through (the same facts are sent as `X-Auth-*` headers).
#[derive(Debug, Serialize, ToSchema)]
pub struct ForwardAuthGranted {
    /// The account (`X-Auth-Subject`).
    #[schema(example = "acme")]
    pub sub: String,
    /// Space-separated scopes the caller holds (`X-Auth-Scopes`).
    #[schema(example = "calls:read agents:read")]
    pub scope: String,
    /// The API key behind the caller (`X-Auth-Key-Id`).
    #[schema(example = "3hR9xk2LmQ0")]
    pub key_id: String,
}

impl ForwardAuthGranted {
    /// The JSON body, as `serde_json` would write this type, from borrowed parts: it answers
    /// every request a gateway forwards.
    pub fn to_json(sub: &str, scope: &str, key_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let mut body = crate::core::json::Writer::object(&mut out);
        body.key("sub").string(sub);
        body.key("scope").plain(scope);
        body.key("key_id").plain(key_id);
        body.close_object();
        out
    }
}

/// RFC 7662 introspection request, form-encoded.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IntrospectionRequest {
    /// The token to look at.
    pub token: String,
    /// Ignored: keymint only issues access tokens.
    #[serde(default)]
    #[schema(required = false)]
    pub token_type_hint: Option<String>,
}

/// RFC 7662 §2.2. An inactive, unknown, expired, foreign or key-rotated token is only
/// `{"active": false}`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "calls:read agents:read")]
    pub scope: Option<String>,
    /// The key that minted the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "Bearer")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub jti: Option<String>,
}

/// RFC 6749 §5.2 / RFC 6750 §3 error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    #[schema(example = "invalid_token")]
    pub error: &'static str,
    #[schema(example = "Missing, invalid or expired credentials.")]
    pub error_description: String,
}

/// RFC 7517 JWK Set: the public keys tokens are signed with (empty for HS256).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key (RFC 7517; RFC 7518 §6 for EC and RSA, RFC 8037 for Ed25519). Never a
/// private part.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// `EC` (ES256), `OKP` (EdDSA) or `RSA` (RS256).
    #[schema(example = "EC")]
    pub kty: String,
    /// `P-256` or `Ed25519` (EC and OKP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "P-256")]
    pub crv: Option<String>,
    /// Base64url public coordinate (EC and OKP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub x: Option<String>,
    /// Base64url second coordinate (EC only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub y: Option<String>,
    /// Base64url modulus, big-endian without leading zeros (RSA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub n: Option<String>,
    /// Base64url public exponent (RSA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "AQAB")]
    pub e: Option<String>,
    /// RFC 7638 thumbprint; tokens name it in their header.
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
}

/// Liveness or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The process is up.
    Ok,
    /// The store answers: requests can be served.
    Ready,
    /// The store does not answer.
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_forward_auth_body_is_what_serde_writes() {
        let granted = ForwardAuthGranted {
            sub: "acme \"corp\"".into(),
            scope: "calls:read agents:read".into(),
            key_id: "3hR9xk2LmQ0".into(),
        };
        assert_eq!(
            ForwardAuthGranted::to_json(&granted.sub, &granted.scope, &granted.key_id),
            serde_json::to_vec(&granted).unwrap()
        );
    }
}
