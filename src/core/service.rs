use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Map, Value};

use super::apikey::{KeyHash, KeyId, PresentedKey};
use super::audit::{AuditEvent, Caller, Outcome};
use super::audit_trail::AuditTrail;
use super::clock::Clock;
use super::error::{Attempt, CoreError};
use super::keyring::Keyring;
use super::lifetime::Lifetime;
use super::observer::{Observer, Unobserved};
use super::ratelimit::{Allowance, FailureGate, Quota};
use super::routes::{RouteTable, normalize};
use super::scope::{Catalogue, ScopeSet};
use super::store::KeyStore;
use super::token::{IssuedToken, TokenSigner};
use super::usage::UsageLog;
pub use super::verifier::Access;
use super::verifier::BearerVerifier;

/// Credentials as a transport found them, not yet checked.
#[derive(Clone)]
pub enum Credentials {
    /// No credentials at all.
    Missing,
    /// The whole API key (a key header, or a body field).
    ApiKey(String),
    /// Key id and key given apart (HTTP Basic, Velt's body); the id must match the key's own.
    IdAndKey { id: String, key: String },
    /// A bearer token, which may prove who the caller is but can never mint a token.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Missing => "Missing",
            Credentials::ApiKey(_) => "ApiKey([redacted])",
            Credentials::IdAndKey { .. } => "IdAndKey([redacted])",
            Credentials::Bearer(_) => "Bearer([redacted])",
        })
    }
}

/// A caller whose API key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: Arc<str>,
    pub key_id: KeyId,
    /// What the key may grant.
    pub scopes: ScopeSet,
}

/// What a dialect asks to be put in a token.
#[derive(Debug, Clone)]
pub struct Grant {
    pub scopes: ScopeSet,
    pub lifetime: Lifetime,
    pub extra: Map<String, Value>,
}

impl Grant {
    /// A token that stands in for the key itself (OrigoID, Memoram): all the key may grant.
    pub fn key_authority(principal: &Principal, lifetime: Lifetime) -> Self {
        Self {
            scopes: principal.scopes,
            lifetime,
            extra: Map::new(),
        }
    }
}

/// Why forward-auth refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// No credentials, or none that hold (bad, expired, or minted by a key since rotated).
    #[error("not authenticated")]
    Unauthenticated,
    /// Authenticated, but the route needs a scope (named) the caller does not hold.
    #[error("the route needs scope {0}")]
    InsufficientScope(String),
    /// The route is not in the table, or its path cannot be matched safely.
    #[error("the route is not allowed")]
    NotAllowed,
}

/// Compared against when the key id is unknown, so unknown and wrong keys cost the same.
static DECOY: LazyLock<KeyHash> =
    LazyLock::new(|| KeyHash::from_bytes(&[0u8; 32]).expect("32 bytes make a hash"));

/// The one service behind every dialect: checks keys, applies quotas, signs tokens.
#[derive(Debug)]
pub struct TokenService {
    store: Arc<dyn KeyStore>,
    signer: Arc<TokenSigner>,
    limiter: Box<dyn Quota>,
    clock: Arc<dyn Clock>,
    usage: UsageLog,
    audit: AuditTrail,
    observer: Arc<dyn Observer>,
    failures: Option<FailureGate>,
    bearer: BearerVerifier,
    /// The store's change count when the signing keys were last reloaded.
    keys_seen: AtomicU64,
    /// How long a background store call may take before it is given up (and retried).
    write_deadline: std::time::Duration,
    /// When a change-driven signing-key reload may be tried again after a failure.
    reload_retry_at: Mutex<Option<std::time::Instant>>,
}

/// Verified bearer tokens kept for forward-auth by default (some 4 MB with tokens of the usual
/// size; 80 MB if every one were the longest accepted, 8 KiB).
pub const DEFAULT_TOKEN_CACHE: usize = 10_000;

/// After a failed signing-key reload, change-driven reloads pause this long (the periodic
/// reload goes on), so that a lasting failure is not retried, and logged, every tick.
const RELOAD_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Added to the store timeout for the deadline of background store calls.
const WRITE_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The key id a credential names, if it is readable: for the audit trail of refusals.
fn claimed_key_id(credentials: &Credentials) -> Option<KeyId> {
    match credentials {
        Credentials::ApiKey(raw) => PresentedKey::id_of(raw).ok(),
        Credentials::IdAndKey { id, .. } => id.parse::<KeyId>().ok(),
        Credentials::Missing | Credentials::Bearer(_) => None,
    }
}

