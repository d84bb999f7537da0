//! Making an API key within a tenant's bounds: at most
//! [`MAX_LIVE_API_KEYS`] usable at once, and the revoked and expired kept to
//! list only the newest [`KEPT_DEAD_API_KEYS`], so a listing reads a bounded
//! set however many keys a tenant rotates through.

use crate::api_key::ApiKey;
use crate::aws::store::Store;
use crate::time::Timestamp;
use crate::{Error, Result};

pub const MAX_LIVE_API_KEYS: usize = 100;
pub const KEPT_DEAD_API_KEYS: usize = 50;

fn dead(key: &ApiKey, now: Timestamp) -> bool {
    key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now)
}

/// The dead keys (revoked or expired) beyond the newest
/// [`KEPT_DEAD_API_KEYS`]: what a new key's creation deletes.
pub fn dead_beyond_kept(keys: &[ApiKey], now: Timestamp) -> Vec<&ApiKey> {
    let dead = keys.iter().filter(|key| dead(key, now)).collect();
    crate::time::beyond_newest(dead, KEPT_DEAD_API_KEYS, |key| {
        (key.created_at, &key.key_id)
    })
}

/// Store an issued key, refused while the tenant has its most live keys;
/// the dead beyond the kept go in the same round.
pub async fn create(store: &Store, key: &ApiKey) -> Result<()> {
    let tenant = &key.tenant;
    let now = key.created_at;
    let prefix = crate::aws::store::keys::KEY_PREFIX;
    let stale: Vec<String> = crate::usecases::quota::create_within(
        store,
        tenant,
        prefix,
        prefix,
        |keys: &[ApiKey]| {
            let live = keys.iter().filter(|key| !dead(key, now)).count();
            if live >= MAX_LIVE_API_KEYS {
                return Err(Error::Refused {
                    code: "too_many_api_keys",
                    message: format!(
                        "tenant {tenant} has {MAX_LIVE_API_KEYS} live API keys, the most it may; revoke one first"
                    ),
                });
            }
            Ok(dead_beyond_kept(keys, now)
                .into_iter()
                .map(|key| key.key_id.clone())
                .collect())
        },
        |read| store.create_api_key(key, read),
    )
    .await?;
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    store.delete_api_keys(tenant, &stale).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::Scope;

    #[test]
    fn only_the_dead_beyond_the_newest_fifty_go() {
        let now = Timestamp::now();
        let keys: Vec<ApiKey> = (0..80i64)
            .map(|i| {
                let at =
                    Timestamp::from_datetime(now.datetime() - chrono::Duration::seconds(100 - i));
                let mut key = ApiKey::issue("acme", "k", vec![Scope::Read], "admin", None, at)
                    .unwrap()
                    .record;
                match i % 4 {
                    0 => key.revoked_at = Some(now),
                    1 => key.expires_at = Some(at),
                    _ => {}
                }
                key
            })
            .collect();
        // 40 dead: all kept.
        assert!(dead_beyond_kept(&keys, now).is_empty());
        let mut all_dead = keys.clone();
        for key in &mut all_dead {
            key.revoked_at = Some(now);
        }
        let gone = dead_beyond_kept(&all_dead, now);
        assert_eq!(gone.len(), 30);
        let newest_gone = gone.iter().map(|k| k.created_at).max().unwrap();
        assert!(all_dead
            .iter()
            .filter(|k| !gone.iter().any(|g| g.key_id == k.key_id))
            .all(|k| k.created_at > newest_gone));
    }
}
