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

use super::{item_key, n, s, Item, Store};
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// How many times a creation counts again after losing to another.
pub const ATTEMPTS: u32 = 12;

/// What a write within a quota came to.
#[derive(Debug)]
pub enum QuotaWrite {
    Written,
    /// Another creation moved the version since it was read: count again.
    Moved,
    /// The condition of `items[index]` refused (e.g. the item exists),
    /// with the item it found when asked for.
    Refused(usize, Option<Item>),
}

fn quota_sk(scope: &str) -> String {
    format!("QUOTA#{scope}")
}

impl Store {
    /// The scope's version (0 before its first creation).
    pub async fn quota_version(&self, tenant: &str, scope: &str) -> Result<u64> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, quota_sk(scope))))
            .consistent_read(true)
            .send()
            .await
            .map_err(Error::from_sdk)?;
        Ok(output
            .item
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
        let mut items = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(super::keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = items.next().await {
            found.push(serde_dynamo::from_item(item.map_err(Error::from_sdk)?)?);
        }
        Ok(found)
    }

    /// `items` in one transaction with the scope's version moved on from
    /// `read`, only if it is still `read`.
    pub async fn write_within_quota(
        &self,
        tenant: &str,
        scope: &str,
        read: u64,
        items: Vec<TransactWriteItem>,
    ) -> Result<QuotaWrite> {
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
            Ok(_) => return Ok(QuotaWrite::Written),
            Err(err) => err,
        };
        let Some(reasons) = super::cancellation_reasons(&err) else {
            return Err(Error::from_sdk(err));
        };
        if let Some(index) = reasons.iter().skip(1).position(|(refused, _)| *refused) {
            return Ok(QuotaWrite::Refused(index, reasons[index + 1].1.clone()));
        }
        // The version moved, or another transaction held an item: count
        // again (after a moment, for the latter).
        if !reasons.first().is_some_and(|(refused, _)| *refused) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(QuotaWrite::Moved)
    }
}
