//! Webhook deliveries: one per event and endpoint, carried by a FIFO SQS
//! queue and recorded in the endpoint's delivery log.
//!
//! - **Order**: messages of one endpoint and one account share a FIFO
//!   message group, so that account's events reach the endpoint in the
//!   order they happened (a failing one holds the later ones back).
//! - **No duplicates**: the queue drops a message whose deduplication id
//!   (endpoint, event id, generation) it saw in the last five minutes, and
//!   the sender claims the delivery item with a conditional write before
//!   it sends, so a redelivered stream batch or message sends nothing new.
//! - **Nothing lost**: a failed attempt is retried with exponential
//!   backoff (the message's visibility); the last one moves the message to
//!   the dead-letter queue and marks the delivery FAILED, which a
//!   redeliver (a new generation) sends again.

use crate::events::{Event, EventType};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use utoipa::ToSchema;

/// Response bytes kept from a receiver's answer.
pub const MAX_RESPONSE_EXCERPT: usize = 1024;
/// Attempts kept in a delivery's log (the latest).
pub const MAX_ATTEMPTS_KEPT: usize = 10;
/// How long one request to a receiver may take, all included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
pub use domain::actors::WEBHOOK_SENDER;

/// What the delivery queue carries: which event goes to which endpoint,
/// in which generation (a redeliver starts a new one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub tenant: String,
    pub webhook_id: String,
    pub generation: u32,
    pub event: Event,
}

impl DeliveryJob {
    pub fn delivery_id(&self) -> String {
        delivery_id(&self.event)
    }

    /// The FIFO group: one endpoint and one account (or the tenant, for
    /// events of no account), so that account's events stay in order.
    pub fn group_id(&self) -> String {
        let scope = self.event.account_id.as_deref().unwrap_or("tenant");
        format!("{}#{}#{scope}", self.tenant, self.webhook_id)
    }

    /// The FIFO deduplication id: the same event to the same endpoint in
    /// the same generation is one message.
    pub fn deduplication_id(&self) -> String {
        let digest = Sha256::digest(format!(
            "{}\u{1}{}\u{1}{}\u{1}{}",
            self.tenant, self.webhook_id, self.event.id, self.generation
        ));
        hex::encode(digest)
    }
}

/// A delivery's id: `dlv_`, the event's time (UTC, `YYYYMMDDhhmmss`) and
/// the event id's 32 hex digits, so the log sorts by time.
pub fn delivery_id(event: &Event) -> String {
    let time = event.time.datetime().format("%Y%m%d%H%M%S");
    let hex = event.id.strip_prefix("evt_").unwrap_or(&event.id);
    format!("dlv_{time}_{hex}")
}

pub use crate::ids::is_delivery_id;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Queued, not yet attempted (or queued again by a redeliver).
    Pending,
    /// An attempt is under way.
    Sending,
    /// An attempt failed; the next is due at `next_attempt_at`.
    Retrying,
    Delivered,
    /// Every attempt failed (the message is in the dead-letter queue), or
    /// the endpoint was disabled or deleted. A redeliver sends it again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How one attempt ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered,
    /// Another status (a 3xx included: redirects are not followed).
    HttpError,
    /// No complete answer within 5 seconds.
    Timeout,
    /// No connection (refused, reset, TLS failed, name unknown).
    ConnectionFailed,
    /// The URL's host is, or resolves to, an address no delivery may
    /// reach; no request was made.
    ForbiddenAddress,
    /// The endpoint is disabled or gone; no request was made.
    EndpointUnavailable,
    /// The delivery queue refused the job (`error` says why); no request
    /// was made. A redeliver queues it again.
    NotQueued,
}

impl AttemptOutcome {
    /// Worth another attempt later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            AttemptOutcome::HttpError | AttemptOutcome::Timeout | AttemptOutcome::ConnectionFailed
        )
    }
}

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// 1 for the first attempt of a generation.
    pub number: u32,
    pub at: Timestamp,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    /// The first 1 KB of the answer's body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
    /// Why it failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the sender learned from one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    pub outcome: AttemptOutcome,
    pub response_status: Option<u16>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub latency: Duration,
}

