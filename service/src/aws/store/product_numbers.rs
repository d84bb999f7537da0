//! Numbers other products know accounts by (RISKEN's `aws_id`): taken
//! from a per-tenant sequence the first time that product meets the
//! account, kept on the account, and found again through a lookup item
//! (`RISKEN#AWS#<n>` → the account id), one key read, never a scan. A
//! number is never given twice: the sequence only grows, and a number
//! whose account was deleted finds nothing (the account registered again
//! has another).

use super::{item_key, n, s, Store};
use crate::account::Account;
use crate::products::RiskenIds;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

const SEQUENCE_SK: &str = "SEQ#risken-aws";

fn lookup_sk(aws_id: u32) -> String {
    format!("RISKEN#AWS#{aws_id}")
}

impl Store {
    /// RISKEN's `aws_id` of `account`, allocated now if it has none.
    pub async fn risken_aws_id(&self, tenant: &str, account: &Account) -> Result<u32> {
        if let Some(ids) = account.products.risken {
            return Ok(ids.aws_id);
        }
        let aws_id = self.next_in_sequence(tenant).await?;
        let lookup = Put::builder()
            .table_name(self.table())
            .set_item(Some({
                let mut item = item_key(tenant, lookup_sk(aws_id));
                item.insert("type".into(), s("risken_aws_id"));
                item.insert("account_id".into(), s(&account.account_id));
                item
            }))
            .condition_expression("attribute_not_exists(sk)")
            .build()
            .map_err(crate::error::store_error)?;
        // Only on this very account (the same creation), and only once.
        let keep = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                super::keys::account_sk(&account.account_id),
            )))
            .update_expression("SET #products.#risken = :ids")
            .condition_expression(
                "created_at = :created AND attribute_exists(#products) AND attribute_not_exists(#products.#risken)",
            )
            .expression_attribute_names("#products", "products")
            .expression_attribute_names("#risken", "risken")
            .expression_attribute_values(
                ":ids",
                AttributeValue::M([("aws_id".to_string(), n(u64::from(aws_id)))].into()),
            )
            .expression_attribute_values(":created", s(account.created_at.to_string()))
            .build()
            .map_err(crate::error::store_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(lookup).build())
            .transact_items(TransactWriteItem::builder().update(keep).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(aws_id),
            // Another request gave it one meanwhile (this number stays
            // unused), or the account is gone or registered again.
            Err(err) if super::cancellation_reasons(&err).is_some() => {
                let current = self.get_account(tenant, &account.account_id).await?;
                match current {
                    Some(current) if current.created_at == account.created_at => current
                        .products
                        .risken
                        .map(|ids| ids.aws_id)
                        .ok_or_else(|| {
                            Error::Conflict("the account changed meanwhile; retry".into())
                        }),
                    _ => Err(Error::NotFound {
                        resource: "account",
                        id: account.account_id.clone(),
                    }),
                }
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// The account RISKEN's `aws_id` names in this tenant, if any.
    pub async fn account_by_risken_id(&self, tenant: &str, aws_id: u32) -> Result<Option<Account>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, lookup_sk(aws_id))))
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let Some(AttributeValue::S(account_id)) =
            output.item.as_ref().and_then(|item| item.get("account_id"))
        else {
            return Ok(None);
        };
        let account = self.get_account(tenant, account_id).await?;
        Ok(account.filter(|account| account.products.risken == Some(RiskenIds { aws_id })))
    }

    /// The next number of the tenant's sequence (1, 2, ...).
    async fn next_in_sequence(&self, tenant: &str) -> Result<u32> {
        let output = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, SEQUENCE_SK.to_string())))
            .update_expression("ADD #last :one SET #type = :type")
            .expression_attribute_names("#last", "last")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":type", s("sequence"))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        match output.attributes.as_ref().and_then(|a| a.get("last")) {
            Some(AttributeValue::N(last)) => last
                .parse::<u32>()
                .map_err(|_| Error::store("the RISKEN aws_id sequence is past 2^32")),
            _ => Err(Error::store("the sequence update returned no number")),
        }
    }
}
