//! Verification results, the due index, and external-ID rotation.

use super::expression::UpdateExpression;
use super::{applied, is_condition_failure, keys, n, s, Store};
use crate::account::{Account, Credential};
use crate::aws::schema;
use crate::listing::SortField;
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::Item;

/// What a verification writes to its account.
#[derive(Debug, Clone, Copy)]
pub struct VerificationWrite<'a> {
    /// The result, for the role it checked.
    pub credential: &'a Credential,
    /// The pending external ID passed and replaces the current one.
    pub promote_external_id: bool,
    /// The pending role passed and replaces the current one.
    pub switch_role: bool,
    /// The pending role failed: its result.
    pub pending_role: Option<&'a Credential>,
    /// The external ID (after any promotion) is past the tenant's age.
    pub rotation_due: bool,
    /// Start a rotation with this pending external ID (the tenant's policy).
    pub start_rotation: Option<&'a str>,
}

/// An account found through the due index, with its tenant.
#[derive(Debug, Clone)]
pub struct DueAccount {
    pub tenant: String,
    pub account: Account,
}

/// One page of due accounts and where the next starts.
pub struct DuePage {
    pub accounts: Vec<DueAccount>,
    pub next: Option<Item>,
}

impl Store {
    /// Accounts of one shard whose verification is due at `now`, oldest first.
    pub async fn due_accounts(
        &self,
        shard: u32,
        now: Timestamp,
        limit: i32,
        start: Option<Item>,
    ) -> Result<DuePage> {
        let output = self
            .client
            .query()
            .table_name(self.table())
            .index_name(schema::DUE_INDEX)
            .key_condition_expression("#shard = :shard AND #due <= :now")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_values(":shard", s(schema::due_shard_key(shard)))
            .expression_attribute_values(":now", s(now.to_string()))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let mut accounts = Vec::new();
        for item in output.items.unwrap_or_default() {
            let tenant = match item.get("pk") {
                Some(AttributeValue::S(pk)) => keys::tenant_of_pk(pk).to_string(),
                _ => continue,
            };
            accounts.push(DueAccount {
                tenant,
                account: crate::aws::codec::from_item(item)?,
            });
        }
        Ok(DuePage {
            accounts,
            next: output.last_evaluated_key,
        })
    }

