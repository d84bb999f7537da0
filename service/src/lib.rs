//! The service: what the API and the workers do, on what.
//!
//! - [`usecases`]: one function per thing a caller asks (register an
//!   account, verify a role, run a scan, deliver a webhook); they apply the
//!   `domain` crate's rules and call the adapters;
//! - [`aws`]: the adapters, the only code that calls AWS;
//! - [`runtime`]: configuration, the composition root, telemetry.
//!
//! Entry points stay thin: they parse, authorise, call one use case, and
//! map its [`Error`] to HTTP in one place.

pub mod aws;
pub mod runtime;
pub mod usecases;

// The domain's modules, also under this crate's name: a use case and its
// caller name one crate.
pub use domain::{
    access, account, actors, api_key, crypto, csv_io, enrolment, error, events, glob, idempotency,
    ids, listing, onboarding, organizations, packing, partitions, permissions, products, regions,
    role_template, scanner, scans, schedule, search, suppression_rules, tenant, time, trust,
    trust_lint, validation, webhooks,
};
pub use error::{Error, Result};
