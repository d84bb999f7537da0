//! Whole-tenant reads and bulk deletes.

use super::{delete_request, keys, s, Store};
use crate::account::Account;
use crate::listing::account_id_of_sort_value;
use crate::schema;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, HashSet};

/// What a batch delete did, per account.
#[derive(Debug, Default)]
pub struct BatchDeleteOutcome {
    pub deleted: Vec<String>,
    /// Account id, code, message.
    pub failed: Vec<(String, &'static str, String)>,
}

impl Store {
    /// Every account of a tenant: Query pages of the tenant partition.
    pub async fn all_accounts(&self, tenant: &str) -> Result<Vec<Account>> {
        self.query_prefix(tenant, keys::ACCOUNT_PREFIX).await
    }

    /// Ids of the tenant's accounts that have linked accounts (from the
    /// sparse `by-parent` index, keys only).
    async fn parents_with_members(&self, tenant: &str) -> Result<HashMap<String, Vec<String>>> {
        let mut parents: HashMap<String, Vec<String>> = HashMap::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.table())
                .index_name(schema::PARENT_INDEX)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
                .projection_expression("#parent")
                .expression_attribute_names("#parent", schema::PARENT_KEY)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(Error::from_sdk)?;
            for item in output.items.unwrap_or_default() {
                if let Some(AttributeValue::S(value)) = item.get(schema::PARENT_KEY) {
                    let member = account_id_of_sort_value(value).to_string();
                    let parent = value.split('\u{1}').next().unwrap_or_default().to_string();
                    parents.entry(parent).or_default().push(member);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(parents);
            }
        }
    }

    /// Delete many accounts with BatchWriteItem (25 a call, unprocessed
    /// items retried). Missing accounts, and parents whose linked accounts
    /// are not all deleted with them, are reported and skipped; they never
    /// block the others.
    pub async fn batch_delete_accounts(
        &self,
        tenant: &str,
        account_ids: &[String],
    ) -> Result<BatchDeleteOutcome> {
        let mut outcome = BatchDeleteOutcome::default();
        let existing: HashSet<String> = self
            .batch_get_accounts(tenant, account_ids)
            .await?
            .into_iter()
            .map(|a| a.account_id)
            .collect();
        let requested: HashSet<&String> = account_ids.iter().collect();
        let parents = self.parents_with_members(tenant).await?;
        let mut to_delete = Vec::new();
        let mut seen = HashSet::new();
        for id in account_ids {
            if !seen.insert(id) {
                continue;
            }
            if !existing.contains(id) {
                outcome.failed.push((
                    id.clone(),
                    "not_found",
                    format!("account '{id}' was not found"),
                ));
            } else if let Some(members) = parents
                .get(id)
                .filter(|m| m.iter().any(|m| !requested.contains(m)))
            {
                outcome.failed.push((
                    id.clone(),
                    "has_linked_accounts",
                    format!("account '{id}' still has {} linked accounts; include them in the batch or delete them first", members.len()),
                ));
            } else {
                to_delete.push(id.clone());
            }
        }
        let requests = to_delete
            .iter()
            .map(|id| delete_request(tenant, keys::account_sk(id)))
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await?;
        futures::future::try_join_all(
            to_delete
                .iter()
                .map(|id| self.purge_account_data(tenant, id)),
        )
        .await?;
        outcome.deleted = to_delete;
        Ok(outcome)
    }
}

/// What an import wrote.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Account id, reason.
    pub failed: Vec<(String, String)>,
}

/// Accounts written per transaction: the limit of the DynamoDB Local we
/// test against (AWS now takes 100 per transaction).
const IMPORT_TRANSACTION: usize = 10;
/// Transactions in flight at once.
const IMPORT_CONCURRENCY: usize = 16;

