//! Integration tests: the real router, the real AWS SDK code, DynamoDB Local
//! and moto over HTTP. Run them with `make test`, which starts the emulators.

mod accounts;
mod audit;
mod auth;
mod capacity;
mod csv;
mod deliveries;
mod dialects;
mod errors;
mod events;
mod external_scans;
mod fleet;
mod hardening;
mod harness;
mod idempotency;
mod limits;
mod listing;
mod logs;
mod onboarding;
mod organizations;
mod regional;
mod scans;
mod schedules;
mod search;
mod spec;
mod trust;
mod trust_depth;
mod webhooks;
