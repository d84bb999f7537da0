//! A token bucket shared by concurrent workers: keeps STS calls under a
//! request-rate ceiling, so a large sweep never trips the vendor account's
//! STS throttling.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TokenBucket {
    rate_per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `rate_per_second` tokens a second, at most `burst` saved up. Starts
    /// with one token, so a fresh bucket cannot exceed the rate either.
    pub fn new(rate_per_second: f64, burst: f64) -> Self {
        assert!(rate_per_second > 0.0 && burst >= 1.0);
        TokenBucket {
            rate_per_second,
            burst,
            state: Mutex::new((1.0, Instant::now())),
        }
    }

    /// Wait until a token is free, then take it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().expect("token bucket lock");
                let now = Instant::now();
                let (tokens, last) = *state;
                let refilled = (tokens
                    + now.duration_since(last).as_secs_f64() * self.rate_per_second)
                    .min(self.burst);
                if refilled >= 1.0 {
                    *state = (refilled - 1.0, now);
                    return;
                }
                *state = (refilled, now);
                Duration::from_secs_f64((1.0 - refilled) / self.rate_per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_takers_stay_under_the_rate() {
        let bucket = Arc::new(TokenBucket::new(200.0, 1.0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let bucket = bucket.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        bucket.acquire().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // 80 tokens at 200/s with one in hand: at least 395 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(390),
            "{:?}",
            started.elapsed()
        );
    }
}
