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
    pub fn from_config(config: &model::config::Config) -> Option<Self> {
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
