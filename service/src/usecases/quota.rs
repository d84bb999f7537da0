//! Creating a resource within a count limit, exactly under concurrency
//! (the store module `quota` says how it is serialised).

use crate::aws::store::{Store, QUOTA_ATTEMPTS};
use crate::{Error, Result};
use std::future::Future;

/// Count the live members of `scope` (the tenant's items under `prefix`),
/// let `check` refuse (or say what else to do, returned once written),
/// and `write` the new resource at the version read (`Ok(false)`: another
/// creation came first, so count again).
pub async fn create_within<T, R, Check, Write, Written>(
    store: &Store,
    tenant: &str,
    scope: &str,
    prefix: &str,
    check: Check,
    write: Write,
) -> Result<R>
where
    T: serde::de::DeserializeOwned,
    Check: Fn(&[T]) -> Result<R>,
    Write: Fn(u64) -> Written,
    Written: Future<Output = Result<bool>>,
{
    for _ in 0..QUOTA_ATTEMPTS {
        // The version first, then the members: a creation that commits in
        // between moves the version, so this one's write is refused.
        let version = store.quota_version(tenant, scope).await?;
        let members: Vec<T> = store.quota_members(tenant, prefix).await?;
        let checked = check(&members)?;
        if write(version).await? {
            return Ok(checked);
        }
    }
    Err(Error::Conflict(format!(
        "other creations of {scope} kept coming first; send the request again"
    )))
}

/// The refusal of one creation too many: `Ok` below `limit`.
pub fn below(count: usize, limit: usize, code: &'static str, message: String) -> Result<()> {
    if count >= limit {
        return Err(Error::Refused { code, message });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_refuses_the_one_too_many_with_its_code() {
        assert!(below(9, 10, "too_many", "m".into()).is_ok());
        for count in [10, 11] {
            match below(count, 10, "too_many", "at most 10".into()) {
                Err(Error::Refused { code, message }) => {
                    assert_eq!((code, message.as_str()), ("too_many", "at most 10"))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// A refusal by the check is the answer, and no write is tried; a
    /// store that cannot be read fails the creation before the check.
    #[tokio::test]
    async fn nothing_is_written_when_the_count_cannot_be_read() {
        let offline = crate::usecases::offline::OfflineStore::new();
        let writes = std::sync::atomic::AtomicUsize::new(0);
        let result: Result<()> = create_within(
            &offline.store,
            "tenant",
            "WEBHOOK#",
            "WEBHOOK#",
            |_: &[serde_json::Value]| Ok(()),
            |_| {
                writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Ok(true) }
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(writes.into_inner(), 0);
        assert_eq!(offline.calls(), 1, "the version read, then nothing");
    }
}
