//! Webhook endpoint items (`WEBHOOK#<id>` in the tenant's partition).

use super::{is_condition_failure, keys, n, s, Item, Store};
use crate::webhooks::Webhook;
use crate::{Error, Result};

const RESOURCE: &str = "webhook";

impl Store {
    /// Write a webhook: a new one only if absent, else only at the
    /// version it had (`expected`).
    pub async fn put_webhook(
        &self,
        tenant: &str,
        webhook: &Webhook,
        expected: Option<u64>,
    ) -> Result<()> {
        let mut item: Item = crate::aws::codec::to_item(webhook)?;
        item.insert("pk".into(), s(keys::tenant_pk(tenant)));
        item.insert("sk".into(), s(keys::webhook_sk(&webhook.webhook_id)));
        item.insert("type".into(), s("webhook"));
        super::stamp_item(&mut item);
        let mut put = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(sk)"),
            Some(version) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(match expected {
                None => Error::AlreadyExists {
                    resource: RESOURCE,
                    id: webhook.webhook_id.clone(),
                },
                Some(version) => Error::VersionMismatch {
                    resource: RESOURCE,
                    id: webhook.webhook_id.clone(),
                    expected: version,
                },
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Store a new webhook at the quota version `read` (`Ok(false)`: the
    /// quota moved, count again).
    pub async fn create_webhook(&self, tenant: &str, webhook: &Webhook, read: u64) -> Result<bool> {
        let mut item: Item = crate::aws::codec::to_item(webhook)?;
        item.insert("pk".into(), s(keys::tenant_pk(tenant)));
        item.insert("sk".into(), s(keys::webhook_sk(&webhook.webhook_id)));
        item.insert("type".into(), s("webhook"));
        super::stamp_item(&mut item);
        let put = super::put_if_absent(self.table(), item)?;
        self.write_within_quota(
            tenant,
            keys::WEBHOOK_PREFIX,
            read,
            vec![put],
            RESOURCE,
            &webhook.webhook_id,
        )
        .await
    }

    pub async fn get_webhook(&self, tenant: &str, webhook_id: &str) -> Result<Webhook> {
        self.get_item(tenant, keys::webhook_sk(webhook_id))
            .await?
            .map(crate::aws::codec::from_item)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: RESOURCE,
                id: webhook_id.to_string(),
            })
    }

    /// Every webhook of a tenant (at most [`crate::webhooks::MAX_WEBHOOKS`]).
    pub async fn list_webhooks(&self, tenant: &str) -> Result<Vec<Webhook>> {
        self.query_prefix(tenant, keys::WEBHOOK_PREFIX).await
    }

    pub async fn delete_webhook(&self, tenant: &str, webhook_id: &str) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::webhook_sk(webhook_id)))
            .condition_expression("attribute_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: RESOURCE,
                id: webhook_id.to_string(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
