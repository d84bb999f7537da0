//! The DynamoDB repository: one table, tenant-prefixed partitions.
//!
//! | item       | pk            | sk                 |
//! |------------|---------------|--------------------|
//! | tenant     | `T#<tenant>`  | `TENANT`           |
//! | API key    | `T#<tenant>`  | `KEY#<key id>`     |
//! | account    | `T#<tenant>`  | `ACCOUNT#<id>`     |
//! | attachment | `T#<tenant>`  | `DS#<account id>#<data source>` |
//! | scan       | `T#<tenant>`  | `ACCT#<account id>#SCAN#<scan id>` |
//! | finding    | `T#<tenant>`  | `ACCT#<account id>#FINDING#<data source>#<finding id>` |
//! | audit event | `T#<tenant>` | `AUDIT#<time>#<sequence>#<event id>` |
//! | webhook    | `T#<tenant>`  | `WEBHOOK#<webhook id>` |
//! | delivery   | `T#<tenant>`  | `DELIVERY#<webhook id>#<delivery id>` |
//! | organization | `T#<tenant>` | `ORG#<organization id>` |
//! | organization member | `T#<tenant>` | `ORGMEMBER#<organization id>#<account id>` |
//! | idempotency key | `T#<tenant>` | `IDEM#<API key id>#<key digest>` |
//!
//! Region status lives on the account item, one attribute per region
//! (`rsync:<region>`, `radded:<region>`), so one GetItem answers
//! `GET /regions` and no nested map has to exist before a write.
//!
//! Every request path is a GetItem, a Query, a BatchGetItem, a conditional
//! write or a transaction. Nothing here ever scans.

mod access;
mod accounts;
mod api_keys;
mod audit;
mod bulk;
mod deliveries;
mod expression;
mod external_scans;
mod idempotency;
mod onboarding;
mod organizations;
pub mod origin;
mod product_numbers;
mod quota;
mod region_runs;
mod reservations;
mod scans;
mod search;
mod suppression_rules;
mod tenant;
mod triage;
mod verification;
mod webhooks;

use crate::Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, WriteRequest};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub use accounts::account_item;
pub use api_keys::KeyRevocation;
pub use audit::{AuditFilter, EXPIRES_AT};
pub use bulk::{BatchDeleteCode, BatchDeleteFailure, BatchDeleteOutcome, ImportOutcome};
pub use external_scans::{DueSchedule, ExternalRefusal, PageClaim, DEADLINE_SHARD};
pub use onboarding::OnboardingContext;
pub use organizations::MAX_ORGANIZATIONS;
pub use quota::ATTEMPTS as QUOTA_ATTEMPTS;
pub use scans::{AccountRegions, Claim, ScanContext};
pub use triage::{finding_item, FindingsOrder};
pub use verification::{DueAccount, DuePage, VerificationWrite};

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: Arc<str>,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<Arc<str>>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Store {
    /// An UpdateItem of one account: its table and key, the rest to add.
    fn update_account(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::account_sk(account_id)))
            // A refused condition says why with the item itself: no GetItem.
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
    }

    /// Every item of a tenant whose sort key starts with `prefix`, in
    /// Query pages of the tenant partition.
    async fn query_prefix<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> crate::Result<Vec<T>> {
        self.query_prefix_with(tenant, prefix, false).await
    }

    /// [`Store::query_prefix`], read `consistent`ly when asked.
    async fn query_prefix_with<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
        consistent: bool,
    ) -> crate::Result<Vec<T>> {
        let mut items = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(consistent)
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = items.next().await {
            found.push(crate::aws::codec::from_item(
                item.map_err(crate::aws::errors::from_sdk)?,
            )?);
        }
        Ok(found)
    }
}

impl Store {
    /// Delete the tenant's items with these sort keys (BatchWriteItem;
    /// nothing is sent for none).
    async fn delete_items(
        &self,
        tenant: &str,
        sort_keys: impl IntoIterator<Item = String>,
    ) -> crate::Result<()> {
        let deletes = sort_keys
            .into_iter()
            .map(|sk| delete_request(tenant, sk))
            .collect::<crate::Result<Vec<_>>>()?;
        self.batch_write(deletes).await
    }

