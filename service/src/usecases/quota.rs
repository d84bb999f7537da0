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
