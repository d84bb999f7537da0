//! Count limits that hold exactly under concurrency (`QUOTA#<scope>` in
//! the tenant's partition: a version, nothing else).
//!
//! A creation reads its scope's version (a consistent GetItem), then counts
//! the live resources (a consistent Query), then writes the resource in
//! one transaction with the version moved on, conditional on the version
//! it read. Two creations that counted the same resources cannot both
//! write: the second's transaction is refused and it counts again, now
//! seeing the first. Deleting or revoking takes no part (it only lowers the
//! count), and expiry needs none (a count of the live is made at each
//! creation). Checking a count and then writing let 36 concurrent webhook
//! creations leave 37 webhooks under a limit of 25.

use super::{item_key, n, s, Store};
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// How many times a creation counts again after losing to another.
pub const ATTEMPTS: u32 = 12;

fn quota_sk(scope: &str) -> String {
    format!("QUOTA#{scope}")
}

impl Store {
    /// The scope's version (0 before its first creation), read consistently.
    pub async fn quota_version(&self, tenant: &str, scope: &str) -> Result<u64> {
        Ok(self
            .get_item(tenant, quota_sk(scope))
            .await?
            .and_then(|item| match item.get("version") {
                Some(aws_sdk_dynamodb::types::AttributeValue::N(number)) => number.parse().ok(),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Every item of the tenant under `prefix`, read consistently: what a
    /// creation counts after reading its quota's version.
    pub async fn quota_members<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> Result<Vec<T>> {
        self.query_prefix_with(tenant, prefix, true).await
    }

    /// `items` in one transaction with the scope's version moved on from
    /// `read`, only if it is still `read`: `Ok(true)` written, `Ok(false)`
    /// when another creation moved the version (count again); an item's
    /// own condition refusing (its id exists) is `AlreadyExists`.
    pub async fn write_within_quota(
        &self,
        tenant: &str,
        scope: &str,
        read: u64,
        items: Vec<TransactWriteItem>,
        resource: &'static str,
        id: &str,
    ) -> Result<bool> {
        let advance = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, quota_sk(scope))))
            .update_expression("SET version = :next, #type = :type")
            .condition_expression(
                "version = :read OR (attribute_not_exists(version) AND :read = :zero)",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":next", n(read + 1))
            .expression_attribute_values(":read", n(read))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":type", s("quota"))
            .build()
            .map_err(crate::error::store_error)?;
        let mut all = Vec::with_capacity(items.len() + 1);
        all.push(TransactWriteItem::builder().update(advance).build());
        all.extend(items);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(all))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        let Some(reasons) = super::cancellation_reasons(&err) else {
            return Err(crate::aws::errors::from_sdk(err));
        };
        if reasons.iter().skip(1).any(|(refused, _)| *refused) {
            return Err(Error::AlreadyExists {
                resource,
                id: id.to_string(),
            });
        }
        // The version moved, or another transaction held an item: count
        // again (after a moment, for the latter).
        if !reasons.first().is_some_and(|(refused, _)| *refused) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(false)
    }
}