    /// BatchWriteItem in calls of 25 (DynamoDB's limit), 16 at once (as
    /// the account transactions go), retrying unprocessed items with
    /// backoff.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> crate::Result<()> {
        use futures::StreamExt;
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
        let results: Vec<crate::Result<()>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn batch_write_chunk(&self, mut pending: Vec<WriteRequest>) -> crate::Result<()> {
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let output = self
                .client
                .batch_write_item()
                .request_items(self.table(), pending)
                .send()
                .await
                .map_err(crate::aws::errors::from_sdk)?;
            pending = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(self.table()))
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > 8 {
                    return Err(Error::unavailable(
                        "BatchWriteItem kept leaving items unprocessed",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(5))).await;
            }
        }
        Ok(())
    }

    /// One BatchGetItem of at most 100 keys (consistent reads), retrying
    /// unprocessed keys with backoff. Missing items are simply absent.
    async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> crate::Result<Vec<HashMap<String, AttributeValue>>> {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(crate::error::store_error)?,
        );
        let mut items = Vec::new();
        let mut attempt = 0u32;
        while let Some(request) = pending.take() {
            let output = self
                .client
                .batch_get_item()
                .request_items(self.table(), request)
                .send()
                .await
                .map_err(crate::aws::errors::from_sdk)?;
            items.extend(
                output
                    .responses
                    .and_then(|mut tables| tables.remove(self.table()))
                    .unwrap_or_default(),
            );
            pending = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(self.table()))
                .filter(|rest| !rest.keys.is_empty());
            if pending.is_some() {
                attempt += 1;
                if attempt > 8 {
                    return Err(Error::unavailable(
                        "BatchGetItem kept leaving keys unprocessed",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(5))).await;
            }
        }
        Ok(items)
    }

    /// One Query page of the tenant's items whose sort key starts with
    /// `prefix`, after `after` (a sort key), with an optional filter.
    /// Returns the items and the sort key to continue from.
    async fn query_page(
        &self,
        tenant: &str,
        prefix: &str,
        page: PageRequest<'_>,
    ) -> crate::Result<(Vec<HashMap<String, AttributeValue>>, Option<String>)> {
        let mut query = self
            .client
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .scan_index_forward(page.forward)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(prefix))
            .set_exclusive_start_key(page.after.map(|sk| item_key(tenant, sk.to_string())));
        if let Some(limit) = page.limit {
            query = query.limit(limit as i32);
        }
        if let Some(filter) = page.filter {
            query = query.filter_expression(filter.expression);
            for (name, value) in filter.names {
                query = query.expression_attribute_names(name, value);
            }
            for (name, value) in filter.values {
                query = query.expression_attribute_values(name, value);
            }
        }
        let output = query.send().await.map_err(crate::aws::errors::from_sdk)?;
        let next = output
            .last_evaluated_key
            .and_then(|mut key| key.remove("sk"))
            .and_then(|sk| sk.as_s().ok().cloned());
        Ok((output.items.unwrap_or_default(), next))
    }
}

/// A string attribute of an item, if it is one.
fn text_of(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

impl Store {
    /// Items of one due-index shard due by `now`, oldest first, at most
    /// `limit`, with the attributes of `projection` (Query pages of 100).
    async fn due_items(
        &self,
        shard: &str,
        now: crate::time::Timestamp,
        limit: usize,
        projection: &str,
    ) -> crate::Result<Vec<Item>> {
        use crate::aws::schema::{DUE_AT, DUE_INDEX, DUE_SHARD};
        let mut due = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.table())
                .index_name(DUE_INDEX)
                .key_condition_expression("#shard = :shard AND #due <= :now")
                .expression_attribute_names("#shard", DUE_SHARD)
                .expression_attribute_names("#due", DUE_AT)
                .expression_attribute_values(":shard", s(shard))
                .expression_attribute_values(":now", s(now.to_string()))
                .projection_expression(projection)
                .limit((limit - due.len()).min(100) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(crate::aws::errors::from_sdk)?;
            due.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() || due.len() >= limit {
                return Ok(due);
            }
        }
    }
}

/// What [`Store::query_page`] reads.
#[derive(Default)]
struct PageRequest<'a> {
    after: Option<&'a str>,
    limit: Option<usize>,
    forward: bool,
    filter: Option<Filter>,
}

