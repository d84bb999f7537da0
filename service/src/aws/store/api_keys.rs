//! Tenant and API key items.

use super::{is_condition_failure, keys, s, Store};
use crate::api_key::{AliasFormat, ApiKey};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem, Update};

const RESOURCE: &str = "api key";
const ALIAS_SK: &str = "KEYALIAS";

/// An alias's own partition: found by its digest alone (the alias names
/// no tenant), one item each.
fn alias_pk(digest: &str) -> String {
    format!("KEYALIAS#{digest}")
}

/// What revoking did.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRevocation {
    Revoked(ApiKey),
    AlreadyRevoked(ApiKey),
}

impl Store {
    /// Store a new key, creating its tenant if this is the tenant's first
    /// key: one transaction, so a tenant never exists half-made.
    /// At the quota version `read` (`Ok(false)`: the quota moved, count
    /// again; the quota use case counts).
    pub async fn create_api_key(&self, key: &ApiKey, read: u64) -> Result<bool> {
        let mut item: std::collections::HashMap<_, _> = crate::aws::codec::to_item(key)?;
        item.insert("pk".into(), s(keys::tenant_pk(&key.tenant)));
        item.insert("sk".into(), s(keys::api_key_sk(&key.key_id)));
        item.insert("type".into(), s("api_key"));
        super::stamp_item(&mut item);
        let put_key = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .build()
            .map_err(crate::error::store_error)?;
        let touch_tenant = Update::builder()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(&key.tenant)))
            .key("sk", s(keys::TENANT_SK))
            .update_expression(
                "SET created_at = if_not_exists(created_at, :now), tenant = :tenant, #type = :type",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":now", s(key.created_at.to_string()))
            .expression_attribute_values(":tenant", s(key.tenant.clone()))
            .expression_attribute_values(":type", s("tenant"))
            .build()
            .map_err(crate::error::store_error)?;
        let items = vec![
            TransactWriteItem::builder().update(touch_tenant).build(),
            TransactWriteItem::builder().put(put_key).build(),
        ];
        self.write_within_quota(
            &key.tenant,
            keys::KEY_PREFIX,
            read,
            items,
            RESOURCE,
            &key.key_id,
        )
        .await
    }

    /// Bind an alias (by its digest) to a live key, in one transaction:
    /// the alias item, found without a tenant, and the format noted on the
    /// key. `NotFound` if the key is missing, revoked or expired.
    pub async fn create_key_alias(
        &self,
        tenant: &str,
        key_id: &str,
        format: AliasFormat,
        digest: &str,
        now: Timestamp,
    ) -> Result<ApiKey> {
        let mut alias = std::collections::HashMap::new();
        alias.insert("pk".to_string(), s(alias_pk(digest)));
        alias.insert("sk".to_string(), s(ALIAS_SK));
        alias.insert("type".to_string(), s("api_key_alias"));
        alias.insert("tenant".to_string(), s(tenant));
        alias.insert("key_id".to_string(), s(key_id));
        alias.insert("format".to_string(), s(format.as_str()));
        alias.insert("created_at".to_string(), s(now.to_string()));
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(alias))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(crate::error::store_error)?;
        let note = Update::builder()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::api_key_sk(key_id)))
            .update_expression("SET aliases = list_append(if_not_exists(aliases, :none), :format)")
            .condition_expression(
                "attribute_exists(sk) AND attribute_not_exists(revoked_at) AND (attribute_not_exists(expires_at) OR expires_at > :now)",
            )
            .expression_attribute_values(":none", aws_sdk_dynamodb::types::AttributeValue::L(Vec::new()))
            .expression_attribute_values(
                ":format",
                aws_sdk_dynamodb::types::AttributeValue::L(vec![s(format.as_str())]),
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .build()
            .map_err(crate::error::store_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(note).build())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err)
                if super::cancellation_reasons(&err)
                    .is_some_and(|reasons| reasons.get(1).is_some_and(|(failed, _)| *failed)) =>
            {
                return Err(Error::NotFound {
                    resource: RESOURCE,
                    id: key_id.to_string(),
                })
            }
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        }
        self.get_api_key(tenant, key_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: RESOURCE,
                id: key_id.to_string(),
            })
    }

    /// The key an alias (by its digest) stands for: `(tenant, key id)`.
    pub async fn key_of_alias(&self, digest: &str) -> Result<Option<(String, String)>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(alias_pk(digest)))
            .key("sk", s(ALIAS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let text = |item: &super::Item, name: &str| match item.get(name) {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(value)) => Some(value.clone()),
            _ => None,
        };
        Ok(output
            .item
            .and_then(|item| Some((text(&item, "tenant")?, text(&item, "key_id")?))))
    }

    /// Strongly consistent, so a revocation takes effect on the next request.
    pub async fn get_api_key(&self, tenant: &str, key_id: &str) -> Result<Option<ApiKey>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::api_key_sk(key_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        output.item.map(crate::aws::codec::from_item).transpose()
    }

    /// Delete keys (nothing when `key_ids` is empty).
    pub async fn delete_api_keys(&self, tenant: &str, key_ids: &[&str]) -> Result<()> {
        self.delete_items(tenant, key_ids.iter().map(|id| keys::api_key_sk(id)))
            .await
    }

    pub async fn list_api_keys(&self, tenant: &str) -> Result<Vec<ApiKey>> {
        self.query_prefix(tenant, keys::KEY_PREFIX).await
    }

    /// Mark a key revoked. Revoking twice keeps the first revocation time.
    pub async fn revoke_api_key(
        &self,
        tenant: &str,
        key_id: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<KeyRevocation> {
        let request = self
            .client
            .update_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::api_key_sk(key_id)))
            .update_expression("SET revoked_at = :now, revoked_by = :by")
            .condition_expression("attribute_exists(sk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":by", s(actor))
            .return_values(ReturnValue::AllNew);
        let result = super::stamp_update(request).send().await;
        match result {
            Ok(output) => Ok(KeyRevocation::Revoked(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(err) if is_condition_failure(&err) => match self.get_api_key(tenant, key_id).await?
            {
                Some(key) => Ok(KeyRevocation::AlreadyRevoked(key)),
                None => Err(Error::NotFound {
                    resource: RESOURCE,
                    id: key_id.to_string(),
                }),
            },
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
