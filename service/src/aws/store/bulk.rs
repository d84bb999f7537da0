//! Whole-tenant reads and bulk deletes.

use super::{keys, s, Store};
use crate::account::{Account, RoleChange};
use crate::aws::schema;
use crate::listing::account_id_of_sort_value;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// What a batch delete did, per account.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BatchDeleteOutcome {
    /// Deleted account ids.
    #[serde(rename = "success")]
    pub deleted: Vec<String>,
    pub failed: Vec<BatchDeleteFailure>,
}

/// An account a batch delete left, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDeleteFailure {
    pub account_id: String,
    pub code: BatchDeleteCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchDeleteCode {
    NotFound,
    /// Linked accounts outside the batch still name it as their parent.
    HasLinkedAccounts,
}

impl Store {
    /// Every account of a tenant: Query pages of the tenant partition.
    pub async fn all_accounts(&self, tenant: &str) -> Result<Vec<Account>> {
        self.query_prefix(tenant, keys::ACCOUNT_PREFIX).await
    }

    /// A linked account of `parent` that is not in `batch`, if any: reads
    /// the parent's own slice of the `by-parent` index (keys only, pages
    /// until one outside the batch shows), so the cost follows the batch,
    /// not the tenant.
    async fn member_outside(
        &self,
        tenant: &str,
        parent: &str,
        batch: &HashSet<&String>,
    ) -> Result<Option<String>> {
        let mut items = self
            .client
            .query()
            .table_name(self.table())
            .index_name(schema::PARENT_INDEX)
            .key_condition_expression("pk = :pk AND begins_with(#parent, :prefix)")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(
                ":prefix",
                s(crate::listing::compose_sort_value(parent, "")),
            )
            .projection_expression("#parent")
            .expression_attribute_names("#parent", schema::PARENT_KEY)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let item = item.map_err(crate::aws::errors::from_sdk)?;
            if let Some(AttributeValue::S(value)) = item.get(schema::PARENT_KEY) {
                let member = account_id_of_sort_value(value).to_string();
                if !batch.contains(&member) {
                    return Ok(Some(member));
                }
            }
        }
        Ok(None)
    }

    /// Delete many accounts, each with a conditional DeleteItem (16 at
    /// once). Missing accounts, and parents whose linked accounts are not
    /// all deleted with them, are reported and skipped; they never block
    /// the others.
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
        use futures::StreamExt;
        let mut unique: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for id in account_ids {
            if seen.insert(id) {
                unique.push(id.clone());
            }
        }
        let (existing, requested) = (&existing, &requested);
        let checks: Vec<_> = unique
            .iter()
            .cloned()
            .map(|id: String| async move {
                if existing.contains(&id) {
                    self.member_outside(tenant, &id, requested).await
                } else {
                    Ok(None)
                }
            })
            .collect();
        let outside: Vec<Result<Option<String>>> =
            futures::stream::iter(checks).buffered(16).collect().await;
        let mut to_delete = Vec::new();
        for (id, outside) in unique.into_iter().zip(outside) {
            if !existing.contains(&id) {
                outcome.failed.push(not_found(id));
            } else if let Some(member) = outside? {
                outcome.failed.push(BatchDeleteFailure {
                    account_id: id.clone(),
                    code: BatchDeleteCode::HasLinkedAccounts,
                    message: format!("account '{id}' still has linked accounts outside this batch (such as {member}); include them in the batch or delete them first"),
                });
            } else {
                to_delete.push(id.clone());
            }
        }
        // One conditional DeleteItem per account, not BatchWriteItem (which
        // takes no condition): of two concurrent batches naming the same
        // account, exactly one deletes it and the other is told not_found.
        // (delete_account: DeleteItem on `attribute_exists(pk)`, then the
        // account's data purged.)
        let results: Vec<(String, Result<()>)> = futures::stream::iter(to_delete)
            .map(|id| async move {
                let deleted = self.delete_account(tenant, &id, None).await;
                (id, deleted)
            })
            .buffered(16)
            .collect()
            .await;
        for (id, deleted) in results {
            match deleted {
                Ok(()) => outcome.deleted.push(id),
                Err(Error::NotFound { .. }) => outcome.failed.push(not_found(id)),
                Err(err) => return Err(err),
            }
        }
        Ok(outcome)
    }
}

