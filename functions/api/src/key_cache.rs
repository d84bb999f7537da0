//! API key records kept in the function instance for a short time
//! (`API_KEY_CACHE_SECONDS`), so that a client's second request within it
//! costs no read of its key: authentication is half of a GET's units.
//!
//! The record is kept, not the verdict: every request's secret is still
//! compared with the hash, and expiry is checked at each use. A revocation
//! made through this instance takes effect at once (it forgets the key);
//! one made through another instance or the operator CLI takes effect
//! here within the cache time. Bounded: at most [`MAX_KEYS`] records; when
//! full, the stale ones go, and if none is stale, all of them.

use service::api_key::ApiKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records one instance keeps at most.
pub const MAX_KEYS: usize = 10_000;

pub struct KeyCache {
    ttl: Duration,
    records: Mutex<HashMap<(String, String), (ApiKey, Instant)>>,
}

impl KeyCache {
    /// A cache keeping records for `ttl`; `None` for a zero time (no cache).
    pub fn new(ttl: Duration) -> Option<Self> {
        (!ttl.is_zero()).then(|| KeyCache {
            ttl,
            records: Mutex::new(HashMap::new()),
        })
    }

    /// The record of `tenant`'s `key_id`, if read within the cache time.
    pub fn get(&self, tenant: &str, key_id: &str) -> Option<ApiKey> {
        let records = self.records.lock().ok()?;
        let (record, read_at) = records.get(&(tenant.to_string(), key_id.to_string()))?;
        (read_at.elapsed() < self.ttl).then(|| record.clone())
    }

    /// Keep `record`, as read now.
    pub fn put(&self, record: &ApiKey) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        if records.len() >= MAX_KEYS {
            let ttl = self.ttl;
            records.retain(|_, (_, read_at)| read_at.elapsed() < ttl);
            if records.len() >= MAX_KEYS {
                records.clear();
            }
        }
        records.insert(
            (record.tenant.clone(), record.key_id.clone()),
            (record.clone(), Instant::now()),
        );
    }

    /// Forget a key (revoked through this instance).
    pub fn forget(&self, tenant: &str, key_id: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(&(tenant.to_string(), key_id.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service::api_key::Scope;
    use service::time::Timestamp;

    fn key(tenant: &str) -> ApiKey {
        ApiKey::issue(
            tenant,
            "k",
            vec![Scope::Read],
            "test",
            None,
            Timestamp::now(),
        )
        .unwrap()
        .record
    }

    #[test]
    fn a_record_is_kept_for_its_time_and_forgotten_on_revocation() {
        assert!(KeyCache::new(Duration::ZERO).is_none());
        let cache = KeyCache::new(Duration::from_secs(60)).unwrap();
        let record = key("acme");
        assert!(cache.get("acme", &record.key_id).is_none());
        cache.put(&record);
        assert_eq!(cache.get("acme", &record.key_id).unwrap(), record);
        assert!(cache.get("other", &record.key_id).is_none());
        cache.forget("acme", &record.key_id);
        assert!(cache.get("acme", &record.key_id).is_none());
        let stale = KeyCache::new(Duration::from_nanos(1)).unwrap();
        stale.put(&record);
        std::thread::sleep(Duration::from_millis(1));
        assert!(stale.get("acme", &record.key_id).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = KeyCache::new(Duration::from_secs(60)).unwrap();
        for _ in 0..MAX_KEYS + 5 {
            cache.put(&key("acme"));
        }
        assert!(cache.records.lock().unwrap().len() <= MAX_KEYS);
    }
}
