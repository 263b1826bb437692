use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// The callable-function request: everything sits under `data`.
// No `Debug`: it carries a key.
#[derive(Deserialize, Validate, ToSchema)]
pub struct GenerateTokenRequest {
    #[validate(nested)]
    pub data: TokenRequestData,
}

// No `Debug`: it carries a key.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequestData {
    /// Your Velt API Key (keymint: the key id).
    #[validate(length(min = 1, max = 64, message = "API key not found."))]
    #[schema(min_length = 1, max_length = 64, example = "YOUR_API_KEY")]
    pub api_key: String,
    /// Your Auth Token from the Velt console (keymint: the API key itself).
    #[validate(length(min = 1, max = 64, message = "Auth token not found."))]
    #[schema(min_length = 1, max_length = 64, example = "YOUR_AUTH_TOKEN")]
    pub auth_token: String,
    /// Unique identifier for the user.
    #[validate(length(min = 1, max = 256, message = "User ID not found."))]
    #[schema(min_length = 1, max_length = 256, example = "yourUserId")]
    pub user_id: String,
    #[validate(nested)]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = UserProperties, required = false)]
    pub user_properties: Option<UserProperties>,
}

/// Optional properties of the user.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProperties {
    /// Organization ID. Should match the `organizationId` used in the `identify` call.
    #[validate(length(min = 1, max = 256, message = "Organization ID not found."))]
    #[schema(min_length = 1, max_length = 256, example = "YOUR_ORGANIZATION_ID")]
    pub organization_id: String,
    /// Whether the user has admin privileges: the only supported way to set a user as admin.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub is_admin: Option<bool>,
    /// User email; if provided, validated against the email used in the `identify` call.
    #[validate(
        email(message = "Email is invalid."),
        length(max = 320, message = "Email is invalid.")
    )]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, format = Email, max_length = 320, required = false, example = "user@example.com")]
    pub email: Option<String>,
}

/// An optional field that, when present, must not be `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Success: `{"result": {"status": "success", "message": ..., "data": {"token": ...}}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateTokenResponse {
    pub result: TokenResult,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResult {
    pub status: SuccessStatus,
    #[schema(example = "Token generated successfully.")]
    pub message: &'static str,
    pub data: TokenData,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SuccessStatus {
    Success,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenData {
    /// JWT for the Velt client; expires in 48 hours.
    #[schema(example = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ5b3VyVXNlcklkIn0.c2lnbmF0dXJl")]
    pub token: String,
}

/// Failure: `{"error": {"message": ..., "status": ...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "Auth token not found.")]
    pub message: String,
    pub status: ErrorStatus,
}

/// Callable-function status names; each has a fixed HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorStatus {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    ResourceExhausted,
    Internal,
    Unavailable,
}
