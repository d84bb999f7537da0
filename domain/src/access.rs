//! The access ledger: every AssumeRole the service makes in a customer's
//! account, named so the customer can match it to their CloudTrail.
//!
//! Each call is one operation with its own id, which is also the
//! session's `RoleSessionName`; `SourceIdentity` names the tenant and the
//! service, and AWS carries it into every event of the session (and of
//! any session chained from it), so the customer's trail shows on whose
//! behalf the vendor acted.

// The ledger and the account know each other: an account's credential
// keeps its recent sessions, and the ledger is read from an account's
// changes. One business area (an account's trust), so the loop stays.
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;

/// Why the service assumed a customer's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessPurpose {
    /// Verification: AssumeRole with the account's external ID.
    Verification,
    /// Verification's probe without an external ID (must be refused).
    ProbeWithoutExternalId,
    /// Verification's probe with a random wrong external ID (must be refused).
    ProbeWrongExternalId,
    /// A scan's session.
    Scan,
    /// An organization's sync, in its management account.
    OrganizationSync,
}

impl AccessPurpose {
    /// The operation id's prefix: short, so the id fits a session name.
    fn prefix(self) -> &'static str {
        match self {
            AccessPurpose::Verification => "verify",
            AccessPurpose::ProbeWithoutExternalId => "probe-none",
            AccessPurpose::ProbeWrongExternalId => "probe-wrong",
            AccessPurpose::Scan => "scan",
            AccessPurpose::OrganizationSync => "orgsync",
        }
    }
}

/// How an AssumeRole call ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionOutcome {
    /// STS issued a session.
    Issued,
    /// STS refused (AccessDenied): expected of a probe.
    Denied,
    Throttled,
    TimedOut,
    Failed,
}

/// One AssumeRole call, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessRecord {
    pub at: Timestamp,
    pub purpose: AccessPurpose,
    /// Unique per call; equal to `session_name`.
    pub operation_id: String,
    /// The `RoleSessionName`, as CloudTrail's `requestParameters.roleSessionName`.
    pub session_name: String,
    /// The `SourceIdentity`, as CloudTrail's `requestParameters.sourceIdentity`.
    pub source_identity: String,
    pub role_arn: String,
    /// The session's lifetime asked for, in seconds.
    pub duration_seconds: u32,
    pub outcome: SessionOutcome,
    /// The scan or organization the session served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What one AssumeRole call says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub purpose: AccessPurpose,
    pub operation_id: String,
    pub source_identity: String,
    pub reference: Option<String>,
}

