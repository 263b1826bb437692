//! Bearer tokens as credentials: checked in full (signature, claims, revocation, the key that
//! minted them), and remembered once checked, so a token presented on every call has its
//! signature checked once (its time window, its revocation and its key's status every time).

use std::sync::Arc;

use uuid::Uuid;

use super::apikey::KeyId;
use super::clock::Clock;
use super::error::{Attempt, CoreError};
use super::revocation::{NotLoaded, RevocationList};
use super::scope::ScopeSet;
use super::store::{KeyStore, StoreError};
use super::token::{Claims, TokenSigner};
use super::token_cache::{TokenCache, Verified};

/// A caller let through to an upstream route: who, with which key, holding which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub subject: Arc<str>,
    pub key_id: KeyId,
    pub scopes: ScopeSet,
}

/// Checks bearer tokens, and remembers the ones that held.
#[derive(Debug)]
pub struct BearerVerifier {
    signer: Arc<TokenSigner>,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    verified: TokenCache,
    revoked: Arc<RevocationList>,
}

impl BearerVerifier {
    /// `capacity` verified tokens remembered (0: every token checked in full); tokens in
    /// `revoked` are refused.
    pub fn new(
        signer: Arc<TokenSigner>,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        capacity: usize,
        revoked: Arc<RevocationList>,
    ) -> Self {
        Self {
            signer,
            store,
            clock,
            verified: TokenCache::new(capacity),
            revoked,
        }
    }

    /// Forgets every remembered token: a signing key may have been retired.
    pub fn forget_all(&self) {
        self.verified.clear();
    }

    /// Why a bearer token offered as a credential is refused: a valid one because tokens cannot
    /// mint tokens, anything else because it proves nothing.
    pub fn refusal(&self, token: &str) -> CoreError {
        match self.signer.verify(token, self.clock.now()) {
            Ok(_) => CoreError::TokenCannotMint,
            Err(err) => {
                tracing::debug!(error = %err, "bearer token refused");
                CoreError::InvalidCredentials(err.attempt())
            }
        }
    }

    /// Checks a bearer token fully: signature, issuer, audience and time claims, that it was
    /// not revoked, and that the key which minted it is still active (rotating a key kills its
    /// tokens).
    pub async fn verify(&self, token: &str) -> Result<(Claims, Access), CoreError> {
        self.check(token)
            .await
            .map(|(claims, access, _)| (claims, access))
    }

    /// [`verify`](Self::verify), with the token's `jti`.
    async fn check(&self, token: &str) -> Result<(Claims, Access, Uuid), CoreError> {
        let claims = self.signer.verify(token, self.clock.now()).map_err(|err| {
            tracing::debug!(error = %err, "bearer token refused");
            CoreError::InvalidCredentials(err.attempt())
        })?;
        // keymint writes a UUID into every token: another `jti` was not minted here (only a
        // leaked secret signs one), and could not be revoked.
        let jti: Uuid = claims
            .jti
            .parse()
            .map_err(|_| CoreError::InvalidCredentials(Attempt::Guess))?;
        self.check_not_revoked(&jti)?;
        let key_id: KeyId = claims
            .key_id
            .parse()
            .map_err(|_| CoreError::InvalidCredentials(Attempt::Guess))?;
        self.check_minting_key(&key_id, &claims.sub).await?;
        // A name this catalogue lacks was minted under another one (an instance configured
        // differently, or before a scope was dropped): the token holds it, but it grants nothing here.
        let scopes = self
            .signer
            .authority()
            .scopes
            .parse_known(&claims.scope, |name| {
                tracing::debug!(
                    scope = name,
                    "a token's scope outside the catalogue is not granted"
                );
            });
        let access = Access {
            subject: Arc::from(claims.sub.as_str()),
            key_id,
            scopes,
        };
        Ok((claims, access, jti))
    }

    /// A revoked token was genuine once: refused, but not counted as a guess. Until the
    /// revocations have been read (the database was away at start), no token is vouched for.
    fn check_not_revoked(&self, jti: &Uuid) -> Result<(), CoreError> {
        match self.revoked.is_revoked(jti) {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::debug!(%jti, "revoked bearer token refused");
                Err(CoreError::InvalidCredentials(Attempt::Lapsed))
            }
            Err(NotLoaded) => Err(CoreError::Unavailable(StoreError::ChangesUnknown)),
        }
    }

    /// A token is only as good as the key that minted it: still working (a retiring key's
    /// tokens until its grace period ends), same account.
    async fn check_minting_key(&self, key_id: &KeyId, subject: &str) -> Result<(), CoreError> {
        match self.store.find_key(key_id).await? {
            Some(key)
                if key.works_at(self.clock.now())
                    && !key.settings.disabled
                    && *key.account == *subject =>
            {
                Ok(())
            }
            _ => {
                tracing::debug!(%key_id, "token of a rotated, revoked or expired key, or of a disabled account, refused");
                Err(CoreError::InvalidCredentials(Attempt::Lapsed))
            }
        }
    }

    /// What a bearer token grants: from the cache of verified tokens if it is there (its time
    /// window, revocation and minting key checked again), else by a full check, whose result is
    /// cached.
    pub async fn access(&self, token: &str) -> Result<Access, CoreError> {
        if let Some(hit) = self.verified.get(token) {
            if !hit.is_current(self.clock.now().timestamp()) {
                tracing::debug!("cached bearer token outside its validity window");
                return Err(CoreError::InvalidCredentials(Attempt::Lapsed));
            }
            self.check_not_revoked(&hit.jti)?;
            self.check_minting_key(&hit.key_id, &hit.subject).await?;
            return Ok(Access {
                subject: hit.subject,
                key_id: hit.key_id,
                scopes: hit.scopes,
            });
        }
        let generation = self.verified.generation();
        let (claims, access, jti) = self.check(token).await?;
        self.verified.insert(
            token,
            Verified {
                jti,
                subject: access.subject.clone(),
                key_id: access.key_id,
                scopes: access.scopes,
                nbf: claims.nbf,
                exp: claims.exp,
            },
            generation,
        );
        Ok(access)
    }
}
