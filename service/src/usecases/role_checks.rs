//! Check roles without saving anything: the saved credentials of
//! registered accounts, or a role ARN and external ID given by the caller.

use crate::account::{Account, VerificationStatus};
use crate::aws::store::Store;
use crate::aws::verification::{Outcome, Probes, RoleVerifier, Target};
use crate::ids::{AccountId, ExternalId};
use crate::{Error, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// Entries one request may check.
pub const MAX_ROLE_CHECKS: usize = 100;

/// One role to check: the saved credentials of an account, or a role ARN
/// and external ID given here (checked, not saved).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCheck {
    pub account_id: AccountId,
    #[serde(default)]
    pub saved_credentials: bool,
    pub role_arn: Option<String>,
    pub external_id: Option<ExternalId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRolesRequest {
    /// 1-100 entries.
    pub accounts: Vec<RoleCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleCheckResult {
    pub account_id: AccountId,
    pub verification_status: VerificationStatus,
    /// A verification code, or `NOT_FOUND` for an unknown saved account.
    pub verification_code: String,
    pub verification_message: String,
    /// Weaknesses of the role's trust policy (see the account's credential).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trust_findings: Vec<crate::trust_lint::TrustFinding>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateRolesResponse {
    /// In the order of the request.
    pub results: Vec<RoleCheckResult>,
}

/// What one entry needs once the request has been read.
enum Check {
    Assume {
        account_id: AccountId,
        role_arn: String,
        external_id: String,
    },
    Done(RoleCheckResult),
}

impl ValidateRolesRequest {
    fn validate(&self) -> Result<()> {
        if self.accounts.is_empty() || self.accounts.len() > MAX_ROLE_CHECKS {
            return Err(Error::invalid(
                "accounts",
                format!(
                    "give 1-{MAX_ROLE_CHECKS} entries, got {}",
                    self.accounts.len()
                ),
            ));
        }
        for (index, entry) in self.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{index}].{name}");
            match (entry.saved_credentials, &entry.role_arn, &entry.external_id) {
                (true, None, None) => {}
                (true, _, _) => {
                    return Err(Error::invalid(
                        field("saved_credentials"),
                        "with saved_credentials: true, leave out role_arn and external_id",
                    ))
                }
                (false, Some(arn), Some(_)) => {
                    // The account of the ARN is not checked here: a role in
                    // another account is reported as ACCOUNT_MISMATCH.
                    crate::validation::role_arn(&field("role_arn"), arn)?;
                }
                (false, _, _) => {
                    return Err(Error::invalid_with_code(
                        "missing_field",
                        field(if entry.role_arn.is_none() {
                            "role_arn"
                        } else {
                            "external_id"
                        }),
                        "give role_arn and external_id, or saved_credentials: true",
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Check each entry (`concurrency` AssumeRole calls at a time), reading
/// the saved ones in one batch first.
// Long: one batch: the saved accounts read at once, then each entry's check, its answer built
// where its case is decided.
pub async fn validate_roles(
    store: &Store,
    verifier: &RoleVerifier,
    concurrency: usize,
    tenant: &str,
    request: ValidateRolesRequest,
) -> Result<ValidateRolesResponse> {
    request.validate()?;
    let saved_ids: Vec<String> = request
        .accounts
        .iter()
        .filter(|entry| entry.saved_credentials)
        .map(|entry| entry.account_id.to_string())
        .collect();
    let saved: HashMap<String, Account> = if saved_ids.is_empty() {
        HashMap::new()
    } else {
        store
            .batch_get_accounts(tenant, &saved_ids)
            .await?
            .into_iter()
            .map(|account| (account.account_id.clone(), account))
            .collect()
    };
    let checks = request.accounts.into_iter().map(|entry| {
        if !entry.saved_credentials {
            return Check::Assume {
                account_id: entry.account_id,
                role_arn: entry.role_arn.unwrap_or_default(),
                external_id: entry
                    .external_id
                    .map(ExternalId::into_string)
                    .unwrap_or_default(),
            };
        }
        match saved.get(entry.account_id.as_str()) {
            None => Check::Done(RoleCheckResult {
                verification_status: VerificationStatus::Fail,
                verification_code: "NOT_FOUND".into(),
                verification_message: format!(
                    "account '{}' is not registered in this tenant",
                    entry.account_id
                ),
                account_id: entry.account_id,
                trust_findings: Vec::new(),
            }),
            Some(account) => match &account.fields.role_arn {
                None => {
                    let outcome = Outcome::role_missing(&entry.account_id);
                    Check::Done(result(entry.account_id, outcome))
                }
                Some(role) => Check::Assume {
                    account_id: entry.account_id,
                    role_arn: role.clone(),
                    external_id: account.external_id.clone(),
                },
            },
        }
    });
    let checks: Vec<Check> = checks.collect();
    let results = futures::stream::iter(checks)
        .map(|check| async move {
            match check {
                Check::Done(done) => done,
                Check::Assume {
                    account_id,
                    role_arn,
                    external_id,
                } => {
                    let target = Target {
                        tenant,
                        account_id: &account_id,
                        role_arn: &role_arn,
                        external_id: &external_id,
                        required: &[],
                    };
                    let verified = verifier.verify(&target, Probes::Always).await;
                    let mut checked = result(account_id.clone(), verified.outcome);
                    checked.trust_findings = verified.findings;
                    checked
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    Ok(ValidateRolesResponse { results })
}

fn result(account_id: AccountId, outcome: Outcome) -> RoleCheckResult {
    RoleCheckResult {
        account_id,
        verification_status: outcome.code.status(),
        verification_code: outcome.code.as_str().to_string(),
        verification_message: outcome.message,
        trust_findings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: serde_json::Value) -> ValidateRolesRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_check_names_its_entry_and_needs_a_role_or_the_saved_one() {
        let err = request(serde_json::json!({"accounts": []}))
            .validate()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field: Some(f), .. } if f == "accounts"),
            "{err}"
        );
        let many: Vec<_> = (0..=MAX_ROLE_CHECKS)
            .map(|_| serde_json::json!({"account_id": "000000000001", "saved_credentials": true}))
            .collect();
        assert!(request(serde_json::json!({ "accounts": many }))
            .validate()
            .is_err());
        let err = request(serde_json::json!({"accounts": [
            {"account_id": "000000000001", "saved_credentials": true},
            {"account_id": "000000000002"},
        ]}))
        .validate()
        .unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("accounts[1]."), "{text}");
        assert!(!text.contains("accounts[0]."), "{text}");
    }
}
