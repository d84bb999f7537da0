//! The model crate: domain types, validation, errors and the DynamoDB
//! repository shared by the API, the scan worker, the verifier and the tools.
//!
//! Handlers stay thin: they parse, authorise, call into this crate, and map
//! its [`Error`] to HTTP in one place.

pub mod access;
pub mod account;
pub mod aws_errors;
pub mod bus;
pub mod changes;
pub mod codec;
pub mod config;
pub mod csv_io;
pub mod deliveries;
pub mod discovery;
pub mod enrolment;
pub mod jobs;
pub mod listing;
pub mod onboarding;
pub mod organizations;
pub mod origin;
pub mod provisioning;
pub mod scanner;
pub mod scans;
pub mod search;
pub mod sqs_pump;
pub mod store;
pub mod stream;
pub mod suppression_rules;
pub mod telemetry;
pub mod usecases;
pub mod verification;
pub mod webhooks;

// The domain's modules, under the paths they had when they lived here.
pub use domain::{
    actors, api_key, crypto, error, events, glob, idempotency, ids, packing, partitions,
    permissions, regions, role_template, schedule, tenant, time, trust, trust_lint, validation,
};
pub use error::{Error, Result};