impl TokenService {
    pub fn new(
        store: Arc<dyn KeyStore>,
        signer: TokenSigner,
        limiter: Box<dyn Quota>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let observer: Arc<dyn Observer> = Arc::new(Unobserved);
        let write_deadline = super::store::DEFAULT_STORE_TIMEOUT + WRITE_DEADLINE_MARGIN;
        let signer = Arc::new(signer);
        Self {
            bearer: BearerVerifier::new(
                signer.clone(),
                store.clone(),
                clock.clone(),
                DEFAULT_TOKEN_CACHE,
            ),
            usage: UsageLog::new(
                store.clone(),
                clock.clone(),
                observer.clone(),
                write_deadline,
            ),
            audit: AuditTrail::new(
                store.clone(),
                clock.clone(),
                observer.clone(),
                write_deadline,
                None,
                signer.authority().scopes.clone(),
            ),
            store,
            signer,
            limiter,
            clock,
            observer,
            failures: None,
            keys_seen: AtomicU64::new(0),
            write_deadline,
            reload_retry_at: Mutex::new(None),
        }
    }

    /// How many verified bearer tokens to remember (0: check every one in full).
    pub fn with_token_cache(mut self, capacity: usize) -> Self {
        self.bearer = BearerVerifier::new(
            self.signer.clone(),
            self.store.clone(),
            self.clock.clone(),
            capacity,
        );
        self
    }

    /// Turns on the per-client-address limit on failed authentications.
    pub fn with_failure_gate(mut self, gate: FailureGate) -> Self {
        self.failures = Some(gate);
        self
    }

