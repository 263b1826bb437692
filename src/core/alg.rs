use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

/// How tokens are signed: HS256 with a shared secret, or an asymmetric key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Hs256,
    Es256,
    EdDsa,
    Rs256,
}

impl SigningAlg {
    /// The key-pair algorithms: each has its own keyring, rotation and JWKS entries.
    pub const ASYMMETRIC: &[SigningAlg] =
        &[SigningAlg::Es256, SigningAlg::EdDsa, SigningAlg::Rs256];

    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Hs256 => "HS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Rs256 => "RS256",
        }
    }

    pub const fn algorithm(self) -> Algorithm {
        match self {
            SigningAlg::Hs256 => Algorithm::HS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
            SigningAlg::Rs256 => Algorithm::RS256,
        }
    }

    pub const fn is_asymmetric(self) -> bool {
        !matches!(self, SigningAlg::Hs256)
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a signing algorithm is HS256, ES256, EdDSA or RS256")]
pub struct UnknownAlg;

impl FromStr for SigningAlg {
    type Err = UnknownAlg;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "HS256" => Ok(SigningAlg::Hs256),
            "ES256" => Ok(SigningAlg::Es256),
            "EdDSA" => Ok(SigningAlg::EdDsa),
            "RS256" => Ok(SigningAlg::Rs256),
            _ => Err(UnknownAlg),
        }
    }
}
