use std::time::Duration;

use super::store::StoreError;

/// What can go wrong when a caller asks for a token. Each dialect maps these to its own
/// documented status and body; the `Display` text is for logs, never for responses.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Missing, malformed, unknown, revoked or wrong key, or a token that does not hold: one
    /// answer for all, so a caller learns nothing about which. The [`Attempt`] is for the
    /// failed-authentication limit only.
    #[error("missing or invalid credentials")]
    InvalidCredentials(Attempt),
    /// The caller presented a valid bearer token: tokens cannot mint tokens.
    #[error("a bearer token cannot mint another token")]
    TokenCannotMint,
    #[error("rate limit exceeded")]
    RateLimited(RateLimited),
    /// The key may not grant these scopes (named, in catalogue order).
    #[error("scopes not granted to this key: {}", .0.join(" "))]
    ScopeNotAllowed(Vec<String>),
    #[error("the key store is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl CoreError {
    /// A short, stable name for logs and the audit trail.
    pub fn reason(&self) -> &'static str {
        match self {
            CoreError::InvalidCredentials(_) => "invalid_credentials",
            CoreError::TokenCannotMint => "bearer_token",
            CoreError::RateLimited(limited) if limited.policy == "failed-auth" => {
                "too_many_failures"
            }
            CoreError::RateLimited(_) => "rate_limited",
            CoreError::ScopeNotAllowed(_) => "scope_not_allowed",
            CoreError::Unavailable(_) => "unavailable",
            CoreError::Internal(_) => "internal",
        }
    }
}

/// What refused credentials say about the caller: whether they could be a guess. Only guesses
/// spend the client's failed-authentication quota; never shown to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// No credentials at all, or an unreadable credential header: nothing was guessed.
    Absent,
    /// Credentials that prove nothing: a malformed key, an unknown key id, a wrong secret, a
    /// token that is malformed, badly signed, of another issuer or with impossible claims.
    Guess,
    /// Credentials that were genuine: a revoked or rotated key, or a correctly signed token
    /// that is expired, not yet valid, or minted by a key since rotated or revoked. Ordinary
    /// expiry and rotation, not brute force.
    Lapsed,
}

impl Attempt {
    /// Whether the attempt spends from the client's failed-authentication quota.
    pub const fn counts(self) -> bool {
        matches!(self, Attempt::Guess)
    }
}

/// A refused request's quota: what the limit is and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Which quota: `account` or `failed-auth`.
    pub policy: &'static str,
    pub limit: u32,
    pub window: Duration,
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds to wait, rounded up and never zero (the `Retry-After` value).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::ChangesUnknown | StoreError::TimedOut => {
                CoreError::Unavailable(err)
            }
            other => CoreError::Internal(other.into()),
        }
    }
}
