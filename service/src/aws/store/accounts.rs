//! Account items.

use super::expression::UpdateExpression;
use super::{is_condition_failure, item_key, keys, n, refused_item, s, Store};
use crate::account::{search_text, Account, AccountFields, RoleChange};
use crate::aws::schema;
use crate::listing::{self, compose_sort_value, Cursor, ListRequest, Order, Page, SortField};
use crate::scans::RegionAdded;
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

use super::Item;

/// Pages one filtered listing may read before it hands back a cursor.
const MAX_PAGES_PER_LIST: usize = 10;
const RESOURCE: &str = "account";

impl Store {
    /// Create-if-absent: a second account with the same id in the tenant is refused.
    pub async fn create_account(&self, tenant: &str, account: &Account) -> Result<()> {
        let item = account_item(tenant, account)?;
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The SDK retries a PutItem whose answer was lost; if the first
            // attempt landed, the item is ours: written by this very request
            // (its stamped request id), or, outside a request, exactly this
            // account (same external ID, same timestamps). That is success,
            // not a conflict.
            Err(err) if is_condition_failure(&err) => {
                let found = super::refused_item(&err);
                let ours = match (&found, super::origin::current()) {
                    (Some(item), Some((request_id, _))) => {
                        matches!(item.get("request_id"), Some(AttributeValue::S(id)) if *id == request_id)
                    }
                    (Some(item), None) => crate::aws::codec::from_item::<_, Account>(item.clone())
                        .is_ok_and(|stored| stored == *account),
                    (None, _) => false,
                };
                if ours {
                    Ok(())
                } else {
                    Err(Error::AlreadyExists {
                        resource: RESOURCE,
                        id: account.account_id.clone(),
                    })
                }
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    pub async fn get_account(&self, tenant: &str, account_id: &str) -> Result<Option<Account>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::account_sk(account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        output.item.map(crate::aws::codec::from_item).transpose()
    }

    /// Replace every caller-settable field in one conditional UpdateItem;
    /// with `expected_version`, only if the stored version still equals it.
    /// `role` says what becomes of a pending role (decided on the version
    /// read, so given with `expected_version`).
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_account_fields(
        &self,
        tenant: &str,
        account_id: &str,
        fields: &AccountFields,
        role: &RoleChange,
        expected_version: Option<u64>,
        actor: &str,
        now: Timestamp,
    ) -> Result<Account> {
        let replacement = Replacement {
            tenant,
            account_id,
            fields,
            role,
            expected_version,
            actor,
            now,
        };
        let request = replacement
            .expression()?
            .apply(self.update_account(tenant, account_id))
            .return_values(ReturnValue::AllNew);
        match super::stamp_update(request).send().await {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(Self::explain_refusal(
                refused_item(&err),
                account_id,
                expected_version,
                true,
                Self::version_mismatch(account_id, expected_version),
            )),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Delete an account; with `expected_version`, only at that version.
    pub async fn delete_account(
        &self,
        tenant: &str,
        account_id: &str,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let mut request = self
            .client
            .delete_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::account_sk(account_id)))
            .condition_expression(match expected_version {
                Some(_) => "attribute_exists(pk) AND #version = :expected",
                None => "attribute_exists(pk)",
            })
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        if let Some(version) = expected_version {
            request = request
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(version));
        }
        match request.send().await {
            Ok(_) => self.purge_account_data(tenant, account_id).await,
            Err(err) if is_condition_failure(&err) => Err(Self::explain_refusal(
                refused_item(&err),
                account_id,
                expected_version,
                false,
                Self::version_mismatch(account_id, expected_version),
            )),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// A conditional write on an account was refused: why, from the item
    /// the refusal returned (ReturnValuesOnConditionCheckFailure): absent
    /// (404), archived or departed (409, when `inactive_blocks`), at
    /// another version (412), else `otherwise`.
    pub(super) fn explain_refusal(
        current: Option<Item>,
        account_id: &str,
        expected_version: Option<u64>,
        inactive_blocks: bool,
        otherwise: Error,
    ) -> Error {
        let current: Option<Account> = match current.map(crate::aws::codec::from_item).transpose() {
            Ok(current) => current,
            Err(err) => return err,
        };
        match current {
            None => Error::NotFound {
                resource: RESOURCE,
                id: account_id.to_string(),
            },
            Some(account) if inactive_blocks && account.inactive().is_some() => {
                account.inactive().unwrap_or(otherwise)
            }
            Some(account) if expected_version.is_some_and(|v| v != account.version) => {
                Error::VersionMismatch {
                    resource: RESOURCE,
                    id: account_id.to_string(),
                    expected: expected_version.unwrap_or_default(),
                }
            }
            Some(_) => otherwise,
        }
    }

    /// The 412 of a refused write at `expected_version`.
    fn version_mismatch(account_id: &str, expected_version: Option<u64>) -> Error {
        Error::VersionMismatch {
            resource: RESOURCE,
            id: account_id.to_string(),
            expected: expected_version.unwrap_or_default(),
        }
    }

    /// Archive or unarchive. Archiving takes the account out of the due
    /// index; unarchiving puts it back, due now, if it has a role.
    /// Idempotent: an account already in that state is returned as it is.
    pub async fn set_archived(
        &self,
        tenant: &str,
        account_id: &str,
        archive: bool,
        now: Timestamp,
    ) -> Result<Account> {
        for _ in 0..5 {
            let current =
                self.get_account(tenant, account_id)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        resource: RESOURCE,
                        id: account_id.to_string(),
                    })?;
            if current.archived_at.is_some() == archive {
                return Ok(current);
            }
            let mut request = self
                .update_account(tenant, account_id)
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#archived", "archived_at")
                .expression_attribute_values(":expected", n(current.version))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::AllNew);
            let due_names = |request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
                request
                    .expression_attribute_names("#due_shard", schema::DUE_SHARD)
                    .expression_attribute_names("#due_at", schema::DUE_AT)
                    .expression_attribute_names("#credential", "credential")
                    .expression_attribute_names("#next", "next_verification_at")
            };
            request = if archive {
                due_names(request)
                    .update_expression(
                        "SET #archived = :now, #version = #version + :one REMOVE #due_shard, #due_at, #credential.#next",
                    )
                    .expression_attribute_values(":now", s(now.to_string()))
            } else if current.fields.role_arn.is_some() && current.departed.is_none() {
                due_names(request)
                    .update_expression(
                        "SET #version = #version + :one, #due_shard = :shard, #due_at = :now, #credential.#next = :now REMOVE #archived",
                    )
                    .expression_attribute_values(":shard", s(schema::due_shard(tenant, account_id)))
                    .expression_attribute_values(":now", s(now.to_string()))
            } else {
                request.update_expression("SET #version = #version + :one REMOVE #archived")
            };
            match super::stamp_update(request).send().await {
                Ok(output) => {
                    return crate::aws::codec::from_item(output.attributes.unwrap_or_default())
                }
                // Written meanwhile: read again and retry.
                Err(err) if is_condition_failure(&err) => continue,
                Err(err) => return Err(crate::aws::errors::from_sdk(err)),
            }
        }
        Err(Error::Conflict(format!(
            "account '{account_id}' kept changing; retry"
        )))
    }

    /// One page of the accounts linked to `parent` (by account id), from
    /// the sparse `by-parent` index.
    pub async fn linked_accounts(
        &self,
        tenant: &str,
        parent: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Account>> {
        let output = self
            .client
            .query()
            .table_name(self.table())
            .index_name(schema::PARENT_INDEX)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(#parent, :prefix)")
            .expression_attribute_names("#parent", schema::PARENT_KEY)
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(compose_sort_value(parent, "")))
            .set_exclusive_start_key(after.map(|child| {
                HashMap::from([
                    ("pk".to_string(), s(keys::tenant_pk(tenant))),
                    ("sk".to_string(), s(keys::account_sk(child))),
                    (
                        schema::PARENT_KEY.to_string(),
                        s(compose_sort_value(parent, child)),
                    ),
                ])
            }))
            .limit(limit as i32 + 1)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let mut items: Vec<Account> = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(crate::aws::codec::from_item)
            .collect::<std::result::Result<_, _>>()?;
        let more =
            items.len() > limit || (items.len() == limit && output.last_evaluated_key.is_some());
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|a| a.account_id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// One page of a tenant's accounts. Unfiltered: one Query of `limit + 1`
    /// items. Filtered: Query pages until the page is full. `account_id`
    /// filters: one BatchGetItem.
    pub async fn list_accounts(
        &self,
        tenant: &str,
        request: &ListRequest,
    ) -> Result<Page<Account>> {
        if !request.filter.account_ids.is_empty() {
            let accounts = self
                .batch_get_accounts(tenant, &request.filter.account_ids)
                .await?;
            return Ok(listing::page_in_memory(accounts, request));
        }
        let wanted = request.limit + 1;
        let unfiltered = request.filter.is_empty();
        let mut start_key = request
            .after
            .as_ref()
            .map(|cursor| exclusive_start_key(tenant, cursor));
        let mut found: Vec<Account> = Vec::with_capacity(wanted.min(128));
        let mut pages = 0;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(self.table())
                .consistent_read(true)
                .scan_index_forward(request.order == Order::Asc)
                .set_exclusive_start_key(start_key.take())
                .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)));
            query = match request.sort.index() {
                Some((index, _)) => query.index_name(index).key_condition_expression("pk = :pk"),
                None => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(keys::ACCOUNT_PREFIX)),
            };
            if unfiltered {
                query = query.limit((wanted - found.len()) as i32);
            }
            let output = query.send().await.map_err(crate::aws::errors::from_sdk)?;
            pages += 1;
            for item in output.items.unwrap_or_default() {
                let account: Account = crate::aws::codec::from_item(item)?;
                if request.filter.matches(&account) {
                    found.push(account);
                    if found.len() == wanted {
                        break;
                    }
                }
            }
            if found.len() == wanted {
                found.truncate(request.limit);
                let last = found.last().expect("limit is at least 1");
                let next = Cursor::after(last, request.sort, request.order).encode();
                return Ok(Page {
                    items: found,
                    next_cursor: Some(next),
                });
            }
            match output.last_evaluated_key {
                None => {
                    return Ok(Page {
                        items: found,
                        next_cursor: None,
                    })
                }
                Some(key) if pages >= MAX_PAGES_PER_LIST => {
                    // A selective filter over a large tenant: hand back what
                    // we have and a cursor to continue where the reads stopped.
                    let cursor = cursor_from_key(&key, request.sort, request.order)?;
                    return Ok(Page {
                        items: found,
                        next_cursor: Some(cursor.encode()),
                    });
                }
                Some(key) => start_key = Some(key),
            }
        }
    }

    /// Up to 100 accounts by id in one BatchGetItem (plus retries of
    /// unprocessed keys). Missing ids are simply absent from the result.
    pub async fn batch_get_accounts(
        &self,
        tenant: &str,
        account_ids: &[String],
    ) -> Result<Vec<Account>> {
        self.batch_get_account_items(tenant, account_ids)
            .await?
            .into_iter()
            .map(crate::aws::codec::from_item)
            .collect()
    }

    /// The stored items of accounts by id, 100 keys a BatchGetItem, eight
    /// at once (with what the `Account` type does not hold: region
    /// statuses).
    pub(super) async fn batch_get_account_items(
        &self,
        tenant: &str,
        account_ids: &[String],
    ) -> Result<Vec<Item>> {
        use futures::StreamExt;
        let mut ids: Vec<&String> = account_ids.iter().collect();
        ids.sort();
        ids.dedup();
        // 100 keys a call (DynamoDB's limit), eight calls at once.
        let chunks: Vec<Vec<String>> = ids
            .chunks(100)
            .map(|chunk| chunk.iter().map(|id| id.to_string()).collect())
            .collect();
        let chunks: Vec<Result<Vec<Item>>> = futures::stream::iter(chunks)
            .map(|chunk| async move { self.batch_get_chunk(tenant, &chunk).await })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut items = Vec::with_capacity(ids.len());
        for chunk in chunks {
            items.extend(chunk?);
        }
        Ok(items)
    }

    /// One BatchGetItem of at most 100 accounts.
    async fn batch_get_chunk(&self, tenant: &str, chunk: &[String]) -> Result<Vec<Item>> {
        let keys = chunk
            .iter()
            .map(|id| item_key(tenant, keys::account_sk(id)))
            .collect();
        self.batch_get(keys).await
    }
}

