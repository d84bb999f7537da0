//! The domain: the rules of onboarding and keeping customer AWS accounts,
//! written so that no AWS call can be made from here (this crate depends
//! on no AWS SDK and no async runtime). Use cases (`model::usecases`)
//! orchestrate these rules with the adapters (`model::store`, the STS/IAM
//! verifier, the queues), which are the only code that calls AWS.

pub mod actors;
pub mod api_key;
pub mod crypto;
pub mod error;
pub mod events;
pub mod glob;
pub mod idempotency;
pub mod ids;
pub mod membership;
pub mod packing;
pub mod partitions;
pub mod permissions;
pub mod regions;
pub mod role_template;
pub mod schedule;
pub mod tenant;
pub mod time;
pub mod trust;
pub mod trust_lint;
pub mod validation;

pub use error::{Error, Result};
