//! The delivery queue as Lambda's event source mapping hands it to the
//! sender, for the dev server, the tests and the bench
//! ([`model::sqs_pump`]). The sender sets each retry's backoff itself.

use crate::Sender;
use model::usecases::deliveries::Transport;
use std::time::Duration;

/// One receive → deliver → delete round; returns how many messages came.
pub async fn poll_once<T: Transport>(
    sender: &Sender<T>,
    sqs: &aws_sdk_sqs::Client,
    wait: Duration,
) -> Result<usize, String> {
    model::sqs_pump::poll_once(sqs, sender.queue.url(), wait, None, |event| {
        sender.handle_batch(sqs, event)
    })
    .await
}
