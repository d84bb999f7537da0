//! The DynamoDB repository: one table, tenant-prefixed partitions.
//!
//! | item       | pk            | sk                 |
//! |------------|---------------|--------------------|
//! | tenant     | `T#<tenant>`  | `TENANT`           |
//! | API key    | `T#<tenant>`  | `KEY#<key id>`     |
//! | account    | `T#<tenant>`  | `ACCOUNT#<id>`     |
//!
//! Every request path is a GetItem, a Query, a BatchGetItem, a conditional
//! write or a transaction. Nothing here ever scans.

mod accounts;
mod api_keys;
mod fleet;
mod verification;

use crate::Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;

pub use api_keys::KeyRevocation;
pub use fleet::{BatchDeleteOutcome, ImportOutcome};
pub use verification::{DueAccount, DuePage};

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
    }

    /// Every item of a tenant whose sort key starts with `prefix`, in
    /// Query pages of the tenant partition.
    async fn query_prefix<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> crate::Result<Vec<T>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(Error::from_sdk)?;
            for item in output.items.unwrap_or_default() {
                found.push(serde_dynamo::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}

pub(crate) mod keys {
    pub const TENANT_SK: &str = "TENANT";
    pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";
    pub const KEY_PREFIX: &str = "KEY#";

    pub fn tenant_pk(tenant: &str) -> String {
        format!("T#{tenant}")
    }

    pub fn account_sk(account_id: &str) -> String {
        format!("{ACCOUNT_PREFIX}{account_id}")
    }

    pub fn api_key_sk(key_id: &str) -> String {
        format!("{KEY_PREFIX}{key_id}")
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `SET a, b REMOVE c, d` (the REMOVE clause only when there is one).
fn update_expression<S: AsRef<str>, R: AsRef<str>>(sets: &[S], removes: &[R]) -> String {
    let join = |parts: &mut dyn Iterator<Item = &str>| parts.collect::<Vec<_>>().join(", ");
    let mut expression = format!("SET {}", join(&mut sets.iter().map(AsRef::as_ref)));
    if !removes.is_empty() {
        expression.push_str(&format!(
            " REMOVE {}",
            join(&mut removes.iter().map(AsRef::as_ref))
        ));
    }
    expression
}

/// True when a write was refused by its condition expression.
fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some("ConditionalCheckFailedException"))
}

/// True when a transaction was cancelled because a condition failed.
fn is_transaction_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(service)
        if service.err().code() == Some("TransactionCanceledException")
            && service.err().message().is_some_and(|m| m.contains("ConditionalCheckFailed")))
}
