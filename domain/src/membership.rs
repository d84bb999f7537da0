//! An account's membership of its AWS Organization.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why an account left its organization.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum DepartureReason {
    /// AWS Organizations says SUSPENDED (or CLOSED).
    Suspended,
    /// AWS Organizations says PENDING_CLOSURE.
    PendingClosure,
    /// No longer in the organization.
    Removed,
    /// In the organization, but the organization's filters leave it out.
    FilteredOut,
}
