//! The model crate: domain types, validation, errors and the DynamoDB
//! repository shared by the API, the scan worker, the verifier and the tools.
//!
//! Handlers stay thin: they parse, authorise, call into this crate, and map
//! its [`Error`] to HTTP in one place.

pub mod access;
pub mod account;
pub mod api_key;
pub mod aws_errors;
pub mod bus;
pub mod config;
pub mod crypto;
pub mod csv_io;
pub mod deliveries;
pub mod discovery;
pub mod enrolment;
pub mod error;
pub mod events;
pub mod glob;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod listing;
pub mod onboarding;
pub mod organizations;
pub mod origin;
pub mod packing;
pub mod partitions;
pub mod permissions;
pub mod provisioning;
pub mod regions;
pub mod role_template;
pub mod scanner;
pub mod scans;
pub mod schedule;
pub mod search;
pub mod sqs_pump;
pub mod store;
pub mod stream;
pub mod suppression_rules;
pub mod telemetry;
pub mod tenant;
pub mod time;
pub mod trust_lint;
pub mod usecases;
pub mod validation;
pub mod verification;
pub mod webhooks;

pub use error::{Error, Result};
