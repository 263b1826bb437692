//! One integration test binary: each test spawns keymint on port 0 with a fresh database.

mod cli;
mod helpers;
mod openapi;
mod volubile;