    /// Store a verification result, only if the roles and external IDs are
    /// still those that were verified.
    pub async fn record_verification(
        &self,
        tenant: &str,
        verified: &Account,
        write: &VerificationWrite<'_>,
    ) -> Result<Account> {
        let result = verification_expression(tenant, verified, write)?
            .apply(self.update_account(tenant, &verified.account_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(Error::Conflict(format!(
                "account '{}' changed its role or external ID during verification; verify again",
                verified.account_id
            ))),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Move an account's next verification (the sweep does this when STS
    /// throttled it: our load, not the customer's fault, so no result).
    pub async fn reschedule_verification(
        &self,
        tenant: &str,
        account_id: &str,
        next: Timestamp,
    ) -> Result<()> {
        let result = self
            .update_account(tenant, account_id)
            .update_expression("SET #due = :due, #credential.#next = :due")
            .condition_expression("attribute_exists(#due)")
            .expression_attribute_names("#due", schema::DUE_AT)
            .expression_attribute_names("#credential", "credential")
            .expression_attribute_names("#next", "next_verification_at")
            .expression_attribute_values(":due", s(next.to_string()))
            .send()
            .await;
        // Deleted or its role removed meanwhile: nothing to reschedule.
        applied(result).map(drop)
    }

    /// Set (rotation) or clear (cancel) the pending external ID.
    pub async fn set_pending_external_id(
        &self,
        tenant: &str,
        account_id: &str,
        pending: Option<&str>,
        expected_version: Option<u64>,
        replace: bool,
    ) -> Result<Account> {
        let mut request = self
            .update_account(tenant, account_id)
            .expression_attribute_names("#pending", "pending_external_id")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#archived", "archived_at")
            .expression_attribute_names("#departed", "departed")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        let mut condition = match pending {
            Some(value) => {
                request = request
                    .update_expression("SET #pending = :pending, #version = #version + :one")
                    .expression_attribute_values(":pending", s(value));
                let mut condition = "attribute_exists(pk) AND attribute_not_exists(#archived) AND attribute_not_exists(#departed)".to_string();
                // A rotation under way is replaced only when asked.
                if !replace {
                    condition.push_str(" AND attribute_not_exists(#pending)");
                }
                condition
            }
            None => {
                request =
                    request.update_expression("SET #version = #version + :one REMOVE #pending");
                "attribute_exists(#pending) AND attribute_not_exists(#archived) AND attribute_not_exists(#departed)".to_string()
            }
        };
        if let Some(version) = expected_version {
            condition.push_str(" AND #version = :expected");
            request = request.expression_attribute_values(":expected", n(version));
        }
        match super::stamp_update(request.condition_expression(condition))
            .send()
            .await
        {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => {
                let otherwise = match pending {
                    Some(_) => Error::Refused {
                        code: "rotation_pending",
                        message: format!(
                            "account {account_id} has a pending external ID already; verify with it, cancel it (DELETE /v1/accounts/{account_id}/external-id/pending), or rotate with ?replace=true to replace it"
                        ),
                    },
                    None => Error::NotFound {
                        resource: "pending external ID of account",
                        id: account_id.to_string(),
                    },
                };
                Err(Self::explain_refusal(
                    super::refused_item(&err),
                    account_id,
                    expected_version,
                    true,
                    otherwise,
                ))
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Withdraw a pending role: the current one stays.
    pub async fn cancel_pending_role(&self, tenant: &str, account_id: &str) -> Result<Account> {
        let request = self
            .update_account(tenant, account_id)
            .update_expression(
                "SET #version = #version + :one REMOVE #pending_role, #pending_role_credential",
            )
            .condition_expression(
                "attribute_exists(#pending_role) AND attribute_not_exists(#archived) AND attribute_not_exists(#departed)",
            )
            .expression_attribute_names("#pending_role", "pending_role_arn")
            .expression_attribute_names("#pending_role_credential", "pending_role_credential")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#archived", "archived_at")
            .expression_attribute_names("#departed", "departed")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        match super::stamp_update(request).send().await {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(Self::explain_refusal(
                super::refused_item(&err),
                account_id,
                None,
                true,
                Error::NotFound {
                    resource: "pending role of account",
                    id: account_id.to_string(),
                },
            )),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
/// The write of a verification result: the credential, its sort and
/// status index keys, the due time (with a role); a promoted external ID, a
/// switched or a checked pending role, a started rotation. On the condition
/// that the account is live and its role, pending role, external ID and
/// pending external ID are still those verified.
// Long: one line per attribute the result writes or requires; the parts
// must agree in one write.
fn verification_expression(
    tenant: &str,
    verified: &Account,
    write: &VerificationWrite<'_>,
) -> Result<UpdateExpression> {
    let credential = write.credential;
    let verified_at = credential.last_verified_at;
    let mut update = UpdateExpression::default();
    update
        .set(
            &["credential"],
            crate::aws::codec::to_attribute_value(credential)?,
        )
        .increment("version", 1)
        .set(
            &[SortField::LastVerifiedAt.index().expect("verified index").1],
            s(crate::listing::compose_sort_value(
                &verified_at.map_or_else(|| "0".into(), |at| at.to_string()),
                &verified.account_id,
            )),
        )
        .set(
            &[schema::STATUS_KEY],
            s(schema::status_partition(
                tenant,
                credential.verification_status,
            )),
        );
    if let (Some(next), Some(_)) = (credential.next_verification_at, &verified.fields.role_arn) {
        update.set(&[schema::DUE_AT], s(next.to_string()));
    }
    update
        .require_present("pk")
        .require_absent("archived_at")
        .require_absent("departed")
        .require_equal("external_id", s(verified.external_id.clone()));
    match &verified.fields.role_arn {
        Some(role) => update.require_equal("role_arn", s(role.clone())),
        None => update.require_absent("role_arn"),
    };
    match &verified.pending_role_arn {
        Some(next) => {
            update.require_equal("pending_role_arn", s(next.clone()));
            if write.switch_role {
                update
                    .set(&["role_arn"], s(next.clone()))
                    .remove(&["pending_role_arn"])
                    .remove(&["pending_role_credential"]);
            } else if let Some(pending_role) = write.pending_role {
                update.set(
                    &["pending_role_credential"],
                    crate::aws::codec::to_attribute_value(pending_role)?,
                );
            }
        }
        None => {
            update.require_absent("pending_role_arn");
        }
    }
    match &verified.pending_external_id {
        Some(pending) => {
            update.require_equal("pending_external_id", s(pending.clone()));
            if write.promote_external_id {
                update
                    .set(&["external_id"], s(pending.clone()))
                    .remove(&["pending_external_id"])
                    .set(
                        &["external_id_since"],
                        s(verified_at.unwrap_or_else(Timestamp::now).to_string()),
                    );
            }
        }
        None => {
            update.require_absent("pending_external_id");
            if let Some(next) = write.start_rotation {
                update.set(&["pending_external_id"], s(next));
            }
        }
    }
    update.set_or_remove(
        &["rotation_due"],
        write.rotation_due.then_some(AttributeValue::Bool(true)),
    );
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountFields;

    fn account() -> Account {
        let fields = AccountFields {
            name: "Prod".into(),
            role_arn: Some("arn:aws:iam::123456789012:role/Audit".into()),
            ..AccountFields::default()
        };
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        Account::register("123456789012".into(), fields, "key1", now)
    }

    fn write(credential: &Credential) -> VerificationWrite<'_> {
        VerificationWrite {
            credential,
            promote_external_id: false,
            switch_role: false,
            pending_role: None,
            rotation_due: false,
            start_rotation: None,
        }
    }

    #[test]
    fn a_result_is_written_only_over_what_was_verified() {
        let verified = account();
        let text = verification_expression("t1", &verified, &write(&verified.credential))
            .unwrap()
            .rendered();
        let condition = &text[text.find(" IF ").unwrap()..];
        for expected in [
            "attribute_exists(pk)",
            "attribute_not_exists(archived_at)",
            "attribute_not_exists(departed)",
            &format!("external_id = '{}'", verified.external_id),
            "role_arn = 'arn:aws:iam::123456789012:role/Audit'",
            "attribute_not_exists(pending_role_arn)",
            "attribute_not_exists(pending_external_id)",
        ] {
            assert!(
                condition.contains(expected),
                "{expected} not in {condition}"
            );
        }
        assert!(text.contains("version = version + 1") && text.contains("REMOVE rotation_due"));
    }

    #[test]
    fn a_passing_rotation_promotes_the_pending_external_id() {
        let mut verified = account();
        verified.pending_external_id = Some("pending-id".into());
        let mut credential = verified.credential.clone();
        credential.last_verified_at = Some(Timestamp::parse("2026-01-02T00:00:00Z").unwrap());
        let promote = VerificationWrite {
            promote_external_id: true,
            rotation_due: true,
            ..write(&credential)
        };
        let text = verification_expression("t1", &verified, &promote)
            .unwrap()
            .rendered();
        for expected in [
            "external_id = 'pending-id'",
            "external_id_since = '2026-01-02T00:00:00.000Z'",
            "rotation_due = Bool(true)",
            "REMOVE pending_external_id",
            "pending_external_id = 'pending-id'",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
    }
}
