//! The transport-free domain: keys, scopes, lifetimes, claims, signing, rate limits, the
//! administrator's operations and the clock.
//! Nothing here knows about HTTP or OpenAPI.

/// Account names.
pub mod account;
/// Creating accounts, rotating and revoking keys: the primitives of administration.
pub mod admin;
/// The administrator's operations, which the CLI and the admin API share: permissions, audit.
pub mod administration;
/// Admin keys: who may call the admin API.
pub mod adminkey;
/// Signing algorithms by their JOSE names.
pub mod alg;
/// API key strings: generation, parsing, checksum and hashing.
pub mod apikey;
/// The audit trail of token requests: events, batches, summaries.
pub mod audit;
/// Tamper evidence for the stored audit trail: a hash chain over its batches.
pub mod audit_chain;
/// The audit trail as the service keeps it: buffered, summarised, written, pruned.
pub mod audit_trail;
/// Time source, injectable so expiry and rate windows are testable without sleeping.
pub mod clock;
/// Envelope encryption of the signing secrets at rest, under master keys kept out of the store.
pub mod envelope;
/// The errors every dialect maps to its own documented body.
pub mod error;
/// Writing the claims and audit rows without a serializer pass per byte.
pub mod json;
/// Compact JWS signing and verification with keys parsed once.
pub mod jws;
/// Asymmetric signing keys: generation, rotation schedule, JWKS.
pub mod keyring;
/// Token lifetimes and their bounds.
pub mod lifetime;
/// What the core reports for metrics.
pub mod observer;
/// Per-account request quotas.
pub mod ratelimit;
/// Bearer tokens revoked before their expiry, by `jti`.
pub mod revocation;
/// A key's name and expiry, and rotating a slot's key with a grace period.
pub mod rotation;
/// The route → scope table and request-path normalisation.
pub mod routes;
/// The scope vocabulary tokens are granted from.
pub mod scope;
/// Authenticating callers and issuing tokens: the one service every dialect calls.
pub mod service;
/// An account's settings: scopes, quota, longest token lifetime, disabled.
pub mod settings;
/// Key slots: each account holds a primary and a secondary key.
pub mod slot;
/// The store port: the trait, records and errors `crate::store` implements.
pub mod store;
/// JWT claims, signing and verification.
pub mod token;
/// Bearer tokens already verified, for forward-auth.
pub mod token_cache;
/// Keys' last-used times, batched.
pub mod usage;
/// Bearer tokens as credentials: checked in full, remembered once checked.
pub mod verifier;

pub use error::{Attempt, CoreError};
