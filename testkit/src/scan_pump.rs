//! The scan queue as Lambda's event source mapping hands it to the worker,
//! for the dev server and the tests ([`crate::sqs_pump`]).

use service::usecases::scan_run::ScanRunner;
use std::time::Duration;

/// One receive → handle → delete round. Failed messages become visible
/// again after `retry_delay` (in AWS: after the queue's visibility
/// timeout). Returns how many messages were received.
pub async fn poll_once(
    worker: &ScanRunner,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
    retry_delay: Duration,
) -> Result<usize, String> {
    crate::sqs_pump::poll_once(sqs, queue_url, wait, Some(retry_delay), |event| {
        scan_worker::handle_batch(worker, event, service::usecases::scan_run::Deadline::NONE)
    })
    .await
}