impl Store {
    /// Write accounts as they are, unconditionally, with BatchWriteItem:
    /// for loading a benchmark or a migration, never a request path (it
    /// overwrites whatever is there).
    pub async fn bulk_load_accounts(&self, tenant: &str, accounts: &[Account]) -> Result<()> {
        let requests = accounts
            .iter()
            .map(|account| super::put_request(account_item(tenant, account)?))
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await
    }
}

/// A replacement of an account's fields, as one UpdateItem.
struct Replacement<'a> {
    tenant: &'a str,
    account_id: &'a str,
    fields: &'a AccountFields,
    role: &'a RoleChange,
    expected_version: Option<u64>,
    actor: &'a str,
    now: Timestamp,
}

impl Replacement<'_> {
    /// Each field set or removed, and every attribute derived from the
    /// fields kept in step (search text, sort keys, index partitions, when
    /// each region joined, the due index); on a live account, at the
    /// expected version if one is given.
    // Long: one line per derived attribute the replacement keeps in step with the fields.
    fn expression(&self) -> Result<UpdateExpression> {
        let (tenant, account_id, fields, now) =
            (self.tenant, self.account_id, self.fields, self.now);
        let mut update = UpdateExpression::default();
        match self.role {
            RoleChange::Keep => {}
            RoleChange::Replace => {
                update.remove(&["pending_role_arn"]);
                update.remove(&["pending_role_credential"]);
            }
            RoleChange::Pending(next) => {
                update.set(&["pending_role_arn"], s(next.clone()));
                update.remove(&["pending_role_credential"]);
            }
        }
        let mut values: Item = crate::aws::codec::to_item(fields)?;
        for name in AccountFields::NAMES {
            update.set_or_remove(&[name], values.remove(name));
        }
        let name_key = SortField::Name.index().expect("name index").1;
        let updated_key = SortField::UpdatedAt.index().expect("updated index").1;
        update
            .set(&["updated_at"], s(now.to_string()))
            .set(&["updated_by"], s(self.actor))
            .set(&["search_text"], s(search_text(account_id, fields)))
            .set(
                &[name_key],
                s(compose_sort_value(&fields.name.to_lowercase(), account_id)),
            )
            .set(
                &[updated_key],
                s(compose_sort_value(&now.to_string(), account_id)),
            );
        // A role is (re)verified at once after every change; without one
        // the account leaves the due index.
        let due = fields.role_arn.is_some();
        update
            .set_or_remove(
                &[schema::DUE_SHARD],
                due.then(|| s(schema::due_shard(tenant, account_id))),
            )
            .set_or_remove(&[schema::DUE_AT], due.then(|| s(now.to_string())))
            .set_or_remove(
                &["credential", "next_verification_at"],
                due.then(|| s(now.to_string())),
            )
            .set_or_remove(
                &[schema::ENVIRONMENT_KEY],
                fields
                    .environment
                    .map(|environment| s(schema::environment_partition(tenant, environment))),
            )
            .set_or_remove(
                &[schema::PARENT_KEY],
                fields
                    .parent_account_id
                    .as_ref()
                    .map(|parent| s(compose_sort_value(parent, account_id))),
            );
        // When each region joined the list, kept while it stays there.
        let added: AttributeValue = crate::aws::codec::to_attribute_value(RegionAdded {
            at: now,
            by: self.actor.to_string(),
        })?;
        for region in crate::regions::REGIONS.iter() {
            let attribute = keys::region_added_attribute(region.id);
            if fields.regions.iter().any(|r| r == region.id) {
                update.set_if_absent(&[&attribute], added.clone());
            } else {
                update.remove(&[&attribute]);
            }
        }
        update
            .increment("version", 1)
            .require_present("pk")
            .require_absent("archived_at")
            .require_absent("departed");
        if let Some(version) = self.expected_version {
            update.require_equal("version", n(version));
        }
        Ok(update)
    }
}

