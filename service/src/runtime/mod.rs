//! What an entry point runs on: its one typed configuration and the
//! composition root that builds every client from it ([`config`]),
//! logging ([`telemetry`]), and where a request came from ([`origin`]).

pub mod config;
pub mod origin;
pub mod telemetry;
