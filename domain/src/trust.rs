//! Trust: what a verification of a customer's role concludes (its code,
//! outcome and the credential's status) and when to check again. The STS
//! and IAM calls that gather the evidence are adapters in `service`.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationStatus {
    NotStarted,
    InProgress,
    Success,
    Fail,
    TimedOut,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// Why a verification ended as it did.
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
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationCode {
    Ok,
    RoleMissing,
    AccessDenied,
    ExternalIdNotEnforced,
    AccountMismatch,
    Throttled,
    Timeout,
    /// The role's partition has no principal of this service.
    PartitionNotServed,
    Internal,
}

impl VerificationCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn status(self) -> VerificationStatus {
        match self {
            VerificationCode::Ok => VerificationStatus::Success,
            VerificationCode::Timeout => VerificationStatus::TimedOut,
            _ => VerificationStatus::Fail,
        }
    }
}

/// The result of one verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: VerificationCode,
    /// Says what to fix, in words a customer can act on.
    pub message: String,
}

impl Outcome {
    pub fn new(code: VerificationCode, message: impl Into<String>) -> Self {
        Outcome {
            code,
            message: message.into(),
        }
    }

    pub fn is_ok(&self) -> bool {
        self.code == VerificationCode::Ok
    }

    /// The assumed session is another account's than the one registered.
    pub fn account_mismatch(role_arn: &str, session_account: &str, account_id: &str) -> Self {
        Outcome::new(
            VerificationCode::AccountMismatch,
            format!("The role {role_arn} belongs to account {session_account}, not to {account_id}: create the role in account {account_id} and register its ARN."),
        )
    }

    /// Without probes, the lint is the evidence on the external ID: a
    /// trust policy that does not require it fails the verification.
    pub fn unenforced(
        role_arn: &str,
        findings: &[crate::trust_lint::TrustFinding],
    ) -> Option<Self> {
        let open = findings
            .iter()
            .find(|f| f.code == crate::trust_lint::TrustFindingCode::ExternalIdNotRequired)?;
        Some(Outcome::new(
            VerificationCode::ExternalIdNotEnforced,
            format!(
                "The role {role_arn}'s trust policy: {}. {}",
                open.message, open.fix
            ),
        ))
    }

    /// A verified role, with what its trust policy and its data sources
    /// still ask of the customer (`lacking`: the sources missing permissions).
    pub fn verified(role_arn: &str, trust_findings: usize, lacking: &[&str]) -> Self {
        let mut message = format!(
            "The role {role_arn} was assumed with the external ID and is refused without it."
        );
        if trust_findings > 0 {
            message.push_str(&format!(
                " Its trust policy has {trust_findings} finding(s): see trust_findings."
            ));
        }
        if !lacking.is_empty() {
            message.push_str(&format!(
                " It lacks permissions that {} need(s) to scan: see missing_permissions.",
                lacking.join(", ")
            ));
        }
        Outcome::new(VerificationCode::Ok, message)
    }

    pub fn role_missing(account_id: &str) -> Self {
        Outcome::new(
            VerificationCode::RoleMissing,
            format!("No role ARN is registered for account {account_id}: create the role (GET /v1/accounts/{account_id}/cloudformation-template makes one) and set role_arn on the account."),
        )
    }
}

/// IAM-style wildcard match: `*` any run, `?` one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

/// A delay drawn uniformly from [0, `backoff`] ("full jitter"), so retries
/// of many workers spread out instead of arriving together.
pub fn jittered(backoff: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    let fraction = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    backoff.mul_f64(fraction)
}

/// The actor of a check asked from an onboarding page.
pub fn link_actor(link_id: &str) -> String {
    format!("onboarding-link:{link_id}")
}

/// When to check again: after a success the interval; after failures an
/// exponential backoff from 15 minutes, capped at the interval.
pub fn next_check(now: Timestamp, ok: bool, failures: u32, interval: Duration) -> Timestamp {
    let delay = if ok {
        interval
    } else {
        let backoff =
            Duration::from_secs(15 * 60).saturating_mul(1 << failures.saturating_sub(1).min(16));
        backoff.min(interval)
    };
    Timestamp::from_datetime(
        now.datetime() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_within_its_bound() {
        let bound = Duration::from_millis(200);
        let delays: Vec<Duration> = (0..64).map(|_| jittered(bound)).collect();
        assert!(delays.iter().all(|d| *d <= bound));
        assert!(delays.iter().any(|d| *d != delays[0]), "not all equal");
    }

    #[test]
    fn statuses_follow_codes() {
        assert_eq!(VerificationCode::Ok.status(), VerificationStatus::Success);
        assert_eq!(
            VerificationCode::Timeout.status(),
            VerificationStatus::TimedOut
        );
        assert_eq!(
            VerificationCode::ExternalIdNotEnforced.status(),
            VerificationStatus::Fail
        );
        assert_eq!(VerificationCode::Throttled.as_str(), "THROTTLED");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "Anything"));
        assert!(wildcard_match(
            "AccountOnboarding*",
            "AccountOnboardingAudit"
        ));
        assert!(!wildcard_match("AccountOnboarding*", "Admin"));
        assert!(wildcard_match("Audit-??", "Audit-01"));
        assert!(!wildcard_match("Audit-??", "Audit-1"));
        assert!(wildcard_match("*Audit*", "MyAuditRole"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        let minutes = |at: Timestamp| (at.datetime() - now.datetime()).num_minutes();
        assert_eq!(minutes(next_check(now, true, 0, day)), 24 * 60);
        assert_eq!(minutes(next_check(now, false, 1, day)), 15);
        assert_eq!(minutes(next_check(now, false, 3, day)), 60);
        assert_eq!(minutes(next_check(now, false, 40, day)), 24 * 60);
    }

    #[test]
    fn the_verdicts_say_what_to_fix() {
        let role = "arn:aws:iam::000000000001:role/R";
        let mismatch = Outcome::account_mismatch(role, "000000000002", "000000000001");
        assert_eq!(mismatch.code, VerificationCode::AccountMismatch);
        assert!(mismatch
            .message
            .contains("create the role in account 000000000001"));

        let unreadable = crate::trust_lint::unreadable(role);
        assert_eq!(
            Outcome::unenforced(role, std::slice::from_ref(&unreadable)),
            None
        );
        let open = crate::trust_lint::TrustFinding {
            code: crate::trust_lint::TrustFindingCode::ExternalIdNotRequired,
            message: "no sts:ExternalId condition".into(),
            fix: "Add the condition.".into(),
            ..unreadable.clone()
        };
        let unenforced = Outcome::unenforced(role, &[unreadable, open]).unwrap();
        assert_eq!(unenforced.code, VerificationCode::ExternalIdNotEnforced);
        assert!(unenforced
            .message
            .ends_with("no sts:ExternalId condition. Add the condition."));

        let clean = Outcome::verified(role, 0, &[]);
        assert!(clean.is_ok());
        assert!(!clean.message.contains("see"), "{}", clean.message);
        let told = Outcome::verified(role, 2, &["aws:iam", "aws:sqs"]);
        assert!(told.message.contains("2 finding(s)"), "{}", told.message);
        assert!(
            told.message.contains("aws:iam, aws:sqs need(s)"),
            "{}",
            told.message
        );
    }
}
