//! The delivery queue as Lambda's event source mapping hands it to the
//! sender, for the dev server, the tests and the bench
//! ([`crate::sqs_pump`]). The sender sets each retry's backoff itself.

use service::usecases::deliveries::Transport;
use std::time::Duration;
use webhook_sender::Sender;

/// One receive → deliver → delete round; returns how many messages came.
pub async fn poll_once<T: Transport>(
    sender: &Sender<T>,
    sqs: &aws_sdk_sqs::Client,
    wait: Duration,
) -> Result<usize, String> {
    crate::sqs_pump::poll_once(sqs, sender.queue.url(), wait, None, |event| {
        sender.handle_batch(sqs, event)
    })
    .await
}