/// One delivery of one event to one endpoint, as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub status: DeliveryStatus,
    /// Starts at 0; each redeliver adds one and starts the attempts again.
    pub generation: u32,
    /// Attempts in this generation.
    pub attempts: u32,
    /// The latest attempts, oldest first.
    #[serde(default)]
    pub attempt_log: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The request body, kept to redeliver it exactly.
    #[serde(skip_serializing)]
    #[schema(ignore)]
    #[serde(default)]
    pub payload: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
}

/// How the sender retries and when it gives up on an endpoint.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Attempts per generation; the last failure dead-letters the message.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each next one.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// An endpoint failing for this long without one success is disabled.
    pub disable_after: Duration,
    /// Plain http to loopback is allowed (the dev server only).
    pub allow_loopback_http: bool,
}

/// The longest wait between two attempts of a delivery.
pub const MAX_RETRY: Duration = Duration::from_secs(6 * 3600);

impl DeliverySettings {
    /// The wait before attempt `failed + 1`, after `failed` failures:
    /// doubling from `first_retry`, at most `max_retry`, with up to a
    /// tenth added at random so failing endpoints do not retry in step.
    pub fn backoff(&self, failed: u32, jitter: f64) -> Duration {
        let doubled = self
            .first_retry
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20));
        let wait = doubled.min(self.max_retry);
        wait + wait.mul_f64(jitter.clamp(0.0, 1.0) / 10.0)
    }
}

/// The FIFO delivery queue and its dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    dead_letter_url: Option<String>,
}

impl DeliveryQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: String, dead_letter_url: Option<String>) -> Self {
        DeliveryQueue {
            sqs,
            url,
            dead_letter_url,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// Queue jobs, packed into SendMessageBatch requests by count and by
    /// size. Entries the queue refuses for a passing reason are sent again,
    /// and an error means some were not queued (the caller retries them
    /// all: the queue drops what it already has). A job refused for what
    /// it is (too large, invalid: the sender's fault) is returned, not an
    /// error: it fails the same on every retry and must not hold back the
    /// jobs, and tenants, behind it.
    pub async fn send(&self, jobs: &[DeliveryJob]) -> Result<Vec<Unqueued>> {
        self.send_to(&self.url, jobs).await
    }

    /// Queue one job (a redelivery); its refusal is an error, for the
    /// caller to answer.
    pub async fn send_one(&self, job: &DeliveryJob) -> Result<()> {
        self.send_one_to(&self.url, "delivery queue", job).await
    }

    /// Move a job to the dead-letter queue (its last attempt failed).
    pub async fn dead_letter(&self, job: &DeliveryJob) -> Result<()> {
        match &self.dead_letter_url {
            Some(url) => self.send_one_to(url, "dead-letter queue", job).await,
            None => Ok(()),
        }
    }

    async fn send_one_to(&self, url: &str, queue: &str, job: &DeliveryJob) -> Result<()> {
        match self.send_to(url, std::slice::from_ref(job)).await?.pop() {
            None => Ok(()),
            Some(refused) => Err(Error::store(format!(
                "the {queue} refused delivery {}: {}",
                job.delivery_id(),
                refused.reason
            ))),
        }
    }

    async fn send_to(&self, url: &str, jobs: &[DeliveryJob]) -> Result<Vec<Unqueued>> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut unqueued = Vec::new();
        let mut bodies = Vec::with_capacity(jobs.len());
        for job in jobs {
            // A job that cannot be written is an error, never an empty message.
            bodies.push(serde_json::to_string(job).map_err(crate::error::store_error)?);
        }
        let sizes: Vec<usize> = bodies.iter().map(String::len).collect();
        for batch in crate::packing::pack(&sizes, crate::packing::SQS_BATCH) {
            let mut pending = Vec::new();
            for index in batch {
                let job = &jobs[index];
                if sizes[index] > crate::packing::SQS_MESSAGE_BYTES {
                    unqueued.push(Unqueued {
                        job: job.clone(),
                        reason: format!(
                            "the job is {} bytes, more than an SQS message carries ({})",
                            sizes[index],
                            crate::packing::SQS_MESSAGE_BYTES
                        ),
                    });
                    continue;
                }
                pending.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(&bodies[index])
                        .message_group_id(job.group_id())
                        .message_deduplication_id(job.deduplication_id())
                        .build()
                        .map_err(|err| Error::unavailable_because("SQS entry", err))?,
                );
            }
            for attempt in 0..4u32 {
                if pending.is_empty() {
                    break;
                }
                let output = self
                    .sqs
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|err| {
                        Error::unavailable_because("SQS SendMessageBatch failed", err)
                    })?;
                let mut retry = Vec::new();
                for failed in output.failed {
                    if failed.sender_fault {
                        let index: usize = failed.id.parse().unwrap_or_default();
                        unqueued.push(Unqueued {
                            job: jobs[index].clone(),
                            reason: format!(
                                "SQS refused the job: {} {}",
                                failed.code,
                                failed.message.unwrap_or_default()
                            ),
                        });
                    } else {
                        retry.push(failed.id);
                    }
                }
                pending.retain(|entry| retry.contains(&entry.id));
                if !pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
            if !pending.is_empty() {
                return Err(Error::unavailable(format!(
                    "SQS refused {} delivery messages",
                    pending.len()
                )));
            }
        }
        Ok(unqueued)
    }
}

