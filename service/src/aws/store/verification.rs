//! Verification results, the due index, and external-ID rotation.

use super::{applied, is_condition_failure, keys, n, s, update_expression, Store};
use crate::account::{Account, Credential};
use crate::aws::schema;
use crate::listing::SortField;
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

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
        shard: &str,
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
            .expression_attribute_values(":shard", s(shard))
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
    // Long: one conditional UpdateItem covering the current and the pending role and external ID,
    // the status and due indexes: parts that must agree in one write. Next to move onto
    // store::expression, as the account replacement did.
    pub async fn record_verification(
        &self,
        tenant: &str,
        verified: &Account,
        write: &VerificationWrite<'_>,
    ) -> Result<Account> {
        let VerificationWrite {
            credential,
            promote_external_id: promote,
            switch_role,
            pending_role,
            rotation_due,
            start_rotation,
        } = *write;
        let mut names = HashMap::from([
            ("#credential".to_string(), "credential".to_string()),
            ("#version".to_string(), "version".to_string()),
            ("#role".to_string(), "role_arn".to_string()),
            ("#external".to_string(), "external_id".to_string()),
            ("#pending".to_string(), "pending_external_id".to_string()),
            (
                "#lsi".to_string(),
                SortField::LastVerifiedAt
                    .index()
                    .expect("verified index")
                    .1
                    .to_string(),
            ),
        ]);
        let mut values = HashMap::from([
            (
                ":credential".to_string(),
                crate::aws::codec::to_attribute_value(credential)?,
            ),
            (":one".to_string(), n(1)),
            (":external".to_string(), s(verified.external_id.clone())),
            (
                ":lsi".to_string(),
                s(crate::listing::compose_sort_value(
                    &credential
                        .last_verified_at
                        .map(|at| at.to_string())
                        .unwrap_or_else(|| "0".into()),
                    &verified.account_id,
                )),
            ),
        ]);
        names.insert("#status_key".into(), schema::STATUS_KEY.into());
        values.insert(
            ":status_key".into(),
            s(schema::status_partition(
                tenant,
                credential.verification_status,
            )),
        );
        let mut sets = vec![
            "#credential = :credential",
            "#version = #version + :one",
            "#lsi = :lsi",
            "#status_key = :status_key",
        ];
        let mut removes = Vec::new();
        match credential.next_verification_at {
            Some(next) if verified.fields.role_arn.is_some() => {
                names.insert("#due".into(), schema::DUE_AT.into());
                values.insert(":due".into(), s(next.to_string()));
                sets.push("#due = :due");
            }
            _ => {}
        }
        names.insert("#archived".into(), "archived_at".into());
        names.insert("#departed".into(), "departed".into());
        let mut condition = vec![
            "attribute_exists(pk)",
            "attribute_not_exists(#archived)",
            "attribute_not_exists(#departed)",
            "#external = :external",
        ];
        match &verified.fields.role_arn {
            Some(role) => {
                values.insert(":role".into(), s(role.clone()));
                condition.push("#role = :role");
            }
            None => condition.push("attribute_not_exists(#role)"),
        }
        names.insert("#pending_role".into(), "pending_role_arn".into());
        if verified.pending_role_arn.is_some() && (switch_role || pending_role.is_some()) {
            names.insert(
                "#pending_role_credential".into(),
                "pending_role_credential".into(),
            );
        }
        match &verified.pending_role_arn {
            Some(next) => {
                values.insert(":pending_role".into(), s(next.clone()));
                condition.push("#pending_role = :pending_role");
                if switch_role {
                    sets.push("#role = :pending_role");
                    removes.extend(["#pending_role", "#pending_role_credential"]);
                } else if let Some(pending_role) = pending_role {
                    values.insert(
                        ":pending_role_credential".into(),
                        crate::aws::codec::to_attribute_value(pending_role)?,
                    );
                    sets.push("#pending_role_credential = :pending_role_credential");
                }
            }
            None => condition.push("attribute_not_exists(#pending_role)"),
        }
        match &verified.pending_external_id {
            Some(pending) => {
                values.insert(":pending".into(), s(pending.clone()));
                condition.push("#pending = :pending");
                if promote {
                    sets.push("#external = :pending");
                    removes.push("#pending");
                    names.insert("#since".into(), "external_id_since".into());
                    values.insert(
                        ":since".into(),
                        s(credential
                            .last_verified_at
                            .unwrap_or_else(Timestamp::now)
                            .to_string()),
                    );
                    sets.push("#since = :since");
                }
            }
            None => {
                condition.push("attribute_not_exists(#pending)");
                if let Some(next) = start_rotation {
                    values.insert(":start".into(), s(next));
                    sets.push("#pending = :start");
                }
            }
        }
        names.insert("#rotation_due".into(), "rotation_due".into());
        if rotation_due {
            values.insert(":rotation_due".into(), AttributeValue::Bool(true));
            sets.push("#rotation_due = :rotation_due");
        } else {
            removes.push("#rotation_due");
        }
        let update = update_expression(&sets, &removes);
        let result = self
            .update_account(tenant, &verified.account_id)
            .update_expression(update)
            .condition_expression(condition.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
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
