//! keymint: exchanges long-lived API keys for short-lived, scoped JWT bearer tokens, speaking
//! several public token APIs ("dialects") from one core.

/// HTTP adapters, one per dialect, plus documents and Swagger UI.
pub mod api;
/// The command line and its options.
pub mod cli;
/// The operator commands behind `accounts`, `keys`, `admin-keys` and the others.
pub mod commands;
/// The domain: keys, scopes, lifetimes, signing, quotas, clock.
pub mod core;
/// Prometheus metrics, registered on an injected registry.
pub mod metrics;
/// Per-account quotas shared through Redis.
pub mod redis_quota;
/// Building and running the HTTP server.
pub mod startup;
/// Persistence behind one trait.
pub mod store;
/// Log setup.
pub mod telemetry;