/// A FilterExpression with its names and values.
#[derive(Clone, Default)]
struct Filter {
    expression: String,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

/// The primary key of a tenant's item.
/// A transaction's Put of `item`, only if no item has its key.
fn put_if_absent(
    table: &str,
    item: Item,
) -> crate::Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(sk)")
        .build()
        .map_err(crate::error::store_error)?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(put)
        .build())
}

fn item_key(tenant: &str, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(keys::tenant_pk(tenant))),
        ("sk".to_string(), s(sk)),
    ])
}

/// A BatchWriteItem entry that puts `item`.
fn put_request(item: Item) -> crate::Result<WriteRequest> {
    let put = aws_sdk_dynamodb::types::PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(crate::error::store_error)?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_request(tenant: &str, sk: String) -> crate::Result<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(item_key(tenant, sk)))
        .build()
        .map_err(crate::error::store_error)?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// Sort keys of every item type (callers use them to check cursors).
pub mod keys {
    pub const TENANT_SK: &str = "TENANT";
    pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";
    pub const KEY_PREFIX: &str = "KEY#";
    pub const AUDIT_PREFIX: &str = "AUDIT#";
    pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";
    /// A tenant's suppression rules, by rule id.
    pub const SUPPRESSION_RULE_PREFIX: &str = "SRULE#";

    pub fn suppression_rule_sk(rule_id: &str) -> String {
        format!("{SUPPRESSION_RULE_PREFIX}{rule_id}")
    }

    /// An account's partition of the per-account severity index.
    pub fn account_findings_pk(tenant: &str, account_id: &str) -> String {
        format!("T#{tenant}#{account_id}")
    }
    pub const DELIVERY_PREFIX: &str = "DELIVERY#";
    pub const ORGANIZATION_PREFIX: &str = "ORG#";

    pub fn organization_sk(organization_id: &str) -> String {
        format!("{ORGANIZATION_PREFIX}{organization_id}")
    }

    /// The members of one organization, by account id.
    pub fn organization_members_prefix(organization_id: &str) -> String {
        format!("ORGMEMBER#{organization_id}#")
    }

    pub fn organization_member_sk(organization_id: &str, account_id: &str) -> String {
        format!(
            "{}{account_id}",
            organization_members_prefix(organization_id)
        )
    }

    /// An endpoint's deliveries, sorted by the event's time.
    pub fn deliveries_prefix(webhook_id: &str) -> String {
        format!("{DELIVERY_PREFIX}{webhook_id}#")
    }

    pub fn delivery_sk(webhook_id: &str, delivery_id: &str) -> String {
        format!("{}{delivery_id}", deliveries_prefix(webhook_id))
    }

    pub fn webhook_sk(webhook_id: &str) -> String {
        format!("{WEBHOOK_PREFIX}{webhook_id}")
    }

    /// An audit event: sorted by time, then by stream position (for
    /// changes within one second), unique by event id.
    pub fn audit_sk(time: &str, sequence: &str, event_id: &str) -> String {
        format!("{AUDIT_PREFIX}{time}#{sequence}#{event_id}")
    }

    pub fn tenant_pk(tenant: &str) -> String {
        format!("T#{tenant}")
    }

    /// The tenant of a partition key.
    pub fn tenant_of_pk(pk: &str) -> &str {
        pk.strip_prefix("T#").unwrap_or(pk)
    }

    pub fn account_sk(account_id: &str) -> String {
        format!("{ACCOUNT_PREFIX}{account_id}")
    }

    /// An Idempotency-Key of one API key, by its digest.
    pub fn idempotency_sk(key_id: &str, key_digest: &str) -> String {
        format!("IDEM#{key_id}#{key_digest}")
    }

    pub fn api_key_sk(key_id: &str) -> String {
        format!("{KEY_PREFIX}{key_id}")
    }

    /// Every data source attached to one account.
    pub fn attachments_prefix(account_id: &str) -> String {
        format!("DS#{account_id}#")
    }

    pub fn attachment_sk(account_id: &str, data_source: &str) -> String {
        format!("DS#{account_id}#{data_source}")
    }

    /// Everything an account's scans produced (scans, findings).
    pub fn account_data_prefix(account_id: &str) -> String {
        format!("ACCT#{account_id}#")
    }