impl Store {
    /// Create or update accounts from import rows. New accounts are written
    /// only if still absent, existing ones only at the version read, in
    /// transactions of 10, 16 at a time: a concurrent change is reported,
    /// never overwritten. Updates keep what the CSV has no column for
    /// (labels, ignore lists, external ID, verification).
    pub async fn import_accounts(
        &self,
        tenant: &str,
        rows: Vec<crate::csv_io::ImportRow>,
        actor: &str,
        now: crate::time::Timestamp,
    ) -> Result<ImportOutcome> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        use futures::StreamExt;
        let ids: Vec<String> = rows.iter().map(|r| r.account_id.clone()).collect();
        let existing: HashMap<String, Account> = self
            .batch_get_accounts(tenant, &ids)
            .await?
            .into_iter()
            .map(|a| (a.account_id.clone(), a))
            .collect();
        let mut outcome = ImportOutcome::default();
        let mut writes: Vec<(Written, TransactWriteItem)> = Vec::with_capacity(rows.len());
        for row in rows {
            let (account, created, condition, version) = match existing.get(&row.account_id) {
                None => (
                    Account::register(row.account_id.clone(), row.fields, actor, now),
                    true,
                    "attribute_not_exists(pk)",
                    None,
                ),
                Some(current) if current.archived_at.is_some() => {
                    outcome.failed.push((
                        row.account_id.clone(),
                        format!(
                            "account '{}' is archived; unarchive it first",
                            row.account_id
                        ),
                    ));
                    continue;
                }
                Some(current) => {
                    let mut next = current.clone();
                    let role_changed = next.fields.role_arn != row.fields.role_arn;
                    let imported = row.fields;
                    next.fields = apply_import(&next.fields, imported);
                    if role_changed {
                        next.credential.next_verification_at =
                            next.fields.role_arn.is_some().then_some(now);
                    }
                    next.updated_at = now;
                    next.updated_by = actor.to_string();
                    next.version = current.version + 1;
                    (next, false, "#version = :expected", Some(current.version))
                }
            };
            let mut put = Put::builder()
                .table_name(self.table())
                .set_item(Some(super::accounts::account_item(tenant, &account)?))
                .condition_expression(condition);
            if let Some(version) = version {
                put = put
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", super::n(version));
            }
            let put = put.build().map_err(crate::error::store_error)?;
            writes.push((
                Written {
                    account_id: account.account_id,
                    created,
                },
                TransactWriteItem::builder().put(put).build(),
            ));
        }
        let mut chunks: Vec<Vec<(Written, TransactWriteItem)>> = Vec::new();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            chunks.push(writes.by_ref().take(IMPORT_TRANSACTION).collect());
        }
        let results: Vec<(Vec<Written>, Result<bool>)> = futures::stream::iter(chunks)
            .map(|chunk| async move {
                let (written, items): (Vec<Written>, Vec<TransactWriteItem>) =
                    chunk.into_iter().unzip();
                let result = self
                    .client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await;
                let result = match result {
                    Ok(_) => Ok(true),
                    Err(err) if super::is_transaction_condition_failure(&err) => Ok(false),
                    Err(err) => Err(Error::from_sdk(err)),
                };
                (written, result)
            })
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        for (writes, result) in results {
            if result? {
                for write in writes {
                    if write.created {
                        outcome.created.push(write.account_id);
                    } else {
                        outcome.updated.push(write.account_id);
                    }
                }
            } else {
                for write in writes {
                    outcome.failed.push((write.account_id, "this account or one written with it changed during the import; import the file again".into()));
                }
            }
        }
        outcome.created.sort();
        outcome.updated.sort();
        Ok(outcome)
    }
}

/// An account an import transaction writes.
struct Written {
    account_id: String,
    created: bool,
}

/// The fields an import sets (the CSV columns); the others stay as they were.
fn apply_import(
    current: &crate::account::AccountFields,
    imported: crate::account::AccountFields,
) -> crate::account::AccountFields {
    crate::account::AccountFields {
        name: imported.name,
        owner_name: imported.owner_name,
        owner_email: imported.owner_email,
        environment: imported.environment,
        regions: imported.regions,
        role_arn: imported.role_arn,
        parent_account_id: imported.parent_account_id,
        ..current.clone()
    }
}
