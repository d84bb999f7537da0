//! External IDs reserved for a caller before its account exists
//! (Cloudcraft's `iamParameters`): one per API key, bound to the account
//! that key registers next, in the same transaction, so one reservation
//! guards exactly one account.

use super::{account_item, cancellation_reasons, item_key, n, s, Store};
use crate::account::Account;
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

/// Days a reservation waits for its account (DynamoDB's TTL removes it
/// some time after; reads ignore it from then on).
pub const RESERVATION_DAYS: u64 = 30;

fn reservation_sk(key_id: &str) -> String {
    format!("XIDRES#{key_id}")
}

impl Store {
    /// The external ID reserved for `key_id`, reserving a new one (from
    /// the CSPRNG) when it has none live. Concurrent callers get the same.
    pub async fn reserve_external_id(&self, tenant: &str, key_id: &str) -> Result<String> {
        for _ in 0..3 {
            if let Some(reserved) = self.reserved_external_id(tenant, key_id).await? {
                return Ok(reserved);
            }
            let now = Timestamp::now();
            let external_id = crate::crypto::new_external_id();
            let expires = now.plus(std::time::Duration::from_secs(RESERVATION_DAYS * 86_400));
            let mut item = item_key(tenant, reservation_sk(key_id));
            item.insert("type".into(), s("external_id_reservation"));
            item.insert("external_id".into(), s(&external_id));
            item.insert("created_at".into(), s(now.to_string()));
            item.insert(
                "expires_at".into(),
                n(expires.datetime().timestamp().max(0) as u64),
            );
            // A dead reservation (past its time, not yet removed) is replaced.
            let result = self
                .client
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(sk) OR expires_at < :now")
                .expression_attribute_values(":now", n(now.datetime().timestamp().max(0) as u64))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(external_id),
                Err(err) if super::is_condition_failure(&err) => continue,
                Err(err) => return Err(crate::aws::errors::from_sdk(err)),
            }
        }
        Err(Error::Conflict(
            "the reservation kept changing under this request; retry it".into(),
        ))
    }

    /// The live external ID reserved for `key_id`, if any.
    pub async fn reserved_external_id(&self, tenant: &str, key_id: &str) -> Result<Option<String>> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, reservation_sk(key_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::aws::errors::from_sdk)?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let now = Timestamp::now().datetime().timestamp();
        let live = match item.get("expires_at") {
            Some(AttributeValue::N(at)) => at.parse::<i64>().is_ok_and(|at| at >= now),
            _ => false,
        };
        Ok(match (live, item.get("external_id")) {
            (true, Some(AttributeValue::S(id))) => Some(id.clone()),
            _ => None,
        })
    }

    /// Create `account` (whose external ID is the one reserved for
    /// `key_id`) and end the reservation, in one transaction: refused if
    /// the account exists (`AlreadyExists`) or the reservation no longer
    /// holds that ID (`Conflict`: another account took it meanwhile).
    pub async fn create_account_reserved(
        &self,
        tenant: &str,
        account: &Account,
        key_id: &str,
    ) -> Result<()> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(account_item(tenant, account)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(crate::error::store_error)?;
        let end = Delete::builder()
            .table_name(self.table())
            .set_key(Some(item_key(tenant, reservation_sk(key_id))))
            .condition_expression("external_id = :id")
            .expression_attribute_values(":id", s(&account.external_id))
            .build()
            .map_err(crate::error::store_error)?;
        // The same request retried by the SDK after a lost answer is one
        // transaction (DynamoDB keeps the token ten minutes).
        let token = crate::crypto::hash_secret(&format!(
            "{tenant}/{}/{}",
            account.account_id, account.external_id
        ));
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().delete(end).build())
            .client_request_token(&token[..36])
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        match cancellation_reasons(&err).as_deref() {
            Some([(true, _), _]) => Err(Error::AlreadyExists {
                resource: "account",
                id: account.account_id.clone(),
            }),
            Some([_, (true, _)]) => Err(Error::Conflict(
                "the external ID reserved for this key was just bound to another account; ask for new IAM role parameters".into(),
            )),
            _ => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}
