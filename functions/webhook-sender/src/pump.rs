//! What the SQS event source mapping does in AWS, for the dev server, the
//! tests and the bench: receive a batch, hand it to the sender, delete
//! what is done. The sender itself sets each retry's backoff.

use crate::Sender;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use model::usecases::deliveries::Transport;
use std::time::Duration;

/// One receive → deliver → delete round; returns how many messages came.
pub async fn poll_once<T: Transport>(
    sender: &Sender<T>,
    sqs: &aws_sdk_sqs::Client,
    wait: Duration,
) -> Result<usize, String> {
    let queue_url = sender.queue.url();
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
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
    let response = sender.handle_batch(sqs, event).await;
    for message in &messages {
        let failed = response
            .batch_item_failures
            .iter()
            .any(|failure| Some(&failure.item_identifier) == message.message_id.as_ref());
        let Some(handle) = message.receipt_handle.as_ref().filter(|_| !failed) else {
            continue;
        };
        if let Err(err) = sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "deleting a delivered message failed");
        }
    }
    Ok(messages.len())
}