/// A job the delivery queue refused for what it is: it is recorded as a
/// FAILED delivery (which a redeliver sends again) rather than retried.
#[derive(Debug, Clone, PartialEq)]
pub struct Unqueued {
    pub job: DeliveryJob,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(account_id: Option<&str>) -> Event {
        Event {
            id: "evt_0123456789abcdef0123456789abcdef".into(),
            event_type: EventType::AccountCreated,
            tenant: "acme".into(),
            account_id: account_id.map(str::to_string),
            time: Timestamp::parse("2026-11-23T16:01:02Z").unwrap(),
            actor: "key".into(),
            data: serde_json::json!({}),
            request_id: None,
            sequence: String::new(),
        }
    }

    #[test]
    fn ids_groups_and_deduplication() {
        let job = DeliveryJob {
            tenant: "acme".into(),
            webhook_id: "W".into(),
            generation: 0,
            event: event(Some("000000000001")),
        };
        assert_eq!(
            job.delivery_id(),
            "dlv_20261123160102_0123456789abcdef0123456789abcdef"
        );
        assert!(is_delivery_id(&job.delivery_id()));
        for bad in [
            "dlv_2026112316010_0123456789abcdef0123456789abcdef",
            "dlv_20261123160102_0123456789ABCDEF0123456789abcdef",
            "evt_0123456789abcdef0123456789abcdef",
            "dlv_20261123160102-0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_delivery_id(bad), "{bad}");
        }
        assert_eq!(job.group_id(), "acme#W#000000000001");
        let tenant_wide = DeliveryJob {
            event: event(None),
            ..job.clone()
        };
        assert_eq!(tenant_wide.group_id(), "acme#W#tenant");
        let redelivered = DeliveryJob {
            generation: 1,
            ..job.clone()
        };
        assert_eq!(job.deduplication_id(), job.clone().deduplication_id());
        assert_ne!(job.deduplication_id(), redelivered.deduplication_id());
        assert_eq!(job.deduplication_id().len(), 64);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_a_tenth_of_jitter() {
        let settings = DeliverySettings {
            max_attempts: 8,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            disable_after: Duration::from_secs(3 * 86_400),
            allow_loopback_http: false,
        };
        let waits: Vec<u64> = (1..=9)
            .map(|failed| settings.backoff(failed, 0.0).as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(settings.backoff(1, 1.0), Duration::from_secs(33));
        assert_eq!(settings.backoff(40, 0.5).as_secs(), 3780);
    }

    #[test]
    fn only_failures_of_the_receiver_are_retried() {
        assert!(AttemptOutcome::Timeout.is_retryable());
        assert!(AttemptOutcome::HttpError.is_retryable());
        assert!(AttemptOutcome::ConnectionFailed.is_retryable());
        assert!(!AttemptOutcome::ForbiddenAddress.is_retryable());
        assert!(!AttemptOutcome::EndpointUnavailable.is_retryable());
        assert!(!AttemptOutcome::Delivered.is_retryable());
    }
}
