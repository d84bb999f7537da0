//! Deliver one event to one endpoint, and redeliver on request.
//!
//! An attempt: claim the delivery (a duplicate message stops here), read
//! the endpoint, sign the stored payload with its live secrets, send it
//! through the caller's [`Transport`] (which checks where the URL
//! resolves), and record the outcome. A retryable failure waits with
//! exponential backoff; the last one dead-letters the job. An endpoint
//! failing for longer than the disable span is disabled.

use crate::aws::deliveries::{
    Attempt, AttemptOutcome, Delivery, DeliveryJob, DeliveryQueue, DeliverySettings,
    DeliveryStatus, SendResult,
};
use crate::aws::store::Store;
use crate::events::Event;
use crate::time::Timestamp;
use crate::webhooks::{self, Webhook};
use crate::{Error, Result};
use std::future::Future;
use std::time::Duration;

/// How long a claim holds a delivery: longer than an attempt can take.
pub const CLAIM_LEASE: Duration = Duration::from_secs(20);

/// One request to a receiver. The sender's HTTP client implements it;
/// it must refuse a forbidden address, follow no redirect and give up
/// after [`crate::aws::deliveries::SEND_TIMEOUT`].
pub trait Transport: Sync {
    fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> impl Future<Output = SendResult> + Send;
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Delivered, or finished for good (FAILED); the message is done.
    Finished(DeliveryStatus),
    /// Another copy of the message has or had it; drop this one.
    Duplicate,
    /// Try again after this wait (the message's new visibility).
    RetryIn(Duration),
}

/// The parts a delivery needs.
pub struct Deliveries<'a, T> {
    pub store: &'a Store,
    pub queue: &'a DeliveryQueue,
    pub settings: &'a DeliverySettings,
    pub retention_days: u32,
    pub transport: &'a T,
}

impl<T: Transport> Deliveries<'_, T> {
    pub async fn deliver(&self, job: &DeliveryJob) -> Result<Handled> {
        let now = Timestamp::now();
        let Some(claimed) = self
            .store
            .claim_delivery(job, now, CLAIM_LEASE, self.retention_days)
            .await?
        else {
            return Ok(Handled::Duplicate);
        };
        let webhook = match self.store.get_webhook(&job.tenant, &job.webhook_id).await {
            Ok(webhook) => Some(webhook),
            Err(Error::NotFound { .. }) => None,
            Err(err) => return Err(err),
        };
        let result = match &webhook {
            None => unavailable("the endpoint was deleted"),
            Some(hook) if !hook.enabled => unavailable("the endpoint is disabled"),
            Some(hook) => self.send(hook, &claimed).await,
        };
        self.finish(job, &claimed, webhook.as_ref(), result).await
    }

    async fn send(&self, webhook: &Webhook, claimed: &Delivery) -> SendResult {
        if let Err(err) =
            webhooks::check_url("url", &webhook.url, self.settings.allow_loopback_http)
        {
            return SendResult {
                outcome: AttemptOutcome::ForbiddenAddress,
                response_status: None,
                response_excerpt: None,
                error: Some(err.to_string()),
                latency: Duration::ZERO,
            };
        }
        let now = Timestamp::now();
        let timestamp = now.datetime().timestamp();
        let body = claimed.payload.as_bytes().to_vec();
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", "account-onboarding-webhooks/1".to_string()),
            ("webhook-id", claimed.event_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                webhooks::signature_header(&webhook.signing_secrets(now), timestamp, &body),
            ),
        ];
        self.transport.post(&webhook.url, headers, body).await
    }

    async fn finish(
        &self,
        job: &DeliveryJob,
        claimed: &Delivery,
        webhook: Option<&Webhook>,
        result: SendResult,
    ) -> Result<Handled> {
        let now = Timestamp::now();
        let attempt = Attempt {
            number: claimed.attempts,
            at: now,
            outcome: result.outcome,
            response_status: result.response_status,
            latency_ms: result.latency.as_millis() as u64,
            response_excerpt: result.response_excerpt,
            error: result.error,
        };
        let (status, handled, next) = if result.outcome == AttemptOutcome::Delivered {
            let status = DeliveryStatus::Delivered;
            (status, Handled::Finished(status), None)
        } else if result.outcome.is_retryable() && claimed.attempts < self.settings.max_attempts {
            let wait = self.settings.backoff(claimed.attempts, jitter());
            let at = Timestamp::from_datetime(
                now.datetime() + chrono::Duration::from_std(wait).unwrap_or_default(),
            );
            (DeliveryStatus::Retrying, Handled::RetryIn(wait), Some(at))
        } else {
            let status = DeliveryStatus::Failed;
            (status, Handled::Finished(status), None)
        };
        if status == DeliveryStatus::Failed && result.outcome.is_retryable() {
            // Out of attempts: the job goes to the dead-letter queue
            // before the log says so, so a failure here retries it.
            self.queue.dead_letter(job).await?;
        }
        if !self
            .store
            .finish_delivery_attempt(&job.tenant, claimed, attempt, status, next)
            .await?
        {
            tracing::warn!(delivery = %claimed.delivery_id, "a delivery's claim ran out before its attempt was recorded");
            return Ok(Handled::Duplicate);
        }
        if let Some(webhook) = webhook.filter(|hook| hook.enabled) {
            if status == DeliveryStatus::Delivered {
                if webhook.failing_since.is_some() {
                    self.store
                        .webhook_recovered(&job.tenant, &webhook.webhook_id)
                        .await?;
                }
            } else {
                self.endpoint_failed(&job.tenant, webhook, now).await?;
            }
        }
        Ok(handled)
    }

    /// Note the failure; past the disable span, disable the endpoint.
    async fn endpoint_failed(&self, tenant: &str, webhook: &Webhook, now: Timestamp) -> Result<()> {
        let Some(since) = self
            .store
            .webhook_failing(tenant, &webhook.webhook_id, now)
            .await?
        else {
            return Ok(());
        };
        let failing_for = (now.datetime() - since.datetime())
            .to_std()
            .unwrap_or_default();
        if failing_for >= self.settings.disable_after {
            let reason = format!(
                "every delivery since {since} failed; fix the endpoint, then enable it and redeliver what failed"
            );
            if self
                .store
                .disable_webhook(tenant, &webhook.webhook_id, &reason, now)
                .await?
            {
                tracing::warn!(webhook = %webhook.webhook_id, "webhook endpoint disabled after failing since {since}");
            }
        }
        Ok(())
    }
}

fn unavailable(why: &str) -> SendResult {
    SendResult {
        outcome: AttemptOutcome::EndpointUnavailable,
        response_status: None,
        response_excerpt: None,
        error: Some(why.to_string()),
        latency: Duration::ZERO,
    }
}

/// A number in [0, 1) from the OS's randomness, for backoff jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// Send a finished delivery again, as a new generation.
pub async fn redeliver(
    store: &Store,
    queue: &DeliveryQueue,
    tenant: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Delivery> {
    let delivery = store
        .reset_delivery(tenant, webhook_id, delivery_id)
        .await?;
    let event: Event =
        serde_json::from_str(&delivery.payload).map_err(crate::error::store_error)?;
    let job = DeliveryJob {
        tenant: tenant.to_string(),
        webhook_id: webhook_id.to_string(),
        generation: delivery.generation,
        event,
    };
    queue.send_one(&job).await?;
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_unit_interval_and_varies() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)), "{draws:?}");
        assert!(
            draws.iter().any(|x| *x != draws[0]),
            "64 draws from the OS are not all alike"
        );
    }
}
