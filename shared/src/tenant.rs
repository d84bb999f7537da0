//! A tenant's own settings (`GET/PUT /v1/settings`, scope `admin`).

use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Longest external-ID lifetime a tenant may set: ten years.
const MAX_AGE_DAYS: u32 = 3650;

/// The tenant's rotation policy, kept on its tenant item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Days an external ID stays in force before its account shows
    /// `rotation_due`; absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub external_id_max_age_days: Option<u32>,
    /// Start the rotation of a verified account past that age by itself: a
    /// pending external ID is put in place, and the two-phase rotation
    /// completes when the customer's role accepts it.
    #[serde(default)]
    pub auto_rotate_external_id: bool,
}

impl TenantSettings {
    pub fn validate(&self) -> Result<()> {
        if let Some(days) = self.external_id_max_age_days {
            if !(1..=MAX_AGE_DAYS).contains(&days) {
                return Err(Error::invalid(
                    "external_id_max_age_days",
                    format!("give 1-{MAX_AGE_DAYS} days, or leave it out for no limit"),
                ));
            }
        }
        if self.auto_rotate_external_id && self.external_id_max_age_days.is_none() {
            return Err(Error::invalid(
                "auto_rotate_external_id",
                "automatic rotation needs external_id_max_age_days: set both",
            ));
        }
        Ok(())
    }

    /// Whether an external ID in force since `since` is past its age at `now`.
    pub fn rotation_due(&self, since: Timestamp, now: Timestamp) -> bool {
        self.external_id_max_age_days
            .is_some_and(|days| since.plus(Duration::from_secs(u64::from(days) * 86_400)) <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_validation() {
        let policy = TenantSettings {
            external_id_max_age_days: Some(90),
            auto_rotate_external_id: true,
        };
        assert!(policy.validate().is_ok());
        let since = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert!(!policy.rotation_due(since, Timestamp::parse("2026-03-31T23:59:59Z").unwrap()));
        assert!(policy.rotation_due(since, Timestamp::parse("2026-04-01T00:00:00Z").unwrap()));
        assert!(!TenantSettings::default().rotation_due(since, Timestamp::now()));
        let auto_only = TenantSettings {
            external_id_max_age_days: None,
            auto_rotate_external_id: true,
        };
        assert!(auto_only.validate().is_err());
        let zero = TenantSettings {
            external_id_max_age_days: Some(0),
            auto_rotate_external_id: false,
        };
        assert!(zero.validate().is_err());
    }
}