    /// An account's access log, by time then operation id.
    pub fn access_prefix(account_id: &str) -> String {
        format!("ACCT#{account_id}#ACCESS#")
    }

    pub fn access_sk(account_id: &str, at: &str, operation_id: &str) -> String {
        format!("ACCT#{account_id}#ACCESS#{at}#{operation_id}")
    }

    /// An account's verification history, by time.
    pub fn verifications_prefix(account_id: &str) -> String {
        format!("ACCT#{account_id}#VERIFY#")
    }

    pub fn verification_sk(account_id: &str, at: &str) -> String {
        format!("ACCT#{account_id}#VERIFY#{at}")
    }

    pub fn scans_prefix(account_id: &str) -> String {
        format!("ACCT#{account_id}#SCAN#")
    }

    pub fn scan_sk(account_id: &str, scan_id: &str) -> String {
        format!("ACCT#{account_id}#SCAN#{scan_id}")
    }

    /// Findings of one account; of one data source with `Some`.
    pub fn findings_prefix(account_id: &str, data_source: Option<&str>) -> String {
        match data_source {
            Some(source) => format!("ACCT#{account_id}#FINDING#{source}#"),
            None => format!("ACCT#{account_id}#FINDING#"),
        }
    }

    pub fn finding_sk(account_id: &str, data_source: &str, finding_id: &str) -> String {
        format!("ACCT#{account_id}#FINDING#{data_source}#{finding_id}")
    }

    /// Account attribute holding a region's inventory sync status.
    pub fn region_sync_attribute(region: &str) -> String {
        format!("rsync:{region}")
    }

    /// Account attribute recording when a region was added and by whom.
    pub fn region_added_attribute(region: &str) -> String {
        format!("radded:{region}")
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The attributes that say which API request wrote an item: its
/// `request_id` and, once authenticated, its caller as `updated_by`.
/// Nothing outside a request ([`origin`]).
fn origin_attributes() -> Vec<(&'static str, AttributeValue)> {
    let Some((request_id, actor)) = origin::current() else {
        return Vec::new();
    };
    let mut attributes = vec![("request_id", s(request_id))];
    if let Some(actor) = actor {
        attributes.push(("updated_by", s(actor)));
    }
    attributes
}

/// Stamp an item about to be put with [`origin_attributes`].
fn stamp_item(item: &mut Item) {
    item.extend(
        origin_attributes()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value)),
    );
}

/// An update request, alone or in a transaction, as [`stamp_update`]
/// reads and extends it.
trait StampableUpdate: Sized {
    fn expression(&self) -> String;
    fn aliased(&self) -> Vec<String>;
    fn with_origin(self, name: &str, value: AttributeValue) -> Self;
    fn with_expression(self, expression: String) -> Self;
}

macro_rules! stampable_update {
    ($builder:ty) => {
        impl StampableUpdate for $builder {
            fn expression(&self) -> String {
                self.get_update_expression().clone().unwrap_or_default()
            }

            fn aliased(&self) -> Vec<String> {
                self.get_expression_attribute_names()
                    .as_ref()
                    .map(|names| names.values().cloned().collect())
                    .unwrap_or_default()
            }

            fn with_origin(self, name: &str, value: AttributeValue) -> Self {
                self.expression_attribute_names(format!("#origin_{name}"), name)
                    .expression_attribute_values(format!(":origin_{name}"), value)
            }

            fn with_expression(self, expression: String) -> Self {
                self.update_expression(expression)
            }
        }
    };
}

stampable_update!(aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder);
stampable_update!(aws_sdk_dynamodb::types::builders::UpdateBuilder);

/// Add [`origin_attributes`] to an update whose expression is set (as
/// `#origin_<name> = :origin_<name>` in its SET clause).
fn stamp_update<U: StampableUpdate>(mut update: U) -> U {
    // An attribute the update already sets (`updated_by`, by name or
    // through an alias) keeps its value: one path may be set only once.
    let expression = update.expression();
    let aliased = update.aliased();
    let attributes: Vec<_> = origin_attributes()
        .into_iter()
        .filter(|(name, _)| {
            !aliased.iter().any(|a| a == name) && !expression.contains(&format!("{name} ="))
        })
        .collect();
    if attributes.is_empty() {
        return update;
    }
    let sets: Vec<String> = attributes
        .iter()
        .map(|(name, _)| format!("#origin_{name} = :origin_{name}"))
        .collect();
    let expression = with_sets(&expression, &sets);
    for (name, value) in attributes {
        update = update.with_origin(name, value);
    }
    update.with_expression(expression)
}