/// The full item: the account, its keys and the derived index attributes.
/// (Public for the bench, whose raw baseline writes the very same items.)
pub fn account_item(tenant: &str, account: &Account) -> Result<Item> {
    let mut item: Item = crate::aws::codec::to_item(account)?;
    item.insert("pk".into(), s(keys::tenant_pk(tenant)));
    item.insert("sk".into(), s(keys::account_sk(&account.account_id)));
    item.insert("type".into(), s("account"));
    item.insert("search_text".into(), s(account.search_text()));
    super::stamp_item(&mut item);
    for (attribute, value) in listing::index_attributes(account) {
        item.insert(attribute.into(), s(value));
    }
    item.insert(
        schema::STATUS_KEY.into(),
        s(schema::status_partition(
            tenant,
            account.credential.verification_status,
        )),
    );
    if let Some(environment) = account.fields.environment {
        item.insert(
            schema::ENVIRONMENT_KEY.into(),
            s(schema::environment_partition(tenant, environment)),
        );
    }
    if let Some(parent) = &account.fields.parent_account_id {
        item.insert(
            schema::PARENT_KEY.into(),
            s(compose_sort_value(parent, &account.account_id)),
        );
    }
    for region in &account.fields.regions {
        item.insert(
            keys::region_added_attribute(region),
            crate::aws::codec::to_attribute_value(RegionAdded {
                at: account.created_at,
                by: account.created_by.clone(),
            })?,
        );
    }
    if let Some(due) = account.credential.next_verification_at {
        item.insert(
            schema::DUE_SHARD.into(),
            s(schema::due_shard(tenant, &account.account_id)),
        );
        item.insert(schema::DUE_AT.into(), s(due.to_string()));
    }
    Ok(item)
}

