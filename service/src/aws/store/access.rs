//! The access log (every AssumeRole in an account) and the verification
//! history, under the account's data prefix (`ACCT#<id>#ACCESS#...`,
//! `ACCT#<id>#VERIFY#...`): deleting the account purges them, and TTL
//! expires them.

use super::audit::EXPIRES_AT;
use super::{keys, n, s, Filter, Item, Store};
use crate::access::{AccessRecord, VerificationRecord};
use crate::listing::Page;
use crate::time::Timestamp;
use crate::Result;

/// Days a verification stays in the history.
pub const VERIFICATION_HISTORY_DAYS: u32 = 90;

fn expires(at: Timestamp, days: u32) -> aws_sdk_dynamodb::types::AttributeValue {
    n((at.datetime().timestamp() + i64::from(days) * 86_400).max(0) as u64)
}

impl Store {
    /// Keep sessions in the access log (`retention_days`) and
    /// verifications in the history; writing one twice writes the same item.
    pub async fn put_ledger(
        &self,
        ledger: &crate::access::Ledger,
        retention_days: u32,
    ) -> Result<()> {
        let mut requests = Vec::new();
        for (tenant, account_id, record) in &ledger.sessions {
            let mut item: Item = crate::aws::codec::to_item(record)?;
            item.insert("pk".into(), s(keys::tenant_pk(tenant)));
            item.insert(
                "sk".into(),
                s(keys::access_sk(
                    account_id,
                    &record.at.to_string(),
                    &record.operation_id,
                )),
            );
            item.insert(EXPIRES_AT.into(), expires(record.at, retention_days));
            requests.push(super::put_request(item)?);
        }
        for (tenant, account_id, record) in &ledger.verifications {
            let mut item: Item = crate::aws::codec::to_item(record)?;
            item.insert("pk".into(), s(keys::tenant_pk(tenant)));
            item.insert(
                "sk".into(),
                s(keys::verification_sk(account_id, &record.at.to_string())),
            );
            item.insert(
                EXPIRES_AT.into(),
                expires(record.at, VERIFICATION_HISTORY_DAYS),
            );
            requests.push(super::put_request(item)?);
        }
        self.batch_write(requests).await
    }

    /// An account's sessions, newest first.
    pub async fn list_access_log(
        &self,
        tenant: &str,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<AccessRecord>> {
        self.filtered_page(
            tenant,
            &keys::access_prefix(account_id),
            Filter::default(),
            limit,
            after,
            false,
        )
        .await
    }

    /// An account's verifications, newest first.
    pub async fn list_verifications(
        &self,
        tenant: &str,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<VerificationRecord>> {
        self.filtered_page(
            tenant,
            &keys::verifications_prefix(account_id),
            Filter::default(),
            limit,
            after,
            false,
        )
        .await
    }
}
