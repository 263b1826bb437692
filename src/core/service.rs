use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::administration::Writer;
use super::adminkey::{self, AdminPrincipal};
use super::apikey::{KeyHash, KeyId, PresentedKey};
use super::audit::{AuditEvent, Caller, Outcome, encode_batch};
use super::audit_trail::AuditTrail;
use super::clock::Clock;
use super::error::{Attempt, CoreError};
use super::keyring::{Keyring, SigningAlg};
use super::lifetime::Lifetime;
use super::observer::{Observer, Unobserved};
use super::ratelimit::{Allowance, FailureGate, Quota, RatePolicy};
use super::revocation::{RevocationList, kept_from};
use super::routes::{RouteTable, normalize};
use super::scope::{Catalogue, ScopeSet};
use super::store::KeyStore;
use super::token::{Claims, IssuedToken, TokenFormat, TokenSigner};
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
    /// What the key may grant, within its account's scopes.
    pub scopes: ScopeSet,
    /// Its account's quota, instead of the deployment's; `None`: the deployment's.
    pub rate_limit: Option<RatePolicy>,
    /// Its account's longest token lifetime, which every grant is shortened to.
    pub max_token_lifetime: Option<Lifetime>,
}

/// What a dialect asks to be put in a token.
#[derive(Debug, Clone)]
pub struct Grant {
    pub scopes: ScopeSet,
    pub lifetime: Lifetime,
    pub extra: Map<String, Value>,
    /// The `aud` asked for (an RFC 8707 resource the deployment allows); the default audience
    /// when `None`.
    pub audience: Option<String>,
}

impl Grant {
    /// A token that stands in for the key itself (OrigoID, Memoram): all the key may grant.
    pub fn key_authority(principal: &Principal, lifetime: Lifetime) -> Self {
        Self {
            scopes: principal.scopes,
            lifetime,
            extra: Map::new(),
            audience: None,
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

/// What came of a request to revoke a token (RFC 7009).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token is revoked (or already was): refused here at once, and by every instance
    /// within the change feed's delay, until it would have expired.
    Revoked {
        jti: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// Nothing to revoke: not a token this service would accept (malformed, forged, of another
    /// issuer, expired). RFC 7009 §2.2 answers it as a success.
    NotActive,
    /// A live token of another account: not the caller's to revoke (`unauthorized_client`).
    /// Nothing changed.
    OtherAccount,
}

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
    /// Revoked tokens, which the bearer verifier refuses.
    revocations: Arc<RevocationList>,
    /// Signing-key reloads, following the store's changes.
    key_reloads: ChangeFollower,
    /// Revocation-list reloads, following the store's changes.
    revocation_reloads: ChangeFollower,
    /// Held from a reload's read to its apply, one guard per kind: a reload that read before a
    /// change must not apply after the reload that read the change (the keyring would lose a
    /// new key, the list regain a pruned token, until the next change), and an explicit reload
    /// returns with the store's state as of its call.
    reloading_keys: tokio::sync::Mutex<()>,
    reloading_revocations: tokio::sync::Mutex<()>,
    /// How long a background store call may take before it is given up (and retried).
    write_deadline: std::time::Duration,
}

/// Where a reload that follows the store's change count stands: the count it last caught up
/// with, and when it may be tried again after a failure.
#[derive(Debug, Default)]
struct ChangeFollower {
    seen: AtomicU64,
    retry_at: Mutex<Option<std::time::Instant>>,
}

impl ChangeFollower {
    /// Whether the store announced a change since the last reload, and no back-off holds.
    fn due(&self, changes: u64) -> bool {
        if self.seen.load(Ordering::Relaxed) == changes {
            return false;
        }
        let retry_at = self.retry_at.lock().unwrap_or_else(|p| p.into_inner());
        retry_at.is_none_or(|at| std::time::Instant::now() >= at)
    }

    /// Marks `changes` seen once read: a failed reload is tried again after the back-off.
    fn reloaded(&self, changes: u64, read: bool) {
        if read {
            self.seen.store(changes, Ordering::Relaxed);
        } else {
            *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now() + RELOAD_BACKOFF);
        }
    }
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
        let revocations = Arc::new(RevocationList::new());
        Self {
            bearer: BearerVerifier::new(
                signer.clone(),
                store.clone(),
                clock.clone(),
                DEFAULT_TOKEN_CACHE,
                revocations.clone(),
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
                false,
            ),
            store,
            signer,
            limiter,
            clock,
            observer,
            failures: None,
            revocations,
            key_reloads: ChangeFollower::default(),
            revocation_reloads: ChangeFollower::default(),
            reloading_keys: tokio::sync::Mutex::new(()),
            reloading_revocations: tokio::sync::Mutex::new(()),
            write_deadline,
        }
    }