/// `expression` with `sets` added to its SET clause (or a SET clause
/// added, when it has none).
fn with_sets(expression: &str, sets: &[String]) -> String {
    let added = sets.join(", ");
    match expression.find("SET ") {
        Some(at) => format!(
            "{}SET {added}, {}",
            &expression[..at],
            &expression[at + "SET ".len()..]
        ),
        None => format!("SET {added} {expression}").trim_end().to_string(),
    }
}

/// True when a write was refused by its condition expression.
fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some("ConditionalCheckFailedException"))
}

/// Whether a conditional write was applied: `false` when its condition
/// refused it (for best-effort and take-once writes that is an answer, not
/// an error), an error for anything else.
fn applied<T, E>(
    result: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> crate::Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(crate::aws::errors::from_sdk(err)),
    }
}

/// The item a refused conditional write found (with
/// ReturnValuesOnConditionCheckFailure = ALL_OLD); `None` when there was
/// none, or the error is not a refused condition.
trait RefusedItem {
    fn refused_item(&self) -> Option<HashMap<String, AttributeValue>>;
}

impl RefusedItem for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn refused_item(&self) -> Option<HashMap<String, AttributeValue>> {
        match self {
            Self::ConditionalCheckFailedException(refused) => refused.item.clone(),
            _ => None,
        }
    }
}

impl RefusedItem for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn refused_item(&self) -> Option<HashMap<String, AttributeValue>> {
        match self {
            Self::ConditionalCheckFailedException(refused) => refused.item.clone(),
            _ => None,
        }
    }
}

impl RefusedItem for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    fn refused_item(&self) -> Option<HashMap<String, AttributeValue>> {
        match self {
            Self::ConditionalCheckFailedException(refused) => refused.item.clone(),
            _ => None,
        }
    }
}

impl RefusedItem for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError {
    /// The item of the transaction's first action (the account check)
    /// when that action's condition failed.
    fn refused_item(&self) -> Option<HashMap<String, AttributeValue>> {
        match self {
            Self::TransactionCanceledException(cancelled) => cancelled
                .cancellation_reasons()
                .first()
                .filter(|reason| reason.code() == Some("ConditionalCheckFailed"))
                .and_then(|reason| reason.item.clone()),
            _ => None,
        }
    }
}

fn refused_item<E: RefusedItem, R>(
    err: &SdkError<E, R>,
) -> Option<HashMap<String, AttributeValue>> {
    err.as_service_error().and_then(RefusedItem::refused_item)
}

/// Which actions of a cancelled transaction its conditions refused, in
/// the order of the actions, each with the item its condition found (when
/// asked for with ReturnValuesOnConditionCheckFailure); `None` when the
/// error is not a cancellation.
fn cancellation_reasons<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<(bool, Option<Item>)>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| {
                    (
                        reason.code() == Some("ConditionalCheckFailed"),
                        reason.item.clone(),
                    )
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Whether the first action of a cancelled transaction (the account
/// check) is the one whose condition failed.
fn first_action_refused<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    cancellation_reasons(err)
        .is_some_and(|reasons| reasons.first().is_some_and(|(refused, _)| *refused))
}

/// True when a transaction was cancelled because a condition failed.
fn is_transaction_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(service)
        if service.err().code() == Some("TransactionCanceledException")
            && service.err().message().is_some_and(|m| m.contains("ConditionalCheckFailed")))
}

#[cfg(test)]
mod origin_tests {
    use super::with_sets;

    #[test]
    fn origin_attributes_join_the_set_clause_wherever_it_is() {
        let sets = ["#a = :a".to_string()];
        assert_eq!(
            with_sets("SET x = :x REMOVE y", &sets),
            "SET #a = :a, x = :x REMOVE y"
        );
        assert_eq!(with_sets("REMOVE y", &sets), "SET #a = :a REMOVE y");
        assert_eq!(
            with_sets("REMOVE y SET x = :x", &sets),
            "REMOVE y SET #a = :a, x = :x"
        );
    }
}