    /// Background store calls are given up after `timeout` (plus a margin, so that the
    /// database's own deadline, where it has one, answers first).
    pub fn with_store_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.write_deadline = timeout + WRITE_DEADLINE_MARGIN;
        let retention = self.audit.retention();
        self.rebuild_bookkeeping(retention)
    }

    /// Deletes audit events older than `retention` at each [`AuditTrail::prune`].
    pub fn with_audit_retention(self, retention: Option<chrono::Duration>) -> Self {
        self.rebuild_bookkeeping(retention)
    }

    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        let retention = self.audit.retention();
        self.rebuild_bookkeeping(retention)
    }

    /// The audit trail and the usage log, made again with the current deadline and observer
    /// (only while the service is being configured: nothing is buffered yet).
    fn rebuild_bookkeeping(mut self, retention: Option<chrono::Duration>) -> Self {
        let (store, clock, observer) = (&self.store, &self.clock, &self.observer);
        self.usage = UsageLog::new(
            store.clone(),
            clock.clone(),
            observer.clone(),
            self.write_deadline,
        );
        self.audit = AuditTrail::new(
            store.clone(),
            clock.clone(),
            observer.clone(),
            self.write_deadline,
            retention,
            self.signer.authority().scopes.clone(),
        );
        self
    }

    /// The audit trail: buffered events, written by the bookkeeping task.
    pub fn audit(&self) -> &AuditTrail {
        &self.audit
    }

    /// Keys' last-used times, written by the bookkeeping task.
    pub fn usage(&self) -> &UsageLog {
        &self.usage
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The deployment's scope catalogue: the names behind every [`ScopeSet`] this service
    /// hands out or takes.
    pub fn scopes(&self) -> &Arc<Catalogue> {
        &self.signer.authority().scopes
    }

    /// Decides who is asking for a token, and records a refusal in the audit trail. Every
    /// failure of an API key, whatever its cause, is the same `InvalidCredentials`.
    pub async fn authenticate(
        &self,
        caller: &Caller,
        credentials: &Credentials,
    ) -> Result<Principal, CoreError> {
        if let Some(ip) = caller.client_ip
            && let Some(gate) = &self.failures
            && let Err(limited) = gate.check(ip)
        {
            self.observer.rate_limited();
            let err = CoreError::RateLimited(limited);
            self.audit
                .refusal(caller, &err, None, claimed_key_id(credentials));
            return Err(err);
        }
        match self.identify(credentials).await {
            Ok(principal) => Ok(principal),
            Err(err) => {
                self.note_failure(caller, &err);
                let claimed = claimed_key_id(credentials);
                // A real key id with the wrong secret is an attack on that account: say whose.
                let owner = match (&err, claimed) {
                    (CoreError::InvalidCredentials(_), Some(id)) => {
                        self.store.find_key(&id).await.ok().flatten()
                    }
                    _ => None,
                };
                let owner = owner.map(|key| (key.account, key.id));
                self.audit.refusal(caller, &err, owner.as_ref(), claimed);
                Err(err)
            }
        }
    }

    /// A failed authentication that could be a guess spends from the client address's failure
    /// quota; absent credentials, expired tokens and rotated keys never do ([`Attempt`]).
    fn note_failure(&self, caller: &Caller, err: &CoreError) {
        if let (CoreError::InvalidCredentials(attempt), Some(ip), Some(gate)) =
            (err, caller.client_ip, &self.failures)
            && attempt.counts()
        {
            gate.record_failure(ip);
        }
    }

    /// Decides who is calling, without an audit record (forward-auth, introspection).
    pub async fn identify(&self, credentials: &Credentials) -> Result<Principal, CoreError> {
        match credentials {
            Credentials::Missing => Err(CoreError::InvalidCredentials(Attempt::Absent)),
            Credentials::ApiKey(key) => self.check_key(key, None).await,
            Credentials::IdAndKey { id, key } => self.check_key(key, Some(id)).await,
            Credentials::Bearer(token) => Err(self.bearer.refusal(token)),
        }
    }

    /// Refuses a bearer token offered to mint a token, with an audit record.
    pub fn refuse_bearer(&self, caller: &Caller, token: &str) -> CoreError {
        let err = self.bearer.refusal(token);
        self.note_failure(caller, &err);
        self.audit.refusal(caller, &err, None, None);
        err
    }

    async fn check_key(
        &self,
        raw: &str,
        expected_id: Option<&str>,
    ) -> Result<Principal, CoreError> {
        let key = PresentedKey::parse(raw).map_err(|err| {
            tracing::debug!(error = %err, "api key refused before lookup");
            CoreError::InvalidCredentials(Attempt::Guess)
        })?;
        if expected_id.is_some_and(|id| id != key.id.as_str()) {
            tracing::debug!(key_id = %key.id, "key id does not match the key");
            return Err(CoreError::InvalidCredentials(Attempt::Guess));
        }
        let Some(stored) = self.store.find_key(&key.id).await? else {
            let _ = DECOY.matches(&key.hash);
            tracing::debug!(key_id = %key.id, "unknown key id");
            return Err(CoreError::InvalidCredentials(Attempt::Guess));
        };
        if !stored.hash.matches(&key.hash) {
            tracing::debug!(key_id = %key.id, "wrong secret for the key id");
            return Err(CoreError::InvalidCredentials(Attempt::Guess));
        }
        if stored.revoked {
            tracing::debug!(key_id = %key.id, "revoked api key refused");
            return Err(CoreError::InvalidCredentials(Attempt::Lapsed));
        }
        // Checked last, so that a wrong secret for a cached key is refused (and counted) even
        // while the change feed is down: only a key that checks out waits for it.
        if !self.store.is_current() {
            // A rotation may have gone unnoticed: no new token on the strength of a cached key.
            return Err(CoreError::Unavailable(
                super::store::StoreError::ChangesUnknown,
            ));
        }
        self.usage.note(&stored.id);
        Ok(Principal {
            account: stored.account,
            key_id: stored.id,
            scopes: stored.scopes.unwrap_or_else(|| self.scopes().all()),
        })
    }

    /// Checks a bearer token in full (introspection): see [`BearerVerifier::verify`].
    pub async fn verify_token(
        &self,
        token: &str,
    ) -> Result<(super::token::Claims, Access), CoreError> {
        self.bearer.verify(token).await
    }

    /// Who a caller of a protected route is: a bearer token's holder, or an API key's account.
    pub async fn access(&self, credentials: &Credentials) -> Result<Access, CoreError> {
        match credentials {
            Credentials::Bearer(token) => self.bearer.access(token).await,
            other => self.identify(other).await.map(|principal| Access {
                subject: principal.account,
                key_id: principal.key_id,
                scopes: principal.scopes,
            }),
        }
    }

    /// Forward-auth: may these credentials call `method target` upstream? Unlisted routes and
    /// paths that cannot be matched safely are denied; a store outage denies too (fail closed).
    pub async fn authorize(
        &self,
        caller: &Caller,
        credentials: &Credentials,
        method: &str,
        target: &str,
        routes: &RouteTable,
    ) -> Result<Access, Denial> {
        // A client address whose failures are spent is not even looked at (no 429 here:
        // gateways take only 200, 401 and 403).
        if let (Some(ip), Some(gate)) = (caller.client_ip, &self.failures)
            && gate.check(ip).is_err()
        {
            return Err(Denial::Unauthenticated);
        }
        let access = self.access(credentials).await.map_err(|err| {
            if let CoreError::Unavailable(_) | CoreError::Internal(_) = err {
                tracing::error!(error = %err, "forward-auth could not check credentials");
            }
            self.note_failure(caller, &err);
            Denial::Unauthenticated
        })?;
        let path = normalize(target).map_err(|_| Denial::NotAllowed)?;
        let route = routes.lookup(method, &path).ok_or(Denial::NotAllowed)?;
        debug_assert_eq!(
            routes.scopes(),
            self.scopes(),
            "one catalogue for routes and tokens"
        );
        if access.scopes.contains(route.scope) {
            Ok(access)
        } else {
            Err(Denial::InsufficientScope(
                routes.scopes().name(route.scope).to_owned(),
            ))
        }
    }

    /// Counts the request against the caller's account quota.
    pub async fn admit(
        &self,
        caller: &Caller,
        principal: &Principal,
    ) -> Result<Allowance, CoreError> {
        self.limiter
            .spend(&principal.account)
            .await
            .map_err(|limited| {
                self.observer.rate_limited();
                let err = CoreError::RateLimited(limited);
                let owner = (principal.account.clone(), principal.key_id);
                self.audit.refusal(caller, &err, Some(&owner), None);
                err
            })
    }

    /// Signs a token; every requested scope must be one the key may grant. Both outcomes go to
    /// the audit trail.
    pub fn issue(
        &self,
        caller: &Caller,
        principal: &Principal,
        grant: Grant,
    ) -> Result<IssuedToken, CoreError> {
        let result = self.sign(principal, grant);
        match &result {
            Ok(issued) => self.audit.record(AuditEvent {
                at: self.clock.now(),
                dialect: Cow::Borrowed(caller.dialect),
                outcome: Outcome::Issued,
                reason: None,
                account: Some(principal.account.clone()),
                key_id: Some(principal.key_id),
                scopes: Some(issued.scopes),
                jti: Some(issued.jti),
                client_ip: caller.client_ip,
                count: 1,
            }),
            Err(err) => {
                let owner = (principal.account.clone(), principal.key_id);
                self.audit.refusal(caller, err, Some(&owner), None);
            }
        }
        result
    }

    fn sign(&self, principal: &Principal, grant: Grant) -> Result<IssuedToken, CoreError> {
        let refused = grant.scopes.without(principal.scopes);
        if !refused.is_empty() {
            let names = self.scopes().names_of(refused).map(str::to_owned);
            return Err(CoreError::ScopeNotAllowed(names.collect()));
        }
        self.signer
            .issue(
                &principal.account,
                &principal.key_id,
                grant.scopes,
                grant.lifetime,
                &grant.extra,
                self.clock.now(),
            )
            .inspect(|_| self.observer.token_issued())
            .map_err(|err| CoreError::Internal(err.into()))
    }

    /// Reloads the key pairs (ES256/EdDSA/RS256), so a rotation made by the CLI, or by another
    /// instance, is published and used here too. A no-op for HS256.
    /// Says whether the keys were read (unchanged or not).
    pub async fn reload_signing_keys(&self, max_token_lifetime: chrono::Duration) -> bool {
        let alg = self.signer.alg();
        if !alg.is_asymmetric() {
            return true;
        }
        let read = tokio::time::timeout(self.write_deadline, self.store.signing_keys(alg)).await;
        let loaded = match read {
            Ok(Ok(records)) => Keyring::new(alg, records, max_token_lifetime),
            Ok(Err(err)) => {
                self.observer.store_write_failed("signing_keys");
                tracing::warn!(error = %err, "could not reload signing keys");
                return false;
            }
            Err(_) => {
                self.observer.store_write_failed("signing_keys");
                tracing::warn!(deadline = ?self.write_deadline, "reloading signing keys missed its deadline");
                return false;
            }
        };
        match loaded {
            Ok(ring) if !ring.is_empty() => {
                if self.signer.replace_keyring(ring) {
                    // A key may have been retired: its tokens must be checked again.
                    self.bearer.forget_all();
                }
            }
            Ok(_) => tracing::warn!("no signing keys stored; keeping the loaded ones"),
            Err(err) => {
                tracing::error!(error = %err, "stored signing keys unusable; keeping the loaded ones")
            }
        }
        true
    }

    /// Reloads the key pairs if the store announced a change since the last look: a key
    /// revoked or added anywhere is honoured here within the change feed's delay. Cheap when
    /// nothing changed (one atomic read), so it runs on every bookkeeping tick.
    pub async fn reload_signing_keys_on_change(&self, max_token_lifetime: chrono::Duration) {
        let seen = self.store.changes_seen();
        if self.keys_seen.load(Ordering::Relaxed) == seen {
            return;
        }
        let now = std::time::Instant::now();
        let backing_off = {
            let retry_at = self
                .reload_retry_at
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            retry_at.is_some_and(|at| now < at)
        };
        if backing_off {
            return;
        }
        // Marked seen only once read: a failed reload is tried again after the back-off.
        if self.reload_signing_keys(max_token_lifetime).await {
            self.keys_seen.store(seen, Ordering::Relaxed);
        } else {
            *self
                .reload_retry_at
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(now + RELOAD_BACKOFF);
        }
    }

    /// Lets the limiter forget accounts that have been quiet.
    pub fn housekeeping(&self) {
        self.limiter.forget_idle();
        if let Some(gate) = &self.failures {
            gate.forget_idle();
        }
    }
}
