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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};

    #[tokio::test]
    async fn a_batch_of_none_or_too_many_is_refused_before_any_delete() {
        let offline = OfflineStore::new();
        let id = AccountId::parse("account_ids", "000000000001".to_string()).unwrap();
        for count in [0, MAX_BATCH_DELETE + 1] {
            let request = BatchDeleteRequest {
                account_ids: vec![id.clone(); count],
            };
            let err = batch_delete(&offline.store, "tenant", request)
                .await
                .unwrap_err();
            assert_names(&err, "account_ids", count);
        }
        assert_eq!(offline.calls(), 0);
    }
}
