//! The domain: the rules of onboarding and keeping customer AWS accounts,
//! written so that no AWS call can be made from here (this crate depends
//! on no AWS SDK and no async runtime). Use cases (`service::usecases`)
//! orchestrate these rules with the adapters (`service::aws`: the store, the STS/IAM
//! verifier, the queues), which are the only code that calls AWS.

pub mod access;
pub mod account;
pub mod actors;
pub mod api_key;
pub mod crypto;
pub mod csv_io;
pub mod enrolment;
pub mod error;
pub mod events;
pub mod glob;
pub mod idempotency;
pub mod ids;
pub mod listing;
pub mod membership;
pub mod onboarding;
pub mod organizations;
pub mod packing;
pub mod partitions;
pub mod permissions;
pub mod products;
pub mod regions;
pub mod role_template;
pub mod scanner;
pub mod scans;
pub mod schedule;
pub mod search;
pub mod suppression_rules;
pub mod tenant;
pub mod time;
pub mod trust;
pub mod trust_lint;
pub mod validation;
pub mod webhooks;

pub use error::{Error, Result};
