//! What an entry point runs on: its one typed configuration and the
//! composition root that builds every client from it ([`config`]),
//! and logging ([`telemetry`]). Where a request came from is the store's
//! (`aws::store::origin`): it stamps what the request writes.

pub mod config;
pub mod telemetry;
