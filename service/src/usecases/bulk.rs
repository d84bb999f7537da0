//! Delete many accounts in one request.

use crate::aws::store::{BatchDeleteOutcome, Store};
use crate::ids::AccountId;
use crate::{Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

/// Accounts one batch delete may name.
pub const MAX_BATCH_DELETE: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDeleteRequest {
    /// 1-1000 account ids.
    pub account_ids: Vec<AccountId>,
}

/// Delete each account named; one account's failure is its own result
/// and never blocks the others.
pub async fn batch_delete(
    store: &Store,
    tenant: &str,
    request: BatchDeleteRequest,
) -> Result<BatchDeleteOutcome> {
    let count = request.account_ids.len();
    if count == 0 || count > MAX_BATCH_DELETE {
        return Err(Error::invalid(
            "account_ids",
            format!("give 1-{MAX_BATCH_DELETE} account ids, got {count}"),
        ));
    }
    let account_ids: Vec<String> = request
        .account_ids
        .into_iter()
        .map(AccountId::into_string)
        .collect();
    store.batch_delete_accounts(tenant, &account_ids).await
}
