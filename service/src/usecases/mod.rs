//! Use cases: what a request or a job asks the service to do, written once
//! here so each entry point only parses, authorises, calls one of these and
//! maps the result. Each takes the clients it needs as narrow borrowed
//! parts, so a test can call it with the emulators' clients directly.

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod bulk;
pub mod deliveries;
pub mod external_scans;
pub mod import;
pub mod notify;
pub mod onboarding;
pub mod organizations;
pub mod quota;
pub mod role_checks;
pub mod scan_run;
pub mod scans;
pub mod settings;
pub mod suppression_rules;
pub mod sweep;
pub mod verification;
pub mod webhooks;

// Test support for the use cases above.
#[cfg(test)]
mod offline;