/// The failure of an account that is not there (or was deleted meanwhile).
fn not_found(id: String) -> BatchDeleteFailure {
    BatchDeleteFailure {
        message: format!("account '{id}' was not found"),
        account_id: id,
        code: BatchDeleteCode::NotFound,
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

/// Accounts written per transaction: DynamoDB's limit.
const IMPORT_TRANSACTION: usize = 100;
/// Transactions in flight at once.
const IMPORT_CONCURRENCY: usize = 16;

impl Store {
    /// Create or update accounts from import rows, in transactions of 100,
    /// 16 at a time, without reading first: every row is first written as
    /// a new account, only if absent; a row whose account exists is
    /// refused with the item found (ReturnValuesOnConditionCheckFailure),
    /// and written again as an update of that item, only at its version.
    /// A concurrent change is reported, never overwritten, and only the
    /// accounts it touched are refused (the rest of their transaction is
    /// sent again without them). Updates keep what the CSV has no column
    /// for (labels, ignore lists, external ID, verification).
    pub async fn import_accounts(
        &self,
        tenant: &str,
        rows: Vec<crate::csv_io::ImportRow>,
        actor: &str,
        now: crate::time::Timestamp,
    ) -> Result<ImportOutcome> {
        let mut outcome = ImportOutcome::default();
        let mut creates = Vec::with_capacity(rows.len());
        let mut imported: HashMap<String, crate::account::AccountFields> = HashMap::new();
        for row in rows {
            let account = Account::register(row.account_id.clone(), row.fields.clone(), actor, now);
            creates.push(self.account_write(tenant, &account, None)?);
            imported.insert(row.account_id, row.fields);
        }
        let (created, existing) = self.write_accounts(creates).await?;
        outcome.created = created;
        let mut updates = Vec::with_capacity(existing.len());
        for (account_id, found) in existing {
            let (Some(current), Some(fields)) = (found, imported.remove(&account_id)) else {
                outcome.failed.push((account_id, CHANGED.into()));
                continue;
            };
            let found = current;
            let current: Account = crate::aws::codec::from_item(found.clone())?;
            if current.archived_at.is_some() {
                outcome.failed.push((
                    account_id.clone(),
                    format!("account '{account_id}' is archived; unarchive it first"),
                ));
                continue;
            }
            let mut next = current.clone();
            next.fields = apply_import(&next.fields, fields);
            // As for PUT and PATCH: a working role waits for its successor.
            let role = current.role_change(next.fields.role_arn.as_deref());
            match &role {
                RoleChange::Keep => {}
                RoleChange::Replace => {
                    next.pending_role_arn = None;
                    next.pending_role_credential = None;
                }
                RoleChange::Pending(successor) => {
                    next.fields.role_arn = current.fields.role_arn.clone();
                    next.pending_role_arn = Some(successor.clone());
                    next.pending_role_credential = None;
                }
            }
            if role != RoleChange::Keep {
                next.credential.next_verification_at =
                    next.fields.role_arn.is_some().then_some(now);
            }
            next.updated_at = now;
            next.updated_by = actor.to_string();
            next.version = current.version + 1;
            updates.push(self.account_write(tenant, &next, Some(&found))?);
        }
        let (updated, changed) = self.write_accounts(updates).await?;
        outcome.updated = updated;
        outcome.failed.extend(
            changed
                .into_iter()
                .map(|(account_id, _)| (account_id, CHANGED.into())),
        );
        outcome.created.sort();
        outcome.updated.sort();
        Ok(outcome)
    }

    /// The Put of one account as a whole: a new one only if absent
    /// (`previous` None), else a replacement of the `previous` item only at
    /// its version, keeping the attributes the `Account` type does not
    /// hold (each kept region's inventory status and when it was added).
    /// A refusal returns the item found.
    pub(super) fn account_write(
        &self,
        tenant: &str,
        account: &Account,
        previous: Option<&Item>,
    ) -> Result<AccountWrite> {
        use aws_sdk_dynamodb::types::{
            Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        };
        let mut item = super::accounts::account_item(tenant, account)?;
        let expected_version = match previous {
            Some(previous) => {
                carry_region_attributes(previous, &mut item, &account.fields.regions);
                Some(crate::aws::codec::from_item::<_, Account>(previous.clone())?.version)
            }
            None => None,
        };
        let mut put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match expected_version {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", super::n(version)),
        };
        let put = put.build().map_err(crate::error::store_error)?;
        Ok(AccountWrite {
            account_id: account.account_id.clone(),
            item: TransactWriteItem::builder().put(put).build(),
        })
    }

    /// Send writes in transactions of 100, 16 at a time. Returns the ids
    /// written and those refused, each with the item its condition found.
    pub(super) async fn write_accounts(
        &self,
        writes: Vec<AccountWrite>,
    ) -> Result<(Vec<String>, Vec<(String, Option<Item>)>)> {
        use futures::StreamExt;
        let mut chunks: Vec<Vec<AccountWrite>> = Vec::new();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            chunks.push(writes.by_ref().take(IMPORT_TRANSACTION).collect());
        }
        let results: Vec<Result<ChunkOutcome>> = futures::stream::iter(chunks)
            .map(|chunk| self.write_import_chunk(chunk))
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        let (mut written, mut refused) = (Vec::new(), Vec::new());
        for result in results {
            let (done, not) = result?;
            written.extend(done);
            refused.extend(not);
        }
        Ok((written, refused))
    }
}

/// What the import says of an account that changed while it ran.
const CHANGED: &str = "this account changed during the import; import the file again";

use super::Item;
/// Written ids; refused ids with the item found.
type ChunkOutcome = (Vec<String>, Vec<(String, Option<Item>)>);

impl Store {
    /// One transaction of import writes. When conditions refuse some of
    /// its items, the cancellation reasons say which (and what they
    /// found): those are refused, and the others go again in a
    /// transaction of their own.
    async fn write_import_chunk(&self, chunk: Vec<AccountWrite>) -> Result<ChunkOutcome> {
        let mut refused = Vec::new();
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let items: Vec<_> = chunk.iter().map(|write| write.item.clone()).collect();
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok((chunk.into_iter().map(|w| w.account_id).collect(), refused)),
                Err(err) => err,
            };
            let reasons = super::cancellation_reasons(&err).unwrap_or_default();
            if reasons.len() != chunk.len() || !reasons.iter().any(|(failed, _)| *failed) {
                return Err(crate::aws::errors::from_sdk(err));
            }
            let mut rest = Vec::new();
            for (write, (failed, found)) in chunk.into_iter().zip(reasons) {
                if failed {
                    refused.push((write.account_id, found));
                } else {
                    rest.push(write);
                }
            }
            chunk = rest;
        }
        Ok((Vec::new(), refused))
    }
}

/// Each kept region's inventory status and when it was added, from the
/// item being replaced: a whole-item Put would lose the first and reset
/// the second.
fn carry_region_attributes(previous: &Item, next: &mut Item, regions: &[String]) {
    for region in regions {
        for attribute in [
            keys::region_sync_attribute(region),
            keys::region_added_attribute(region),
        ] {
            if let Some(value) = previous.get(&attribute) {
                next.insert(attribute, value.clone());
            }
        }
    }
}

/// One account of a transaction of whole-account Puts.
pub(super) struct AccountWrite {
    account_id: String,
    item: aws_sdk_dynamodb::types::TransactWriteItem,
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
