//! Who made a change, when no API key or onboarding link did: the names
//! the background workers write as `updated_by` and as events' actor.

/// The actor of changes the verifier makes.
pub const VERIFIER: &str = "system:verifier";
/// The actor of changes the scan worker makes.
pub const SCAN_WORKER: &str = "system:scan-worker";
/// The actor of changes an organization's sync makes.
pub const ORGANIZATION_SYNC: &str = "system:organization-sync";
/// The actor of changes the sender makes (disabling an endpoint).
pub const WEBHOOK_SENDER: &str = "system:webhook-sender";