fn exclusive_start_key(tenant: &str, cursor: &Cursor) -> Item {
    let account_id = listing::account_id_of_sort_value(&cursor.last_value);
    let mut key = HashMap::from([
        ("pk".to_string(), s(keys::tenant_pk(tenant))),
        ("sk".to_string(), s(keys::account_sk(account_id))),
    ]);
    if let Some((_, attribute)) = cursor.sort.index() {
        key.insert(attribute.to_string(), s(cursor.last_value.clone()));
    }
    key
}

fn cursor_from_key(key: &Item, sort: SortField, order: Order) -> Result<Cursor> {
    let text = |name: &str| match key.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(Error::store(format!("LastEvaluatedKey lacks {name}"))),
    };
    let last_value = match sort.index() {
        Some((_, attribute)) => text(attribute)?,
        None => text("sk")?
            .trim_start_matches(keys::ACCOUNT_PREFIX)
            .to_string(),
    };
    Ok(Cursor {
        sort,
        order,
        last_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacement_of(fields: &AccountFields, expected_version: Option<u64>) -> String {
        Replacement {
            tenant: "t1",
            account_id: "123456789012",
            fields,
            role: &RoleChange::Replace,
            expected_version,
            actor: "key1",
            now: Timestamp::parse("2026-01-02T03:04:05Z").unwrap(),
        }
        .expression()
        .unwrap()
        .rendered()
    }

    #[test]
    fn a_replacement_keeps_every_derived_attribute_in_step() {
        let fields = AccountFields {
            name: "Prod".into(),
            environment: Some(crate::account::Environment::Prod),
            regions: vec!["eu-west-1".into()],
            role_arn: Some("arn:aws:iam::123456789012:role/Audit".into()),
            ..AccountFields::default()
        };
        let text = replacement_of(&fields, Some(7));
        for expected in [
            "name = 'Prod'",
            "search_text = 'prod\n123456789012'",
            "due_shard = 'DUE#",
            "due_at = '2026-01-02T03:04:05",
            "credential.next_verification_at = '2026-01-02T03:04:05",
            "gsi_environment = 't1#PROD'",
            "radded:eu-west-1 = if_not_exists(radded:eu-west-1,",
            "version = version + 1",
            "IF attribute_exists(pk) AND attribute_not_exists(archived_at) AND attribute_not_exists(departed) AND version = 7",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        for removed in [
            "owner_email",
            "lsi_parent",
            "radded:us-east-1",
            "pending_role_arn",
        ] {
            let remove = &text[text.find("REMOVE").unwrap()..text.find(" IF ").unwrap()];
            assert!(remove.contains(removed), "{removed} not removed: {remove}");
        }
    }

    #[test]
    fn without_a_role_the_account_leaves_the_due_index() {
        let fields = AccountFields {
            name: "Sandbox".into(),
            ..AccountFields::default()
        };
        let text = replacement_of(&fields, None);
        let remove = &text[text.find("REMOVE").unwrap()..text.find(" IF ").unwrap()];
        for removed in [
            "due_shard",
            "due_at",
            "credential.next_verification_at",
            "gsi_environment",
        ] {
            assert!(remove.contains(removed), "{removed} not removed: {remove}");
        }
        assert!(!text.contains("version = 7") && text.ends_with("attribute_not_exists(departed)"));
    }
}
