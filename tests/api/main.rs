//! One integration test binary: each test spawns keymint on port 0 with a fresh database.

mod admin;
mod admin_keys;
mod admin_operations;
mod adversarial;
mod audit;
mod audit_chain;
mod cli;
mod console;
mod dialects;
pub mod faults;
mod forward_auth;
mod helpers;
mod memoram;
pub mod nginx;
mod oauth;
mod openapi;
mod operations;
mod origoid;
mod propagation;
mod revocation;
mod scopes;
mod sealing;
mod shared_limits;
mod signing;
mod soak;
mod velt;
mod volubile;
