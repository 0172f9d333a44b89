//! Test support, for this crate's tests, its integration tests and its benchmark only (the
//! `test-support` feature, which the crate's own dev-dependency on itself turns on): never in
//! the server a deployment runs.

pub mod hooked_store;
pub mod pg_sandbox;
pub mod server_process;
