//! Per-key request rate limits: one tenant's burst cannot take what the
//! others need.
//!
//! The bucket is approximate and per instance (governor's GCRA in memory):
//! it costs no DynamoDB call and about a microsecond per request, but each
//! Lambda instance counts on its own, so a key's ceiling across the fleet
//! is the per-instance rate times the instances serving it. The stage
//! throttle and each function's reserved concurrency in `template.yaml`
//! bound that total. An exact shared counter (an atomic UpdateItem per
//! request on a per-key, per-second item) would cost one write unit and
//! one round trip (~5 ms) on every request, and a hot partition per busy
//! key; we keep it for when a contract needs exact quotas.

use crate::error::{ApiError, RateLimitFields};
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

/// Requests per second and burst allowed to one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl KeyRate {
    /// From `API_KEY_RATE_PER_SECOND` and `API_KEY_RATE_BURST` (default
    /// twice the rate); `None` when the rate is 0 (no limit).
    pub fn from_config(config: &service::runtime::config::Config) -> Option<Self> {
        let per_second = NonZeroU32::new(config.api_key_rate_per_second)?;
        let burst = config
            .api_key_rate_burst
            .and_then(NonZeroU32::new)
            .unwrap_or(per_second.saturating_mul(NonZeroU32::new(2).expect("2 > 0")));
        Some(KeyRate { per_second, burst })
    }
}

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The buckets of every key this instance has seen.
pub struct KeyLimiter {
    rate: KeyRate,
    limiter: Limiter,
    clock: DefaultClock,
}

impl KeyLimiter {
    pub fn new(rate: KeyRate) -> Self {
        let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
        KeyLimiter {
            rate,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
        }
    }

    /// Take one request from the key's bucket, or a 429 that says when to
    /// come back (`Retry-After`, and the IETF draft `RateLimit` fields).
    pub fn check(&self, tenant: &str, key_id: &str) -> Result<(), ApiError> {
        let key = format!("{tenant}/{key_id}");
        match self.limiter.check_key(&key) {
            Ok(_) => {
                // Forget idle keys now and then, so memory follows the keys in use.
                if self.limiter.len() > 10_000 {
                    self.limiter.retain_recent();
                }
                Ok(())
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "this API key is limited to {} requests per second (bursts of {}); retry after {seconds} s",
                        self.rate.per_second, self.rate.burst
                    ),
                );
                error.retry_after = Some(seconds);
                error.rate_limit = Some(Box::new(RateLimitFields {
                    policy: format!("\"per-key\";q={};w=1", self.rate.per_second),
                    state: format!("\"per-key\";r=0;t={seconds}"),
                }));
                Err(error)
            }
        }
    }
}

/// Failed authentications, limited per presented key id and per source
/// address: each costs a DynamoDB read, so a client guessing secrets (or
/// replaying a revoked key) is held to a few a minute before any read.
/// Per instance, like [`KeyLimiter`].
pub struct AuthFailures {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
    /// Who may not try again before when.
    blocked: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// Failed authentications allowed per minute to one key id or source.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 10;

impl Default for AuthFailures {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(AUTH_FAILURES_PER_MINUTE).expect("> 0"));
        AuthFailures {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            blocked: Default::default(),
        }
    }
}

impl AuthFailures {
    /// A 429 when any of `who` failed too often lately.
    pub fn check(&self, who: &[String]) -> Result<(), ApiError> {
        let now = std::time::Instant::now();
        let blocked = self
            .blocked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = who.iter().filter_map(|key| blocked.get(key)).max();
        match until {
            Some(until) if *until > now => {
                let seconds = (*until - now).as_secs_f64().ceil().max(1.0) as u32;
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many failed authentications from this key or address (at most {AUTH_FAILURES_PER_MINUTE} a minute); retry after {seconds} s with a valid key"
                    ),
                );
                error.retry_after = Some(seconds);
                Err(error)
            }
            _ => Ok(()),
        }
    }

    /// Count a failed authentication of each of `who`.
    pub fn record(&self, who: &[String]) {
        let mut blocked = self
            .blocked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = std::time::Instant::now();
        if blocked.len() > 10_000 {
            blocked.retain(|_, until| *until > now);
            self.limiter.retain_recent();
        }
        for key in who {
            if let Err(not_until) = self.limiter.check_key(key) {
                let wait = not_until.wait_time_from(self.clock.now());
                blocked.insert(key.clone(), now + wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_allowance_block_that_key_and_not_others() {
        let failures = AuthFailures::default();
        let who = vec!["key:acme/K1".to_string(), "src:192.0.2.1".to_string()];
        for _ in 0..AUTH_FAILURES_PER_MINUTE {
            assert!(failures.check(&who).is_ok());
            failures.record(&who);
        }
        failures.record(&who);
        let refused = failures.check(&who).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after.is_some());
        assert!(failures.check(&["key:acme/K2".to_string()]).is_ok());
        assert!(failures.check(&["src:192.0.2.1".to_string()]).is_err());
    }
}