impl SessionRequest {
    /// A new operation for `tenant` through `service`.
    pub fn new(purpose: AccessPurpose, service: &str, tenant: &str) -> Self {
        SessionRequest {
            purpose,
            operation_id: operation_id(purpose),
            source_identity: source_identity(service, tenant),
            reference: None,
        }
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// The ledger's record of this call, ended with `outcome`.
    pub fn record(
        &self,
        at: Timestamp,
        role_arn: &str,
        duration_seconds: u32,
        outcome: SessionOutcome,
    ) -> AccessRecord {
        AccessRecord {
            at,
            purpose: self.purpose,
            operation_id: self.operation_id.clone(),
            session_name: self.operation_id.clone(),
            source_identity: self.source_identity.clone(),
            role_arn: role_arn.to_string(),
            duration_seconds,
            outcome,
            reference: self.reference.clone(),
        }
    }
}

/// `<prefix>-<ULID>`: at most 38 characters of `[a-z0-9-]`, within the
/// 2-64 characters `RoleSessionName` allows.
pub fn operation_id(purpose: AccessPurpose) -> String {
    format!(
        "{}-{}",
        purpose.prefix(),
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// Longest `SourceIdentity` STS accepts.
const MAX_SOURCE_IDENTITY: usize = 64;

/// `<tenant>@<service>`. Tenants are `[a-z0-9-]{1,63}` and services
/// `[a-z0-9-]`, so only the length can be out of bounds: a tenant too long
/// for the room left keeps its start and gains 8 hex digits of its hash,
/// which keeps identities of different tenants apart.
pub fn source_identity(service: &str, tenant: &str) -> String {
    let full = format!("{tenant}@{service}");
    if full.len() <= MAX_SOURCE_IDENTITY {
        return full;
    }
    let hash = hex::encode(&sha2::Sha256::digest(tenant.as_bytes())[..4]);
    let room = MAX_SOURCE_IDENTITY.saturating_sub(service.len() + 1 + 1 + hash.len());
    let start: String = tenant.chars().take(room).collect();
    format!("{start}={hash}@{service}")
}

/// One verification, as the account's history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerificationRecord {
    pub at: Timestamp,
    pub status: crate::trust::VerificationStatus,
    pub code: crate::trust::VerificationCode,
    pub message: String,
    /// The role verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub trust_findings: Vec<crate::trust_lint::TrustFinding>,
    /// Per data source, the IAM actions it needs that the role lacked.
    #[serde(default)]
    pub missing_permissions: std::collections::BTreeMap<String, Vec<String>>,
    /// The role was tried without and with a wrong external ID (and refused).
    #[serde(default)]
    pub probed: bool,
    /// The operation ids of its AssumeRole calls (see the access log).
    #[serde(default)]
    pub operation_ids: Vec<String>,
}

/// What the stream's consumer keeps of a change of an account's
/// credential: the verification and the sessions it opened. Derived from
/// the stream, so recording a verification stays one write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// (tenant, account id, record)
    pub verifications: Vec<(String, String, VerificationRecord)>,
    pub sessions: Vec<(String, String, AccessRecord)>,
}

impl Ledger {
    pub fn is_empty(&self) -> bool {
        self.verifications.is_empty() && self.sessions.is_empty()
    }

    /// Add what a change of an account item means: a verification when
    /// its credential's `last_verified_at` moved.
    pub fn add(
        &mut self,
        tenant: &str,
        old: Option<&crate::account::Account>,
        new: Option<&crate::account::Account>,
    ) {
        let Some(new) = new else { return };
        let credential = &new.credential;
        let Some(at) = credential.last_verified_at else {
            return;
        };
        if old.and_then(|old| old.credential.last_verified_at) == Some(at) {
            return;
        }
        let Some(code) = credential.verification_code else {
            return;
        };
        self.verifications.push((
            tenant.to_string(),
            new.account_id.clone(),
            VerificationRecord {
                at,
                status: credential.verification_status,
                code,
                message: credential.verification_message.clone().unwrap_or_default(),
                role_arn: credential.role_arn.clone(),
                trust_findings: credential.trust_findings.clone(),
                missing_permissions: credential.missing_permissions.clone(),
                probed: credential.probed_at == Some(at),
                operation_ids: credential
                    .sessions
                    .iter()
                    .map(|s| s.operation_id.clone())
                    .collect(),
            },
        ));
        for session in &credential.sessions {
            self.sessions
                .push((tenant.to_string(), new.account_id.clone(), session.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_for_sts(value: &str) -> bool {
        (2..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    }

    #[test]
    fn source_identities_fit_sts_and_stay_apart() {
        assert_eq!(source_identity("onboarding", "acme"), "acme@onboarding");
        let long_a = "a".repeat(63);
        let long_b = format!("{}b", "a".repeat(62));
        let (a, b) = (
            source_identity("onboarding", &long_a),
            source_identity("onboarding", &long_b),
        );
        assert!(a.len() <= 64 && b.len() <= 64, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.ends_with("@onboarding"));
        assert!(valid_for_sts(&a) && valid_for_sts(&b), "{a}");
    }

    #[test]
    fn operation_ids_are_session_names() {
        for purpose in [
            AccessPurpose::Verification,
            AccessPurpose::ProbeWithoutExternalId,
            AccessPurpose::ProbeWrongExternalId,
            AccessPurpose::Scan,
            AccessPurpose::OrganizationSync,
        ] {
            let id = operation_id(purpose);
            assert!(valid_for_sts(&id), "{id}");
            assert_ne!(id, operation_id(purpose));
        }
    }
}
