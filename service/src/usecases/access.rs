//! An account's verification history and access log, a page at a time.

use crate::access::{AccessRecord, VerificationRecord};
use crate::aws::store::{keys, Store};
use crate::listing::{decode_key_cursor, encode_key_cursor, Page};
use crate::{Error, Result};

/// One page and the cursor of the next.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The account's own items under `prefix`, newest first; 404 for an
/// unknown account (read beside the page: one round trip).
async fn page_of<T, F>(
    store: &Store,
    tenant: &str,
    account_id: &str,
    prefix: String,
    cursor: Option<&str>,
    list: F,
) -> Result<Listed<T>>
where
    F: AsyncFnOnce(Option<&str>) -> Result<Page<T>>,
{
    let after = decode_key_cursor(cursor, &prefix)?;
    let (account, page) = futures::join!(
        store.get_account(tenant, account_id),
        list(after.as_deref())
    );
    if account?.is_none() {
        return Err(Error::NotFound {
            resource: "account",
            id: account_id.to_string(),
        });
    }
    let page = page?;
    Ok(Listed {
        items: page.items,
        next_cursor: encode_key_cursor(page.next_cursor),
    })
}

/// `GET /v1/accounts/{id}/verifications`.
pub async fn verifications(
    store: &Store,
    tenant: &str,
    account_id: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Listed<VerificationRecord>> {
    page_of(
        store,
        tenant,
        account_id,
        keys::verifications_prefix(account_id),
        cursor,
        async |after| {
            store
                .list_verifications(tenant, account_id, limit, after)
                .await
        },
    )
    .await
}

/// `GET /v1/accounts/{id}/access-log`.
pub async fn access_log(
    store: &Store,
    tenant: &str,
    account_id: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Listed<AccessRecord>> {
    page_of(
        store,
        tenant,
        account_id,
        keys::access_prefix(account_id),
        cursor,
        async |after| {
            store
                .list_access_log(tenant, account_id, limit, after)
                .await
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::{assert_names, OfflineStore};

    /// A cursor from another account's listing (or one made up) is refused
    /// before the account or the page is read: a cursor never moves a
    /// listing into items it does not cover.
    #[tokio::test]
    async fn a_cursor_of_another_listing_is_refused_before_any_read() {
        let offline = OfflineStore::new();
        let others = encode_key_cursor(Some(keys::verifications_prefix("000000000002"))).unwrap();
        let access = encode_key_cursor(Some(keys::access_prefix("000000000001"))).unwrap();
        for cursor in [others.as_str(), access.as_str(), "!!", "e30"] {
            let err = verifications(&offline.store, "tenant", "000000000001", 10, Some(cursor))
                .await
                .err()
                .expect("refused");
            assert_names(&err, "cursor", cursor);
        }
        let err = access_log(&offline.store, "tenant", "000000000001", 10, Some(&others))
            .await
            .err()
            .expect("refused");
        assert_names(&err, "cursor", "another account's cursor");
        assert_eq!(offline.calls(), 0);
    }
}
