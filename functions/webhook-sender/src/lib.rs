//! The webhook sender: consumes the FIFO delivery queue and delivers each
//! job ([`service::usecases::deliveries`]) through the SSRF-checked client
//! of [`http`]. Messages of one FIFO group (an endpoint and an account)
//! go in order: once one of them waits for a retry, the later ones of the
//! batch wait with it. Groups run at the same time.

pub mod http;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use service::aws::deliveries::{DeliveryJob, DeliveryQueue, DeliverySettings};
use service::aws::store::Store;
use service::usecases::deliveries::{Deliveries, Handled, Transport};
use std::sync::Arc;
use std::time::Duration;

/// FIFO groups of one batch delivered at once.
const GROUPS_AT_ONCE: usize = 10;

/// What one message asks of the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Delete it.
    Done,
    /// Keep it invisible this long, then deliver it again.
    Retry(Duration),
    /// Leave it to the queue's visibility timeout (a transient failure).
    Failed,
}

pub struct Sender<T = http::HttpTransport> {
    pub store: Store,
    pub queue: DeliveryQueue,
    pub settings: Arc<DeliverySettings>,
    pub retention_days: u32,
    pub transport: T,
}

impl Sender<http::HttpTransport> {
    /// Built from the composition root; `None` without `WEBHOOK_QUEUE_URL`.
    pub fn new(services: &service::runtime::config::Services) -> std::io::Result<Option<Self>> {
        let Some(queue) = services.delivery_queue.clone() else {
            return Ok(None);
        };
        let settings = services.delivery_settings.clone();
        Ok(Some(Sender {
            store: services.store.clone(),
            transport: http::HttpTransport::new(settings.allow_loopback_http)?,
            queue,
            settings,
            retention_days: services.config.audit_retention_days,
        }))
    }
}

impl<T: Transport> Sender<T> {
    /// One message: parse its job and deliver it.
    pub async fn handle_message(&self, body: &str) -> Verdict {
        let job: DeliveryJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(err) => {
                // Not ours to retry: no attempt could ever read it.
                tracing::error!(error = %err, "a delivery message that is not a job; dropped");
                return Verdict::Done;
            }
        };
        let deliveries = Deliveries {
            store: &self.store,
            queue: &self.queue,
            settings: &self.settings,
            retention_days: self.retention_days,
            transport: &self.transport,
        };
        match deliveries.deliver(&job).await {
            Ok(Handled::Finished(_) | Handled::Duplicate) => Verdict::Done,
            Ok(Handled::RetryIn(wait)) => Verdict::Retry(wait),
            Err(err) => {
                tracing::warn!(error = %err.chain(), webhook = %job.webhook_id, "delivery not recorded; the queue will retry it");
                Verdict::Failed
            }
        }
    }

    /// One SQS batch, as Lambda's event source mapping hands it over.
    /// A message to retry gets its backoff as its visibility here, then
    /// is reported failed; the rest of its group waits with it.
    pub async fn handle_batch(
        &self,
        sqs: &aws_sdk_sqs::Client,
        event: SqsEvent,
    ) -> SqsBatchResponse {
        let verdicts = handle_by_group(
            event,
            |body| async move { self.handle_message(&body).await },
        )
        .await;
        let mut response = SqsBatchResponse::default();
        for (message, verdict) in verdicts {
            if let Verdict::Retry(wait) = verdict {
                if let Some(handle) = &message.receipt_handle {
                    let changed = sqs
                        .change_message_visibility()
                        .queue_url(self.queue.url())
                        .receipt_handle(handle)
                        .visibility_timeout(wait.as_secs().clamp(1, 43_200) as i32)
                        .send()
                        .await;
                    if let Err(err) = changed {
                        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "backoff not set; the queue's visibility timeout applies");
                    }
                }
            }
            if verdict != Verdict::Done {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

/// Run `handle` on each message, groups at once and each group in order;
/// after a message that is not done, the rest of its group get the same
/// verdict without being handled. Returns each message with its verdict.
pub async fn handle_by_group<F, Fut>(event: SqsEvent, handle: F) -> Vec<(SqsMessage, Verdict)>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Verdict>,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for message in event.records {
        let group = message
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default();
        match groups.iter_mut().find(|(id, _)| *id == group) {
            Some((_, messages)) => messages.push(message),
            None => groups.push((group, vec![message])),
        }
    }
    let handle = &handle;
    futures::stream::iter(groups)
        .map(|(_, messages)| async move {
            let mut out = Vec::with_capacity(messages.len());
            let mut held: Option<Verdict> = None;
            for message in messages {
                let verdict = match &held {
                    Some(verdict) => verdict.clone(),
                    None => handle(message.body.clone().unwrap_or_default()).await,
                };
                if verdict != Verdict::Done && held.is_none() {
                    held = Some(verdict.clone());
                }
                out.push((message, verdict));
            }
            out
        })
        .buffer_unordered(GROUPS_AT_ONCE)
        .flat_map(futures::stream::iter)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn event(messages: &[(&str, &str, &str)]) -> SqsEvent {
        serde_json::from_value(serde_json::json!({
            "Records": messages.iter().map(|(id, group, body)| serde_json::json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:deliveries.fifo",
                "awsRegion": "us-east-1"
            })).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    /// The partial-batch lifter on a JSON SQS event: a group stops at its
    /// first retry and the rest of it waits; other groups go on.
    #[tokio::test]
    async fn a_group_waits_behind_its_first_retry_and_others_go_on() {
        let handled = Mutex::new(Vec::new());
        let verdicts = handle_by_group(
            event(&[
                ("1", "a", "a1"),
                ("2", "b", "b1"),
                ("3", "a", "a2-fails"),
                ("4", "a", "a3"),
                ("5", "b", "b2"),
            ]),
            |body| {
                handled.lock().unwrap().push(body.clone());
                async move {
                    if body.ends_with("fails") {
                        Verdict::Retry(Duration::from_secs(30))
                    } else {
                        Verdict::Done
                    }
                }
            },
        )
        .await;
        let by_id = |id: &str| {
            verdicts
                .iter()
                .find(|(m, _)| m.message_id.as_deref() == Some(id))
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(by_id("1"), Verdict::Done);
        assert_eq!(by_id("3"), Verdict::Retry(Duration::from_secs(30)));
        assert_eq!(by_id("4"), Verdict::Retry(Duration::from_secs(30)), "held");
        assert_eq!(by_id("2"), Verdict::Done);
        assert_eq!(by_id("5"), Verdict::Done);
        let handled = handled.into_inner().unwrap();
        assert!(!handled.contains(&"a3".to_string()), "{handled:?}");
        let a: Vec<_> = handled.iter().filter(|b| b.starts_with('a')).collect();
        assert_eq!(a, ["a1", "a2-fails"], "in order");
    }
}
