//! What Lambda's SQS event source mapping does, for the dev server, the
//! tests and the bench: receive a batch as the function's SQS event, then
//! delete what the function did not report failed. Both queue consumers
//! (the scan worker, the webhook sender) run through it.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::future::Future;
use std::time::Duration;

/// One receive → handle → acknowledge round; returns how many messages
/// came. A message reported failed becomes visible again after
/// `retry_delay` when given (in AWS: the queue's visibility timeout), or
/// keeps whatever visibility the handler gave it.
pub async fn poll_once<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
    retry_delay: Option<Duration>,
    handle: F,
) -> Result<usize, String>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|err| DisplayErrorContext(&err).to_string())?;
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
    let response = handle(event).await;
    for message in &messages {
        let Some(handle) = &message.receipt_handle else {
            continue;
        };
        let failed = response
            .batch_item_failures
            .iter()
            .any(|failure| Some(&failure.item_identifier) == message.message_id.as_ref());
        let result = match (failed, retry_delay) {
            (false, _) => sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map(drop)
                .map_err(|err| DisplayErrorContext(&err).to_string()),
            (true, Some(delay)) => sqs
                .change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .visibility_timeout(delay.as_secs() as i32)
                .send()
                .await
                .map(drop)
                .map_err(|err| DisplayErrorContext(&err).to_string()),
            (true, None) => Ok(()),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, queue = queue_url, "acknowledging a message failed");
        }
    }
    Ok(messages.len())
}
