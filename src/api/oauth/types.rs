use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// Longest parameter value worth reading: ids, keys, scope lists and URIs are far shorter.
const MAX_PARAM: u64 = 2048;

/// The token request (RFC 6749 §4.4.2), form-encoded. Unknown parameters are ignored
/// (§3.2); a parameter sent twice is refused, except `resource`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`.
    #[schema(value_type = GrantType, example = "client_credentials")]
    #[validate(length(max = MAX_PARAM))]
    pub grant_type: Option<String>,
    /// Space-separated scopes; all the client may be granted when absent.
    #[serde(default)]
    #[schema(required = false, nullable = false, example = "calls:read agents:read")]
    #[validate(length(max = MAX_PARAM))]
    pub scope: Option<String>,
    /// RFC 8707: the resource server the token is for, which becomes its `aud`; one of the
    /// configured resources. Without it, the default audience.
    #[serde(default)]
    #[schema(required = false)]
    pub resource: Vec<String>,
    /// `client_secret_post`: the key's id (never together with HTTP Basic).
    #[serde(default)]
    #[schema(required = false, nullable = false)]
    #[validate(length(max = MAX_PARAM))]
    pub client_id: Option<String>,
    /// `client_secret_post`: the key.
    #[serde(default)]
    #[schema(required = false, nullable = false, format = Password)]
    #[validate(length(max = MAX_PARAM))]
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// An RFC 9068 JWT access token (`typ: at+jwt`).
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until it expires.
    #[schema(example = 900)]
    pub expires_in: u32,
    /// The scopes granted, space-separated.
    #[schema(example = "calls:read agents:read")]
    pub scope: String,
}

/// A token to revoke (RFC 7009 §2.1) or introspect (RFC 7662 §2.1), form-encoded, with the
/// client's credentials if it does not send them as HTTP Basic.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct TokenActionRequest {
    /// The token.
    #[validate(length(max = 8192))]
    pub token: String,
    /// Ignored: keymint issues access tokens only.
    #[serde(default)]
    #[schema(required = false, nullable = false, example = "access_token")]
    #[validate(length(max = MAX_PARAM))]
    pub token_type_hint: Option<String>,
    /// `client_secret_post`: the key's id.
    #[serde(default)]
    #[schema(required = false, nullable = false)]
    #[validate(length(max = MAX_PARAM))]
    pub client_id: Option<String>,
    /// `client_secret_post`: the key.
    #[serde(default)]
    #[schema(required = false, nullable = false, format = Password)]
    #[validate(length(max = MAX_PARAM))]
    pub client_secret: Option<String>,
}

/// The grant types keymint serves.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GrantType {
    ClientCredentials,
}

/// The error codes of RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1 and RFC 8707 §2.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    InvalidToken,
    UnsupportedTokenType,
    TemporarilyUnavailable,
    ServerError,
}

/// An error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    #[schema(value_type = ErrorCode, example = "invalid_client")]
    pub error: &'static str,
    #[schema(example = "Client authentication failed.")]
    pub error_description: String,
}

/// Authorization server metadata (RFC 8414 §2), also served as OpenID Connect Discovery's
/// provider configuration, whose required fields it carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadata {
    /// The issuer: every token's `iss`.
    #[schema(example = "https://auth.example.com")]
    pub issuer: String,
    #[schema(example = "https://auth.example.com/oauth2/token")]
    pub token_endpoint: String,
    #[schema(example = "https://auth.example.com/.well-known/jwks.json")]
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    #[schema(example = json!(["client_credentials"]))]
    pub grant_types_supported: Vec<&'static str>,
    /// None: there is no authorization endpoint.
    pub response_types_supported: Vec<&'static str>,
    #[schema(example = json!(["client_secret_basic", "client_secret_post"]))]
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<String>,
    /// OpenID Connect Discovery requires these two, though no ID token is issued.
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
}