    /// How many verified bearer tokens to remember (0: check every one in full).
    pub fn with_token_cache(mut self, capacity: usize) -> Self {
        self.bearer = BearerVerifier::new(
            self.signer.clone(),
            self.store.clone(),
            self.clock.clone(),
            capacity,
            self.revocations.clone(),
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
        let (retention, durable) = (self.audit.retention(), self.audit.is_durable());
        self.rebuild_bookkeeping(retention, durable)
    }

    /// Deletes audit events older than `retention` at each [`AuditTrail::prune`].
    pub fn with_audit_retention(self, retention: Option<chrono::Duration>) -> Self {
        let durable = self.audit.is_durable();
        self.rebuild_bookkeeping(retention, durable)
    }

    /// Durable audit: a token, or a token revocation, is answered only once its event is
    /// committed ([`AuditTrail::commit`]); else its event is buffered and written within 50 ms.
    pub fn with_durable_audit(self, durable: bool) -> Self {
        let retention = self.audit.retention();
        self.rebuild_bookkeeping(retention, durable)
    }

    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        let (retention, durable) = (self.audit.retention(), self.audit.is_durable());
        self.rebuild_bookkeeping(retention, durable)
    }

    /// The audit trail and the usage log, made again with the current deadline and observer
    /// (only while the service is being configured: nothing is buffered yet).
    fn rebuild_bookkeeping(mut self, retention: Option<chrono::Duration>, durable: bool) -> Self {
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
            durable,
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
        self.pass_failure_gate(caller, claimed_key_id(credentials))?;
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

    /// Refuses a client address whose failed authentications are spent, before any credential
    /// is looked at, with an audit record naming the key it claimed.
    fn pass_failure_gate(&self, caller: &Caller, claimed: Option<KeyId>) -> Result<(), CoreError> {
        if let Some(ip) = caller.client_ip
            && let Some(gate) = &self.failures
            && let Err(limited) = gate.check(ip)
        {
            self.observer.rate_limited();
            let err = CoreError::RateLimited(limited);
            self.audit.refusal(caller, &err, None, claimed);
            return Err(err);
        }
        Ok(())
    }

    /// Decides which admin key is calling the admin API: an admin key as a bearer credential.
    /// Anything else (none, an account's API key, a token, a revoked admin key) is the same
    /// `InvalidCredentials`; failures count against the client address's failed-auth quota as
    /// token requests' do, and are recorded in the audit trail.
    pub async fn authenticate_admin(
        &self,
        caller: &Caller,
        credentials: &Credentials,
    ) -> Result<AdminPrincipal, CoreError> {
        let claimed = match credentials {
            Credentials::Bearer(candidate) => adminkey::claimed_id(candidate),
            _ => None,
        };
        self.pass_failure_gate(caller, claimed)?;
        let verified = match credentials {
            Credentials::Bearer(candidate) => adminkey::verify(&*self.store, candidate).await,
            // No bearer credential (none, an API key header, HTTP Basic): no admin key at all.
            _ => Err(CoreError::InvalidCredentials(Attempt::Absent)),
        };
        verified.inspect_err(|err| {
            self.note_failure(caller, err);
            self.audit.refusal(caller, err, None, claimed);
        })
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
            let _ = KeyHash::decoy().matches(&key.hash);
            tracing::debug!(key_id = %key.id, "unknown key id");
            return Err(CoreError::InvalidCredentials(Attempt::Guess));
        };
        if !stored.hash.matches(&key.hash) {
            tracing::debug!(key_id = %key.id, "wrong secret for the key id");
            return Err(CoreError::InvalidCredentials(Attempt::Guess));
        }
        // Revoked, past a rotation's grace period or expired: refused as an unknown key is.
        if !stored.works_at(self.clock.now()) {
            tracing::debug!(key_id = %key.id, "revoked or expired api key refused");
            return Err(CoreError::InvalidCredentials(Attempt::Lapsed));
        }
        // The answer an unknown key gets; not a guess, so the address's failures are not spent.
        if stored.settings.disabled {
            tracing::debug!(key_id = %key.id, "key of a disabled account refused");
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
        let settings = stored.settings;
        Ok(Principal {
            account: stored.account,
            key_id: stored.id,
            scopes: settings.grantable(stored.scopes, self.scopes().all()),
            rate_limit: settings.rate_limit,
            max_token_lifetime: settings.max_token_lifetime,
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
            .spend(&principal.account, principal.rate_limit)
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
    /// the audit trail; with durable audit the token is returned only once its event is
    /// committed, and not at all (`Unavailable`) if it could not be.
    pub async fn issue(
        &self,
        caller: &Caller,
        principal: &Principal,
        grant: Grant,
        format: TokenFormat,
    ) -> Result<IssuedToken, CoreError> {
        let owner = || (principal.account.clone(), principal.key_id);
        let issued = match self.sign(principal, grant, format) {
            Ok(issued) => issued,
            Err(err) => {
                self.audit.refusal(caller, &err, Some(&owner()), None);
                return Err(err);
            }
        };
        let event = AuditEvent {
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
            actor: None,
        };
        if let Err(err) = self.audit.commit(event).await {
            // The token never leaves: its request is refused, and that goes on record instead.
            self.audit.refusal(caller, &err, Some(&owner()), None);
            return Err(err);
        }
        self.observer.token_issued();
        Ok(issued)
    }

    fn sign(
        &self,
        principal: &Principal,
        grant: Grant,
        format: TokenFormat,
    ) -> Result<IssuedToken, CoreError> {
        let refused = grant.scopes.without(principal.scopes);
        if !refused.is_empty() {
            let names = self.scopes().names_of(refused).map(str::to_owned);
            return Err(CoreError::ScopeNotAllowed(names.collect()));
        }
        // Shortened rather than refused: every dialect's documented answers stay as they are.
        let lifetime = principal
            .max_token_lifetime
            .map_or(grant.lifetime, |max| grant.lifetime.min(max));
        self.signer
            .issue_as(
                format,
                grant.audience.as_deref(),
                &principal.account,
                &principal.key_id,
                grant.scopes,
                lifetime,
                &grant.extra,
                self.clock.now(),
            )
            .map_err(|err| CoreError::Internal(err.into()))
    }

    /// Reloads the key pairs of every asymmetric algorithm in use, so a rotation made by the
    /// CLI, or by another instance, is published and used here too. HS256 has none.
    /// Says whether every algorithm's keys were read (unchanged or not).
    pub async fn reload_signing_keys(&self, max_token_lifetime: chrono::Duration) -> bool {
        let _one_at_a_time = self.reloading_keys.lock().await;
        let mut read_all = true;
        let algs: Vec<_> = self.signer.keyring_algs().collect();
        for alg in algs {
            read_all &= self.reload_keyring(alg, max_token_lifetime).await;
        }
        read_all
    }

    async fn reload_keyring(&self, alg: SigningAlg, max_token_lifetime: chrono::Duration) -> bool {
        let read = tokio::time::timeout(self.write_deadline, self.first_or_stored_keys(alg)).await;
        let loaded = match read {
            Ok(Ok(records)) => Keyring::new(alg, records, max_token_lifetime),
            Ok(Err(err)) => {
                self.observer.store_write_failed("signing_keys");
                tracing::warn!(error = %err, %alg, "could not reload signing keys");
                return false;
            }
            Err(_) => {
                self.observer.store_write_failed("signing_keys");
                tracing::warn!(deadline = ?self.write_deadline, %alg, "reloading signing keys missed its deadline");
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
            Ok(_) => tracing::warn!(%alg, "no signing keys stored; keeping the loaded ones"),
            Err(err) => {
                tracing::error!(error = %err, %alg, "stored signing keys unusable; keeping the loaded ones")
            }
        }
        true
    }

    /// The stored key pairs of `alg`; if there are none and none was ever loaded here (the
    /// store was down when this instance started), the first is proposed, as at startup.
    async fn first_or_stored_keys(
        &self,
        alg: SigningAlg,
    ) -> Result<Vec<super::keyring::KeyPairRecord>, super::store::StoreError> {
        let records = self.store.signing_keys(alg).await?;
        if !records.is_empty() || self.signer.has_keys(alg) {
            return Ok(records);
        }
        let now = self.clock.now();
        match super::keyring::KeyPairRecord::generate(alg, now, now) {
            Ok(first) => self.store.add_first_signing_key(&first).await?,
            Err(err) => tracing::error!(error = %err, %alg, "could not make a first signing key"),
        }
        self.store.signing_keys(alg).await
    }

    /// Reloads the key pairs if the store announced a change since the last look: a key
    /// revoked or added anywhere is honoured here within the change feed's delay. Cheap when
    /// nothing changed (one atomic read), so it runs on every bookkeeping tick.
    pub async fn reload_signing_keys_on_change(&self, max_token_lifetime: chrono::Duration) {
        let changes = self.store.changes_seen();
        if self.key_reloads.due(changes) {
            let read = self.reload_signing_keys(max_token_lifetime).await;
            self.key_reloads.reloaded(changes, read);
        }
    }

    /// Revokes a bearer token of the principal's own account (RFC 7009): stored until it would
    /// have expired, refused here at once and by every instance once announced, and recorded in
    /// the audit trail. A token this service would not accept anyway is no error.
    pub async fn revoke_token(
        &self,
        caller: &Caller,
        principal: &Principal,
        token: &str,
    ) -> Result<Revocation, CoreError> {
        let now = self.clock.now();
        let Some((claims, jti, expires_at)) = self.revocable(token, now) else {
            return Ok(Revocation::NotActive);
        };
        let event = |outcome, reason| AuditEvent {
            at: now,
            dialect: Cow::Borrowed(caller.dialect),
            outcome,
            reason,
            account: Some(principal.account.clone()),
            key_id: Some(principal.key_id),
            scopes: None,
            jti: Some(jti),
            client_ip: caller.client_ip,
            count: 1,
            actor: None,
        };
        if claims.sub != *principal.account {
            tracing::debug!(%jti, "revocation of another account's token refused");
            self.audit.record(event(
                Outcome::Refused,
                Some(Cow::Borrowed("token_of_another_account")),
            ));
            return Ok(Revocation::OtherAccount);
        }
        if let Err(err) = self
            .store
            .revoke_token(jti, &principal.account, expires_at, now)
            .await
        {
            let err = CoreError::from(err);
            let owner = (principal.account.clone(), principal.key_id);
            self.audit.refusal(caller, &err, Some(&owner), None);
            return Err(err);
        }
        // Here at once; elsewhere when the store's announcement reaches each instance.
        self.revocations.revoke(jti, claims.exp);
        // With durable audit, a revocation not on record is answered 503, though it holds: a
        // retry finds it revoked already and records it again.
        if let Err(err) = self.audit.commit(event(Outcome::Revoked, None)).await {
            let owner = (principal.account.clone(), principal.key_id);
            self.audit.refusal(caller, &err, Some(&owner), None);
            return Err(err);
        }
        Ok(Revocation::Revoked { jti, expires_at })
    }

    /// A token this service would accept at `now`, with its `jti` and expiry: the only tokens
    /// worth revoking.
    fn revocable(&self, token: &str, now: DateTime<Utc>) -> Option<(Claims, Uuid, DateTime<Utc>)> {
        let claims = match self.signer.verify(token, now) {
            Ok(claims) => claims,
            Err(err) => {
                tracing::debug!(error = %err, "revocation of a token not accepted anyway");
                return None;
            }
        };
        // Tokens without a UUID `jti` are refused by the verifier: nothing to revoke.
        let jti = claims.jti.parse::<Uuid>().ok()?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0)?;
        Some((claims, jti, expires_at))
    }

    /// Revokes a token of any account, for an administrator (the admin API's revokeToken): as
    /// [`Self::revoke_token`] does, but on record before it is answered, with the admin key as
    /// its actor, as every administrator's change is.
    pub async fn revoke_any_token(
        &self,
        by: &Writer,
        token: &str,
    ) -> Result<Revocation, CoreError> {
        let now = self.clock.now();
        let Some((claims, jti, expires_at)) = self.revocable(token, now) else {
            return Ok(Revocation::NotActive);
        };
        self.store
            .revoke_token(jti, &claims.sub, expires_at, now)
            .await?;
        // Here at once; elsewhere when the store's announcement reaches each instance.
        self.revocations.revoke(jti, claims.exp);
        let actor = by.actor();
        let revoked = AuditEvent {
            at: now,
            dialect: Cow::Borrowed(actor.caller().dialect),
            outcome: Outcome::Revoked,
            reason: None,
            account: Some(Arc::from(claims.sub.as_str())),
            // The key that minted it.
            key_id: claims.key_id.parse().ok(),
            scopes: None,
            jti: Some(jti),
            client_ip: actor.caller().client_ip,
            count: 1,
            actor: actor.admin_key_id(),
        };
        let batch = encode_batch([&revoked], self.scopes());
        if let Err(err) = self.store.record_audit(&[batch]).await {
            tracing::error!(error = %err, "could not write an administrator's token revocation to the audit trail");
            // As at /oauth2/revoke: with durable audit, not on record is 503, though it holds.
            if self.audit.is_durable() {
                return Err(CoreError::Unavailable(err));
            }
        }
        Ok(Revocation::Revoked { jti, expires_at })
    }

    /// The revoked tokens this instance refuses.
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// Reads the revoked tokens that could still be presented from the store, into the
    /// revocation list, and forgets those that have expired. Says whether the store was read.
    pub async fn reload_revocations(&self) -> bool {
        let _one_at_a_time = self.reloading_revocations.lock().await;
        let now = self.clock.now();
        let read = tokio::time::timeout(
            self.write_deadline,
            self.store.revoked_tokens(kept_from(now)),
        )
        .await;
        match read {
            Ok(Ok(stored)) => {
                self.revocations.reload(stored, now);
                true
            }
            Ok(Err(err)) => {
                self.observer.store_write_failed("revocations");
                tracing::warn!(error = %err, "could not reload revoked tokens");
                false
            }
            Err(_) => {
                self.observer.store_write_failed("revocations");
                tracing::warn!(deadline = ?self.write_deadline, "reloading revoked tokens missed its deadline");
                false
            }
        }
    }

    /// Reloads the revocation list if the store announced a change since the last look: a
    /// token revoked through any instance is refused here within the change feed's delay.
    /// Cheap when nothing changed (one atomic read), so it runs on every bookkeeping tick.
    pub async fn reload_revocations_on_change(&self) {
        let changes = self.store.changes_seen();
        if self.revocation_reloads.due(changes) {
            let read = self.reload_revocations().await;
            self.revocation_reloads.reloaded(changes, read);
        }
    }

    /// Deletes the stored revocations of tokens that have expired; returns how many went.
    pub async fn prune_revoked_tokens(&self) -> u64 {
        let before = kept_from(self.clock.now());
        let pruned =
            tokio::time::timeout(self.write_deadline, self.store.prune_revoked_tokens(before))
                .await;
        match pruned {
            Ok(Ok(count)) => count,
            Ok(Err(err)) => {
                self.observer.store_write_failed("prune_revocations");
                tracing::warn!(error = %err, "could not prune revoked tokens; will retry");
                0
            }
            Err(_) => {
                self.observer.store_write_failed("prune_revocations");
                tracing::warn!(deadline = ?self.write_deadline, "pruning revoked tokens missed its deadline; will retry");
                0
            }
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
