//! What the SQS event source mapping does in AWS, for the dev server and
//! the tests: receive a batch, hand it to the worker, delete what
//! succeeded, and leave the failures for redelivery.

use crate::Worker;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::time::Duration;

/// One receive → handle → delete round. Failed messages become visible
/// again after `retry_delay` (in AWS: after the queue's visibility
/// timeout). Returns how many messages were received.
pub async fn poll_once(
    worker: &Worker,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
    retry_delay: Duration,
) -> Result<usize, String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|err| aws_sdk_sqs::error::DisplayErrorContext(&err).to_string())?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.attributes = message
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_string(), value))
                .collect();
            record
        })
        .collect();
    let response = worker.handle_batch(event).await;
    for message in &messages {
        let Some(handle) = &message.receipt_handle else {
            continue;
        };
        let failed = response
            .batch_item_failures
            .iter()
            .any(|failure| Some(&failure.item_identifier) == message.message_id.as_ref());
        let result = if failed {
            sqs.change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .visibility_timeout(retry_delay.as_secs() as i32)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| aws_sdk_sqs::error::DisplayErrorContext(&err).to_string())
        } else {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| aws_sdk_sqs::error::DisplayErrorContext(&err).to_string())
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "acknowledging a scan job failed");
        }
    }
    Ok(messages.len())
}
